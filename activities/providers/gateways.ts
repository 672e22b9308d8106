// The gateway adapters, built from the payment configs in the DB (credentials opened from their sealed form) and
// rebuilt when an admin changes a config. Shared by the worker's activities and the API's callback routes.
import type { SecretKey } from '../../config';
import type { Db } from '../../db/knex';
import { loadPaymentConfig } from '../../db/payment-configs';
import { DomainError } from '../../domain/errors';
import type { AlipayCredentials, PaymentConfig, WechatCredentials } from '../../domain/payment-config';
import { createAlipayGateway } from './alipay';
import type { DonationGateway, PaymentMethod } from './donation-gateway';
import { createWechatPayGateway } from './wechat-pay';

/** How long a built adapter is used before its config is read again: an admin's change of credentials takes effect within this. */
const RELOAD_MS = 1_000;

export interface GatewayRegistry {
  /** The adapter of a method, whether or not the method is enabled for new donations (callbacks and refunds still need it). */
  gateway(method: PaymentMethod): Promise<DonationGateway>;
  /** The method's config as it is now (one primary-key read): whether it is enabled, its limits. */
  config(method: PaymentMethod): Promise<PaymentConfig | undefined>;
}

export function createGatewayRegistry(db: Db, keys: SecretKey[], timeoutMs: number): GatewayRegistry {
  const cache = new Map<PaymentMethod, { loadedAt: number; config: PaymentConfig | undefined; gateway?: DonationGateway; builtFrom?: string }>();

  async function entry(method: PaymentMethod) {
    const cached = cache.get(method);
    if (cached && Date.now() - cached.loadedAt < RELOAD_MS) return cached;
    const config = await loadPaymentConfig(db, keys, method);
    const next = { loadedAt: Date.now(), config, gateway: cached?.gateway, builtFrom: cached?.builtFrom };
    if (next.builtFrom !== config?.updatedAt) next.gateway = undefined;
    cache.set(method, next);
    return next;
  }

  return {
    async config(method) {
      return loadPaymentConfig(db, keys, method);
    },
    async gateway(method) {
      const e = await entry(method);
      if (e.gateway) return e.gateway;
      if (!e.config?.credentials) throw new DomainError('method_disabled', `${method} has no merchant credentials configured`);
      const gateway =
        method === 'alipay'
          ? createAlipayGateway({ ...(e.config.credentials as AlipayCredentials), timeoutMs })
          : createWechatPayGateway({ ...(e.config.credentials as WechatCredentials), timeoutMs });
      e.gateway = gateway;
      e.builtFrom = e.config.updatedAt;
      return gateway;
    },
  };
}
