// The Alipay test merchant's credentials: made on first start and kept under the sandbox's data directory (see key-store.ts).
import { loadOrCreate, newRsaKeyPair } from './key-store';

export interface AlipayCredentials {
  appId: string;
  /** The merchant's Alipay account (seller_id, "2088…"). */
  sellerId: string;
  /** The app key pair: the merchant signs requests with the private key, the gateway verifies with the public one. */
  appPrivateKey: string;
  appPublicKey: string;
  /** The platform key pair: the gateway signs answers and notifications, the merchant verifies with the public one. */
  alipayPrivateKey: string;
  alipayPublicKey: string;
}

export function loadAlipayCredentials(dataDir: string): AlipayCredentials {
  return loadOrCreate(dataDir, 'alipay', () => {
    const app = newRsaKeyPair();
    const platform = newRsaKeyPair();
    return {
      appId: '2021000000000001',
      sellerId: '2088000000000001',
      appPrivateKey: app.privateKey,
      appPublicKey: app.publicKey,
      alipayPrivateKey: platform.privateKey,
      alipayPublicKey: platform.publicKey,
    };
  });
}
