// Load limits: requests per second per client IP, and requests in flight across the process.
import type { RequestHandler } from 'express';
import { rateLimit } from 'express-rate-limit';
import { DomainError } from '../domain/errors';

/** Fixed one-second windows per client IP; over the limit → 429 rate_limited with Retry-After. */
export function rateLimitPerIp(perSecond: number): RequestHandler {
  return rateLimit({
    windowMs: 1000,
    limit: perSecond,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (_req, _res, next) => next(new DomainError('rate_limited', `more than ${perSecond} requests per second from this address`)),
  });
}

/** At most `max` requests in flight; the next one is turned away at once with 503 overloaded rather than queued. */
export function concurrencyLimit(max: number): RequestHandler {
  let inFlight = 0;
  return (_req, res, next) => {
    if (inFlight >= max) {
      res.set('Retry-After', '1');
      return next(new DomainError('overloaded', `the server is handling ${max} requests at once; retry shortly`));
    }
    inFlight++;
    res.once('close', () => inFlight--);
    next();
  };
}
