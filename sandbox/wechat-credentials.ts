// The WeChat test merchant's credentials: made on first start and kept under the sandbox's data directory (see key-store.ts).
import { randomBytes, randomInt } from 'node:crypto';
import { loadOrCreate, newRsaKeyPair } from './key-store';

export interface WechatCredentials {
  mchId: string;
  appId: string;
  appSecret: string;
  /** The merchant's API key pair (apiclient_key.pem) and its certificate serial number. */
  merchantSerialNo: string;
  merchantPrivateKey: string;
  merchantPublicKey: string;
  /** 32 characters: the AES-256-GCM key of callback resources. */
  apiV3Key: string;
  /** The platform's key pair, with which every response and callback is signed, and the serial of its certificate. */
  platformSerialNo: string;
  platformPrivateKey: string;
  platformPublicKey: string;
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomAlphanumeric(length: number): string {
  return Array.from({ length }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join('');
}

export function randomDigits(length: number): string {
  return Array.from({ length }, () => randomInt(10)).join('');
}

export function loadWechatCredentials(dataDir: string): WechatCredentials {
  return loadOrCreate(dataDir, 'wechat-pay', () => {
    const merchant = newRsaKeyPair();
    const platform = newRsaKeyPair();
    return {
      mchId: `19${randomDigits(8)}`,
      appId: `wx${randomBytes(8).toString('hex')}`,
      appSecret: randomBytes(16).toString('hex'),
      merchantSerialNo: randomBytes(20).toString('hex').toUpperCase(),
      merchantPrivateKey: merchant.privateKey,
      merchantPublicKey: merchant.publicKey,
      apiV3Key: randomAlphanumeric(32),
      platformSerialNo: randomBytes(20).toString('hex').toUpperCase(),
      platformPrivateKey: platform.privateKey,
      platformPublicKey: platform.publicKey,
    };
  });
}
