// M2Pool's interface (seed 002), pure: the canonical string and HMAC `sign` of its requests, their timestamp window, and the
// body and Stripe-style signature of the webhooks that carry its topup / withdraw / pay results. No I/O here.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isLosslessNumber, LosslessNumber, parse, stringify } from 'lossless-json';
import { DomainError } from './errors';

/** M2Pool's three request kinds; each has a route `/m2pool/v2/{kind}` and a notification channel of the same name. */
export const M2POOL_REQUESTS = ['topup', 'withdraw', 'pay'] as const;
export type M2PoolRequestKind = (typeof M2POOL_REQUESTS)[number];

/** A request's top-level values as sent: strings decoded, numbers as their literal (never through a double). */
export type M2PoolFields = Record<string, string | LosslessNumber>;

const SIGN = /^[0-9a-fA-F]{64}$/;

/**
 * Parses a request body keeping every number's literal: `50.0` stays `50.0`, for the canonical string and the amount.
 * Only a flat object of strings and numbers is an M2Pool request; anything else is invalid_json / invalid_request.
 */
export function parseM2PoolBody(text: string): M2PoolFields {
  let body: unknown;
  try {
    body = parse(text);
  } catch (err) {
    throw new DomainError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new DomainError('invalid_request', 'body must be a JSON object');
  for (const [key, value] of Object.entries(body)) {
    if (typeof value !== 'string' && !isLosslessNumber(value)) throw new DomainError('invalid_request', `${key} must be a string or a number`);
  }
  return body as M2PoolFields;
}

/** A value's text in the canonical string: a string's decoded characters, a number's literal exactly as written. */
export const fieldText = (value: string | LosslessNumber): string => (typeof value === 'string' ? value : value.value);

/**
 * The string a request's `sign` is the HMAC of: every top-level field but `sign`, sorted by key (byte order), each as
 * `key=value` with the value as written (see fieldText), joined by `&`. No value may contain `&`, which would let one
 * field's text pass for two.
 *
 *   {"chain":"ETH","symbol":"USDT","address":"0x4e5b…972f","timestamp":1758610297,"sign":"…"}
 *   → address=0x4e5b…972f&chain=ETH&symbol=USDT&timestamp=1758610297
 */
export function canonicalString(fields: M2PoolFields): string {
  return Object.keys(fields)
    .filter((key) => key !== 'sign')
    .sort()
    .map((key) => {
      const text = fieldText(fields[key]);
      if (text.includes('&')) throw new DomainError('invalid_request', `${key} must not contain '&'`);
      return `${key}=${text}`;
    })
    .join('&');
}

/** The `sign` of a canonical string: HMAC-SHA256 with the shared key (its UTF-8 bytes), as 64 lower-case hex digits. */
export const m2poolSign = (key: string, canonical: string): string => createHmac('sha256', key).update(canonical, 'utf8').digest('hex');

/** The request's `sign`, in lower case; invalid_signature when it is missing or not 64 hex digits. */
export function signOf(fields: M2PoolFields): string {
  const sign = fields.sign;
  if (typeof sign !== 'string' || !SIGN.test(sign)) throw new DomainError('invalid_signature', 'sign must be the HMAC-SHA256 of the canonical string, as 64 hex digits');
  return sign.toLowerCase();
}

/** Whether `sign` is the HMAC of `canonical` under any of the shared keys (several while one is being rotated). */
export function isValidSign(sign: string, canonical: string, keys: readonly string[]): boolean {
  const presented = Buffer.from(sign.toLowerCase(), 'hex');
  let valid = false;
  // Every key is tried, without stopping early, so timing says nothing about which one nearly matched.
  for (const key of keys) if (timingSafeEqual(Buffer.from(m2poolSign(key, canonical), 'hex'), presented)) valid = true;
  return valid;
}

/** The request's `timestamp` (Unix seconds, a JSON integer); stale_request when it is more than `windowS` from `nowMs`. */
export function checkTimestamp(fields: M2PoolFields, nowMs: number, windowS: number): number {
  const value = fields.timestamp;
  if (!isLosslessNumber(value) || !/^\d{1,15}$/.test(value.value)) throw new DomainError('invalid_request', 'timestamp must be Unix time in seconds, a JSON integer');
  const timestamp = Number(value.value);
  const skewS = Math.abs(nowMs / 1000 - timestamp);
  if (skewS > windowS) {
    throw new DomainError('stale_request', `timestamp ${timestamp} is ${Math.round(skewS)} s from the server's time; requests are taken within ±${windowS} s (check the caller's clock; the unit is seconds)`);
  }
  return timestamp;
}

// ---- webhooks ----

/** The payload fields M2Pool's consumers read as JSON numbers: written from their decimal strings, digit for digit. */
const NUMBER_FIELDS = new Set(['amount', 'status']);
const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * The webhook body: the payload in M2Pool's response shape, its keys in the payload's order, `amount` (a decimal string in
 * the payload) written as an exact JSON number (`100.5`, never through a double). A bad amount is a caller's bug: invalid_amount.
 */
export function webhookBody(payload: Record<string, string | number | null>): string {
  const wire = Object.fromEntries(
    Object.entries(payload).map(([key, value]) => {
      if (!NUMBER_FIELDS.has(key) || typeof value !== 'string') return [key, value];
      if (!DECIMAL.test(value)) throw new DomainError('invalid_amount', `${key} must be a decimal string such as "100.5", not ${JSON.stringify(value)}`);
      return [key, new LosslessNumber(value)];
    }),
  );
  return stringify(wire)!;
}

/** `Durapay-Signature`: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook secret>` (Stripe's scheme). */
export function webhookSignature(secret: string, body: string, unixSeconds: number): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`, 'utf8').digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
}

/**
 * What a receiver does with a delivery: recompute v1 over the raw body as received, compare in constant time, and refuse a
 * `t` more than `toleranceS` from its clock (a replayed delivery). Any of several `v1` may match.
 */
export function verifyWebhookSignature(header: string | undefined, body: string, secret: string, nowMs: number, toleranceS = 300): boolean {
  if (!header) return false;
  const parts = header.split(',').map((part) => part.trim().split('='));
  const t = parts.find(([k]) => k === 't')?.[1];
  if (!t || !/^\d{1,12}$/.test(t) || Math.abs(nowMs / 1000 - Number(t)) > toleranceS) return false;
  const expected = Buffer.from(webhookSignature(secret, body, Number(t)).split('v1=')[1], 'hex');
  return parts.some(([k, v]) => k === 'v1' && v !== undefined && /^[0-9a-f]{64}$/.test(v) && timingSafeEqual(Buffer.from(v, 'hex'), expected));
}
