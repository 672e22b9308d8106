// WeChat Pay API v3 cryptography as the platform does it: checking the merchant's Authorization header, signing
// responses and callbacks with the platform key, and sealing callback resources with the merchant's APIv3 key.
import { createCipheriv, sign, verify } from 'node:crypto';
import { randomAlphanumeric, type WechatCredentials } from './wechat-credentials';

/** A request whose timestamp is further than this from the platform's clock is refused. */
const TIMESTAMP_WINDOW_S = 5 * 60;
const SCHEME = 'WECHATPAY2-SHA256-RSA2048';

export interface SignedRequest {
  method: string;
  /** The request target as sent: path and query string. */
  url: string;
  authorization: string | undefined;
  body: string;
}

/** The fields of `WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`. */
function parseAuthorization(header: string): Record<string, string> | undefined {
  if (!header.startsWith(`${SCHEME} `)) return undefined;
  const fields: Record<string, string> = {};
  for (const part of header.slice(SCHEME.length + 1).split(',')) {
    const match = /^\s*([a-z_]+)="?([^"]*)"?\s*$/.exec(part);
    if (!match) return undefined;
    fields[match[1]!] = match[2]!;
  }
  return fields;
}

/** Why the platform refuses a request's Authorization (answered 401 SIGN_ERROR), or undefined when it is authentic. */
export function authorizationRefusal(request: SignedRequest, credentials: WechatCredentials): string | undefined {
  const fields = request.authorization && parseAuthorization(request.authorization);
  if (!fields) return `Authorization must be ${SCHEME} mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`;
  const { mchid, nonce_str: nonce, signature, timestamp, serial_no: serialNo } = fields;
  if (!mchid || !nonce || !signature || !timestamp || !serialNo) return 'Authorization lacks mchid, nonce_str, signature, timestamp or serial_no';
  if (mchid !== credentials.mchId) return 'mchid unknown';
  if (serialNo !== credentials.merchantSerialNo) return 'serial_no is not the serial of a valid merchant certificate';
  if (!/^\d{10}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TIMESTAMP_WINDOW_S) return 'timestamp expired or invalid';
  const message = `${request.method}\n${request.url}\n${timestamp}\n${nonce}\n${request.body}\n`;
  if (!verify('sha256', Buffer.from(message), credentials.merchantPublicKey, Buffer.from(signature, 'base64'))) return 'signature does not verify';
  return undefined;
}

/** The Wechatpay-* headers of a response or callback body; the timestamp and serial may be set to forge stale or foreign ones. */
export function platformHeaders(
  body: string,
  credentials: WechatCredentials,
  options: { timestamp?: number; serialNo?: string } = {},
): Record<string, string> {
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const nonce = randomAlphanumeric(32);
  const signature = sign('sha256', Buffer.from(`${timestamp}\n${nonce}\n${body}\n`), credentials.platformPrivateKey).toString('base64');
  return {
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': signature,
    'Wechatpay-Serial': options.serialNo ?? credentials.platformSerialNo,
    'Wechatpay-Signature-Type': SCHEME,
  };
}

export interface EncryptedResource {
  original_type: string;
  algorithm: 'AEAD_AES_256_GCM';
  ciphertext: string;
  associated_data: string;
  nonce: string;
}

/** AEAD_AES_256_GCM with the APIv3 key: ciphertext is base64(encrypted bytes ‖ 16-byte tag). */
export function encryptResource(plain: unknown, originalType: string, apiV3Key: string): EncryptedResource {
  const nonce = randomAlphanumeric(12);
  const cipher = createCipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(nonce, 'utf8'));
  cipher.setAAD(Buffer.from(originalType, 'utf8'));
  const encrypted = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return { original_type: originalType, algorithm: 'AEAD_AES_256_GCM', ciphertext: encrypted.toString('base64'), associated_data: originalType, nonce };
}
