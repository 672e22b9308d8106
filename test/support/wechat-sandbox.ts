// The WeChat Pay emulator of the sandbox started by globalSetup, driven through its control API: the merchant's
// credentials, adapters built from them, the buyer's phone (login codes, paying), faults.
import type { DonationGateway } from '../../activities/providers/donation-gateway';
import { createWechatLogin, type WechatLogin, type WechatLoginOptions } from '../../activities/providers/wechat-login';
import { createWechatPayGateway, type WechatPayOptions } from '../../activities/providers/wechat-pay';
import { loadConfig } from '../../config';
import type { CallbackForgery, SignedCallback } from '../../sandbox/wechat-callbacks';
import type { IssuedCode } from '../../sandbox/wechat-login';
import type { WechatMerchant, WechatSandboxSettings, WechatSettingsPatch, WechatTradeView } from '../../sandbox/wechat-pay';
import { sandboxUrl } from './sandbox';

async function control<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sandboxUrl()}/sandbox/wechat${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} /sandbox/wechat${route} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

let merchant: Promise<WechatMerchant> | undefined;
const tradeRoute = (orderNo: string) => `/trades/${encodeURIComponent(orderNo)}`;

export const wechatSandbox = {
  /** The test merchant's credentials and base URLs, as the merchant platform hands them out (fetched once). */
  merchant: (): Promise<WechatMerchant> => (merchant ??= control<WechatMerchant>('GET', '/merchant')),

  /** The engine's WeChat Pay adapter with the merchant's credentials; overrides make a misconfigured one. */
  async gateway(overrides: Partial<WechatPayOptions> = {}): Promise<DonationGateway> {
    const m = await wechatSandbox.merchant();
    return createWechatPayGateway({ ...m, timeoutMs: loadConfig(process.env).donations.gatewayTimeoutMs, ...overrides });
  },

  /** The engine's WeChat login client with the merchant's app credentials. */
  async login(overrides: Partial<WechatLoginOptions> = {}): Promise<WechatLogin> {
    const m = await wechatSandbox.merchant();
    return createWechatLogin({ ...m, timeoutMs: loadConfig(process.env).donations.gatewayTimeoutMs, ...overrides });
  },

  /** What wx.login gives on the user's phone: a single-use code for that openid, or for a new user. */
  loginCode: (openid?: string, unionid?: string) => control<IssuedCode>('POST', '/login-codes', { openid, unionid }),

  /** The buyer scans the code and pays: the trade turns SUCCESS and the payment callback goes to its notify_url. */
  pay: (orderNo: string, openid?: string) => control<WechatTradeView>('POST', `${tradeRoute(orderNo)}/pay`, { openid }),

  /** The trade as the platform holds it, with its refunds and every callback attempt. */
  trade: (orderNo: string) => control<WechatTradeView>('GET', tradeRoute(orderNo)),

  /** Changes the given settings (behaviour: latency and faults; notify: callback faults and schedule) and keeps the others. */
  configure: (patch: WechatSettingsPatch) => control<WechatSandboxSettings>('POST', '/config', patch),

  /** Forgets every trade, refund, login code, pending callback and counter; back to 5 ± 2 ms, no faults, real schedule. */
  reset: () => control<WechatSandboxSettings>('POST', '/reset'),

  stats: () => control<Record<string, number>>('GET', '/stats'),

  /** A callback signed with the platform key, not sent, carrying `resource`: to show what the engine refuses or ignores. */
  signedCallback: (eventType: string, resource: Record<string, unknown>, forgery: CallbackForgery = {}) =>
    control<SignedCallback>('POST', '/callbacks', { eventType, resource, ...forgery }),
};
