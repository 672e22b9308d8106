// Load limits: requests per second per client IP, and requests in flight across the process.
import type { RequestHandler } from 'express';
import { DomainError } from '../domain/errors';
import { SlidingWindowLimiter } from '../domain/sliding-window';

/** At most `perSecond` requests in any sliding second per client IP; over it → 429 rate_limited with Retry-After. */
export function rateLimitPerIp(perSecond: number): RequestHandler {
  const limiter = new SlidingWindowLimiter(perSecond);
  let lastSweep = Date.now();
  return (req, res, next) => {
    const now = Date.now();
    if (now - lastSweep > 10_000) {
      limiter.sweep(now);
      lastSweep = now;
    }
    if (limiter.allow(req.ip ?? req.socket.remoteAddress ?? 'unknown', now)) return next();
    res.set('Retry-After', '1');
    next(new DomainError('rate_limited', `more than ${perSecond} requests per second from this address`));
  };
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
