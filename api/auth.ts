// API keys with scopes: `Authorization: Bearer <key>` or `X-API-Key`, compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiKey, Scope } from '../config';
import { DomainError } from '../domain/errors';

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

function presentedKey(authorization: string | undefined, apiKey: string | string[] | undefined): string | undefined {
  const bearer = authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  if (bearer) return bearer;
  return typeof apiKey === 'string' && apiKey.trim() ? apiKey.trim() : undefined;
}

/** Returns `requireScope(scope)`: 401 without a known key, 403 when the key lacks the scope ('admin' holds every scope). */
export function createAuth(keys: readonly ApiKey[]) {
  const known = keys.map((k) => ({ digest: digest(k.key), scopes: k.scopes }));

  function scopesOf(key: string): Scope[] | undefined {
    const presented = digest(key);
    let found: Scope[] | undefined;
    // Compare against every key, without stopping early, so timing says nothing about which key nearly matched.
    for (const k of known) if (timingSafeEqual(k.digest, presented) && !found) found = k.scopes;
    return found;
  }

  return function requireScope(scope: Scope): RequestHandler {
    return (req, _res, next) => {
      const key = presentedKey(req.get('authorization'), req.headers['x-api-key']);
      if (!key) return next(new DomainError('unauthorized', 'an API key is required (Authorization: Bearer <key> or X-API-Key)'));
      const scopes = scopesOf(key);
      if (!scopes) return next(new DomainError('unauthorized', 'the API key is not valid'));
      if (!scopes.includes(scope) && !scopes.includes('admin')) {
        return next(new DomainError('forbidden', `the API key lacks the '${scope}' scope`));
      }
      next();
    };
  };
}

export type RequireScope = ReturnType<typeof createAuth>;
