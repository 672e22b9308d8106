// Payment configs (seed 000's 支付配置): per method, whether donors may use it, its amount limits, and the merchant
// credentials its adapter needs. The credentials are the shapes the gateways' merchant consoles hand out.
import { z } from 'zod';
import type { PaymentMethod } from '../activities/providers/donation-gateway';

const Pem = z.string().min(64).max(8192).regex(/-----BEGIN [A-Z ]+-----/, 'a PEM block');

export const AlipayCredentials = z.object({
  appId: z.string().regex(/^[A-Za-z0-9]{4,32}$/),
  appPrivateKey: Pem,
  alipayPublicKey: Pem,
  gatewayUrl: z.string().url(),
});
export type AlipayCredentials = z.infer<typeof AlipayCredentials>;

export const WechatCredentials = z.object({
  mchId: z.string().regex(/^[A-Za-z0-9]{4,32}$/),
  appId: z.string().regex(/^[A-Za-z0-9_-]{4,32}$/),
  appSecret: z.string().min(16).max(64),
  merchantSerialNo: z.string().regex(/^[A-Za-z0-9]{4,64}$/),
  merchantPrivateKey: Pem,
  apiV3Key: z.string().length(32),
  platformSerialNo: z.string().regex(/^[A-Za-z0-9]{4,64}$/),
  platformPublicKey: Pem,
  payBaseUrl: z.string().url(),
  loginBaseUrl: z.string().url(),
});
export type WechatCredentials = z.infer<typeof WechatCredentials>;

export interface CredentialsOf {
  alipay: AlipayCredentials;
  wechat: WechatCredentials;
}

export const CREDENTIALS_SCHEMA = { alipay: AlipayCredentials, wechat: WechatCredentials } as const;

export interface PaymentConfig<M extends PaymentMethod = PaymentMethod> {
  method: M;
  enabled: boolean;
  /** CNY decimal strings, inclusive. */
  minAmount: string;
  maxAmount: string;
  /** Opened from their sealed form; null until an admin (or the local stack) sets them. */
  credentials: CredentialsOf[M] | null;
  updatedAt: string;
}
