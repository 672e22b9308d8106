// Alipay open API's wire format as the gateway speaks it: the string a signature covers, RSA2, the signed JSON answer,
// its result codes, and the Asia/Shanghai wall-clock times every field carries.
import { createSign, createVerify, type KeyObject } from 'node:crypto';

/** An answer's body under `<method>_response`: code 10000 with the method's fields, or a failure with sub_code / sub_msg. */
export type AlipayReply = { code: string; msg: string; sub_code?: string; sub_msg?: string } & Record<string, unknown>;

export const success = (fields: Record<string, unknown>): AlipayReply => ({ code: '10000', msg: 'Success', ...fields });
export const missingArgument = (subCode: string, subMsg: string): AlipayReply => ({ code: '40001', msg: 'Missing Required Arguments', sub_code: subCode, sub_msg: subMsg });
export const invalidArgument = (subCode: string, subMsg: string): AlipayReply => ({ code: '40002', msg: 'Invalid Arguments', sub_code: subCode, sub_msg: subMsg });
export const businessFailed = (subCode: string, subMsg: string, fields: Record<string, unknown> = {}): AlipayReply => ({
  code: '40004',
  msg: 'Business Failed',
  sub_code: subCode,
  sub_msg: subMsg,
  ...fields,
});

/**
 * What a signature covers: every parameter but the omitted ones (and those with empty values), sorted by name, as
 * `name=value` joined with `&`, values raw (not URL-encoded). Requests omit `sign`; notifications omit `sign` and `sign_type`.
 */
export function signContent(params: Record<string, string>, omit: readonly string[]): string {
  return Object.keys(params)
    .filter((name) => !omit.includes(name) && params[name] !== '')
    .sort()
    .map((name) => `${name}=${params[name]}`)
    .join('&');
}

export function rsa2Sign(content: string, privateKey: KeyObject): string {
  return createSign('RSA-SHA256').update(content, 'utf8').sign(privateKey, 'base64');
}

export function rsa2Verify(content: string, signature: string, publicKey: KeyObject): boolean {
  try {
    return createVerify('RSA-SHA256').update(content, 'utf8').verify(publicKey, signature, 'base64');
  } catch {
    return false; // not base64, wrong length…: a bad signature like any other
  }
}

/**
 * The gateway's answer: `{"<method>_response":{…},"sign":"…"}`, the signature covering the exact text of the inner object.
 * Clients cut that text out of the raw answer to verify it, so `sign` must come last and the inner text is signed as sent.
 */
export function signedAnswer(responseKey: string, reply: AlipayReply, platformKey: KeyObject): string {
  const inner = JSON.stringify(reply);
  return `{${JSON.stringify(responseKey)}:${inner},"sign":${JSON.stringify(rsa2Sign(inner, platformKey))}}`;
}

/** `alipay.trade.query` answers under `alipay_trade_query_response`; a request without a method under `error_response`. */
export function responseKeyOf(method: string | undefined): string {
  return method ? `${method.replaceAll('.', '_')}_response` : 'error_response';
}

// Alipay's times are Beijing wall-clock time without a zone; China has kept UTC+8 without daylight saving since 1991.
const SHANGHAI_OFFSET_MS = 8 * 3_600_000;
const WALL_CLOCK = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

/** "yyyy-MM-dd HH:mm:ss" in Asia/Shanghai. */
export function shanghaiTime(at: Date): string {
  return new Date(at.getTime() + SHANGHAI_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

/** Reads "yyyy-MM-dd HH:mm:ss" (Asia/Shanghai); null when it is not such a time. */
export function parseShanghaiTime(text: string): Date | null {
  if (!WALL_CLOCK.test(text)) return null;
  const at = new Date(`${text.replace(' ', 'T')}+08:00`);
  return Number.isNaN(at.getTime()) || shanghaiTime(at) !== text ? null : at;
}
