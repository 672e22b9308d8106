// M2Pool's request sign (canonical string, HMAC, timestamp window) and the webhook body and signature, as pure functions.
import { createHmac } from 'node:crypto';
import { DomainError } from '../../domain/errors';
import {
  canonicalString,
  checkTimestamp,
  isValidSign,
  m2poolSign,
  parseM2PoolBody,
  signOf,
  verifyWebhookSignature,
  webhookBody,
  webhookSignature,
} from '../../domain/m2pool';

const KEY = 'a-shared-key-of-m2pool';
const NOW_MS = 1_758_610_297_000;

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : `not a DomainError: ${String(err)}`;
  }
  return undefined;
};

describe('the canonical string of a request', () => {
  test('is every field but sign, sorted by key, k=v joined by &, numbers exactly as written', () => {
    // given a withdraw body whose amount is written 50.0
    const fields = parseM2PoolBody(
      '{"queue_id":"withdraw_123","from_address":"0x1111","to_address":"0x2222","amount":50.0,"chain":"ETH","symbol":"USDT","timestamp":1758610297,"sign":"ab"}',
    );
    // then
    expect(canonicalString(fields)).toBe('amount=50.0&chain=ETH&from_address=0x1111&queue_id=withdraw_123&symbol=USDT&timestamp=1758610297&to_address=0x2222');
  });

  test('does not depend on key order or whitespace, and decodes JSON escapes in strings', () => {
    const a = parseM2PoolBody('{"chain":"ETH","symbol":"USDT","address":"0xab","timestamp":1758610297}');
    const b = parseM2PoolBody('{ "timestamp" : 1758610297, "address":"0x\\u0061b", "symbol":"USDT", "chain":"ETH" }');
    expect(canonicalString(b)).toBe(canonicalString(a));
    expect(canonicalString(a)).toBe('address=0xab&chain=ETH&symbol=USDT&timestamp=1758610297');
  });

  test('keeps a number a double cannot hold, digit for digit', () => {
    const fields = parseM2PoolBody('{"amount":12345678901234567.891234,"timestamp":1}');
    expect(canonicalString(fields)).toBe('amount=12345678901234567.891234&timestamp=1');
  });

  test('refuses a value with & (one field passing for two), nested values and non-objects', () => {
    expect(codeOf(() => canonicalString(parseM2PoolBody('{"queue_id":"q1&amount=1","timestamp":1}')))).toBe('invalid_request');
    expect(codeOf(() => parseM2PoolBody('{"a":{"b":1}}'))).toBe('invalid_request');
    expect(codeOf(() => parseM2PoolBody('{"a":true}'))).toBe('invalid_request');
    expect(codeOf(() => parseM2PoolBody('[1]'))).toBe('invalid_request');
    expect(codeOf(() => parseM2PoolBody('{"a":'))).toBe('invalid_json');
    expect(codeOf(() => parseM2PoolBody('{"a":1,"a":2}'))).toBe('invalid_json');
  });
});

describe('the sign', () => {
  const canonical = 'address=0xab&chain=ETH&symbol=USDT&timestamp=1758610297';

  test('is the hex HMAC-SHA256 of the canonical string with the shared key', () => {
    const expected = createHmac('sha256', KEY).update(canonical).digest('hex');
    expect(m2poolSign(KEY, canonical)).toBe(expected);
    expect(isValidSign(expected, canonical, [KEY])).toBe(true);
    expect(isValidSign(expected.toUpperCase(), canonical, [KEY])).toBe(true);
  });

  test('is valid under any of the configured keys (rotation), and under no other', () => {
    const sign = m2poolSign('the-next-shared-key', canonical);
    expect(isValidSign(sign, canonical, [KEY, 'the-next-shared-key'])).toBe(true);
    expect(isValidSign(sign, canonical, [KEY])).toBe(false);
    expect(isValidSign(sign, `${canonical}0`, [KEY, 'the-next-shared-key'])).toBe(false);
  });

  test('must be 64 hex digits', () => {
    expect(codeOf(() => signOf(parseM2PoolBody('{"timestamp":1}')))).toBe('invalid_signature');
    expect(codeOf(() => signOf(parseM2PoolBody('{"sign":"signature_hash"}')))).toBe('invalid_signature');
    expect(signOf(parseM2PoolBody(`{"sign":"${'AB'.repeat(32)}"}`))).toBe('ab'.repeat(32));
  });
});

describe('the timestamp window', () => {
  const at = (timestamp: string) => parseM2PoolBody(`{"timestamp":${timestamp}}`);

  test('takes Unix seconds within ±window of the server clock', () => {
    expect(checkTimestamp(at('1758610297'), NOW_MS, 300)).toBe(1758610297);
    expect(checkTimestamp(at('1758609997'), NOW_MS, 300)).toBe(1758609997);
    expect(checkTimestamp(at('1758610597'), NOW_MS, 300)).toBe(1758610597);
  });

  test('refuses one outside it as stale, and one that is not integer seconds as invalid', () => {
    expect(codeOf(() => checkTimestamp(at('1758609996'), NOW_MS, 300))).toBe('stale_request');
    expect(codeOf(() => checkTimestamp(at('1758610598'), NOW_MS, 300))).toBe('stale_request');
    expect(codeOf(() => checkTimestamp(at('1758610297000'), NOW_MS, 300))).toBe('stale_request');
    expect(codeOf(() => checkTimestamp(at('1758610297.5'), NOW_MS, 300))).toBe('invalid_request');
    expect(codeOf(() => checkTimestamp(at('"1758610297"'), NOW_MS, 300))).toBe('invalid_request');
  });
});

describe('the webhook', () => {
  test("writes the payload in M2Pool's shape, the amount as an exact JSON number", () => {
    const body = webhookBody({ address: '0xab', status: 2, chain: 'ETH', symbol: 'USDT', amount: '100.5', tx_hash: '0xabc' });
    expect(body).toBe('{"address":"0xab","status":2,"chain":"ETH","symbol":"USDT","amount":100.5,"tx_hash":"0xabc"}');
    expect(webhookBody({ amount: '123456789012345678.123456789012345678' })).toBe('{"amount":123456789012345678.123456789012345678}');
    expect(codeOf(() => webhookBody({ amount: '1e5' }))).toBe('invalid_amount');
  });

  test('is signed Stripe style, and the signature verifies only for that body, secret and a recent t', () => {
    const body = '{"queue_id":"w1","status":1}';
    const t = NOW_MS / 1000;
    const header = webhookSignature('whsec_test_secret', body, t);
    expect(header).toBe(`t=${t},v1=${createHmac('sha256', 'whsec_test_secret').update(`${t}.${body}`).digest('hex')}`);
    expect(verifyWebhookSignature(header, body, 'whsec_test_secret', NOW_MS)).toBe(true);
    expect(verifyWebhookSignature(header, `${body} `, 'whsec_test_secret', NOW_MS)).toBe(false);
    expect(verifyWebhookSignature(header, body, 'whsec_other_secret', NOW_MS)).toBe(false);
    expect(verifyWebhookSignature(header, body, 'whsec_test_secret', NOW_MS + 301_000)).toBe(false);
    expect(verifyWebhookSignature(undefined, body, 'whsec_test_secret', NOW_MS)).toBe(false);
  });
});
