// The Alipay emulator of the sandbox started by globalSetup: its merchant credentials, the tester's phone, its fault
// switches, and an adapter built from those credentials and pointed at it.
import { createAlipayGateway, type AlipayGatewayOptions } from '../../activities/providers/alipay';
import type { DonationGateway } from '../../activities/providers/donation-gateway';
import type { AlipayMerchant, AlipaySandboxSettings, AlipaySettingsPatch, AlipayTradeView } from '../../sandbox/alipay';
import { sandboxUrl } from './sandbox';

/** What a control call answered other than 2xx: the status, so a test can expect a 404 or a 409. */
export class AlipaySandboxError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
    route: string,
  ) {
    super(`alipay sandbox ${route} answered ${status}: ${body}`);
  }
}

async function control<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sandboxUrl()}/sandbox/alipay${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new AlipaySandboxError(res.status, text, `${method} ${route}`);
  return JSON.parse(text) as T;
}

/** The adapter's timeout when a test does not choose one: well above the emulator's default 5 ± 2 ms. */
const TIMEOUT_MS = 5_000;

export const alipaySandbox = {
  /** The test merchant's app id, app private key, Alipay public key and gateway URL, as a developer console shows them. */
  merchant: () => control<AlipayMerchant>('GET', '/merchant'),

  /** The engine's Alipay adapter with the merchant's credentials; `overrides` swap any of them (a wrong key, a short timeout). */
  async gateway(overrides: Partial<AlipayGatewayOptions> = {}): Promise<DonationGateway> {
    return createAlipayGateway({ ...(await alipaySandbox.merchant()), timeoutMs: TIMEOUT_MS, ...overrides });
  },

  /** The buyer scans the QR code and pays; the notify goes out. Throws AlipaySandboxError 404 (unknown) or 409 (closed, expired, already paid). */
  pay: (orderNo: string, buyerId?: string) => control<AlipayTradeView>('POST', `/trades/${encodeURIComponent(orderNo)}/pay`, buyerId === undefined ? {} : { buyerId }),

  /** The trade as the emulator holds it: status, amounts, refunds and every notify attempt. Throws AlipaySandboxError 404 when unknown. */
  trade: (orderNo: string) => control<AlipayTradeView>('GET', `/trades/${encodeURIComponent(orderNo)}`),

  /** Changes the given settings and keeps the others, e.g. `{ behaviour: { failureRate: 1 } }` or `{ notify: { mode: 'lost' } }`. */
  configure: (patch: AlipaySettingsPatch) => control<AlipaySandboxSettings>('POST', '/config', patch),

  /** Forgets every trade, pending notify and counter; back to 5 ± 2 ms, no faults, Alipay's real notify schedule. */
  reset: () => control<AlipaySandboxSettings>('POST', '/reset'),

  stats: () => control<Record<string, number>>('GET', '/stats'),
};
