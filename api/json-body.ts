// JSON request bodies, parsed losslessly: a number a double cannot hold exactly never reaches a handler rounded.
import express, { type RequestHandler } from 'express';
import { compareNumber, parse } from 'lossless-json';
import { DomainError } from '../domain/errors';

/** A JSON number literal whose value a double cannot hold; schemas reject it (amount_not_exact for amounts). */
export class InexactNumber {
  constructor(readonly literal: string) {}
}

/** Exact means the literal's decimal value equals that of String(Number(literal)): 100.50 is, 12345678901234567.89 is not. */
export function isExactDouble(literal: string): boolean {
  const value = Number(literal);
  return Number.isFinite(value) && compareNumber(literal, String(value)) === 0;
}

const parseNumber = (literal: string): number | InexactNumber =>
  isExactDouble(literal) ? Number(literal) : new InexactNumber(literal);

export function parseJson(text: string): unknown {
  try {
    return parse(text, null, parseNumber);
  } catch (err) {
    throw new DomainError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * Reads any body as JSON whatever its Content-Type (One-Pass callers do not always send one);
 * an empty body is `undefined`, which the route's schema then rejects.
 */
export function jsonBody(limit = '100kb'): RequestHandler[] {
  return [
    express.text({ type: () => true, limit }),
    (req, _res, next) => {
      const text = typeof req.body === 'string' ? req.body : '';
      req.body = text.trim() === '' ? undefined : parseJson(text);
      next();
    },
  ];
}
