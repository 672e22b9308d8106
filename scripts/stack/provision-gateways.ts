// The local stack's merchant credentials: what the sandbox's Alipay and WeChat consoles hand out, stored as the payment configs.
import { isDeepStrictEqual } from 'node:util';
import { PAYMENT_METHODS, type PaymentMethod } from '../../activities/providers/donation-gateway';
import type { SecretKey } from '../../config';
import type { Db } from '../../db/knex';
import { loadPaymentConfig, savePaymentConfig } from '../../db/payment-configs';
import { CREDENTIALS_SCHEMA, type AlipayCredentials, type CredentialsOf, type PaymentConfig, type WechatCredentials } from '../../domain/payment-config';

const CONSOLE_TIMEOUT_MS = 10_000;

export interface ProvisionResult {
  method: PaymentMethod;
  /** provisioned: first credentials, method enabled; refreshed: new sandbox credentials; kept: left as stored (see reason). */
  outcome: 'provisioned' | 'refreshed' | 'unchanged' | 'kept';
  reason?: string;
}

/**
 * Stores the sandbox's merchant credentials as each method's payment config: a method without credentials gets them
 * and is enabled (limits 0.01 to 50000.00 unless set); sandbox credentials are refreshed when the sandbox's changed.
 * Credentials for a gateway that is not on this machine were an operator's choice and stay; so do ones it cannot open.
 */
export async function provisionSandboxGateways(db: Db, keys: SecretKey[], sandboxUrl: string): Promise<ProvisionResult[]> {
  const results: ProvisionResult[] = [];
  for (const method of PAYMENT_METHODS) results.push(await provision(db, keys, sandboxUrl, method));
  return results;
}

async function provision<M extends PaymentMethod>(db: Db, keys: SecretKey[], sandboxUrl: string, method: M): Promise<ProvisionResult> {
  const credentials = await merchantConsole(sandboxUrl, method);
  let stored: PaymentConfig<M> | undefined;
  try {
    stored = await loadPaymentConfig(db, keys, method);
  } catch (err) {
    return { method, outcome: 'kept', reason: `the stored credentials cannot be opened, so they are not replaced: ${(err as Error).message}` };
  }
  if (!stored?.credentials) {
    await savePaymentConfig(db, keys, method, { enabled: true, credentials });
    return { method, outcome: 'provisioned' };
  }
  const elsewhere = gatewayUrls(method, stored.credentials).find((url) => !isLoopback(url));
  if (elsewhere) return { method, outcome: 'kept', reason: `the stored credentials are for ${elsewhere}, not a sandbox` };
  if (isDeepStrictEqual(stored.credentials, credentials)) return { method, outcome: 'unchanged' };
  await savePaymentConfig(db, keys, method, { credentials });
  return { method, outcome: 'refreshed' };
}

/** GET {sandbox}/sandbox/{method}/merchant: the test merchant's credentials, in the shape an operator would paste. */
async function merchantConsole<M extends PaymentMethod>(sandboxUrl: string, method: M): Promise<CredentialsOf[M]> {
  const url = `${sandboxUrl.replace(/\/+$/, '')}/sandbox/${method}/merchant`;
  const res = await fetch(url, { signal: AbortSignal.timeout(CONSOLE_TIMEOUT_MS) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${text.slice(0, 200)}`);
  const parsed = CREDENTIALS_SCHEMA[method].safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`GET ${url}: not ${method} credentials: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data as CredentialsOf[M];
}

function gatewayUrls(method: PaymentMethod, credentials: CredentialsOf[PaymentMethod]): string[] {
  if (method === 'alipay') return [(credentials as AlipayCredentials).gatewayUrl];
  const wechat = credentials as WechatCredentials;
  return [wechat.payBaseUrl, wechat.loginBaseUrl];
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
