// WeChat login: exchanging the code a user's WeChat client got from wx.login for the user's openid (GET /sns/jscode2session).
import { GatewayError } from './donation-gateway';

export interface WechatLoginOptions {
  /** https://api.weixin.qq.com in production. */
  loginBaseUrl: string;
  appId: string;
  appSecret: string;
  timeoutMs: number;
}

export interface WechatLogin {
  /** Spends the code: a second exchange of the same code is refused. */
  openidFor(code: string): Promise<{ openid: string; unionid: string | null }>;
}

/** errcodes that say the code itself is no good: 40029 invalid (unknown or expired), 40163 already used. */
const INVALID_CODE = new Set([40029, 40163]);
/** errcodes worth another try: -1 system busy, 45011 rate limited. */
const RETRYABLE = new Set([-1, 45011]);

export function createWechatLogin(options: WechatLoginOptions): WechatLogin {
  const { appId, appSecret, timeoutMs } = options;
  const base = options.loginBaseUrl.replace(/\/+$/, '');

  return {
    async openidFor(code) {
      const url = new URL(`${base}/sns/jscode2session`);
      url.search = new URLSearchParams({ appid: appId, secret: appSecret, js_code: code, grant_type: 'authorization_code' }).toString();
      let status: number;
      let text: string;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
        status = res.status;
        text = await res.text();
      } catch (err) {
        throw new GatewayError('wechat', 'no_answer', `jscode2session: ${(err as Error).message}`, true);
      }
      if (status === 429 || status >= 500) throw new GatewayError('wechat', `http_${status}`, `jscode2session: ${status}`, true);
      let body: { openid?: unknown; unionid?: unknown; errcode?: unknown; errmsg?: unknown } | undefined;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      // WeChat answers 200 with a text/plain JSON body, an error being a non-zero errcode.
      if (status === 200 && typeof body?.openid === 'string' && !body.errcode) {
        return { openid: body.openid, unionid: typeof body.unionid === 'string' ? body.unionid : null };
      }
      const errcode = typeof body?.errcode === 'number' ? body.errcode : undefined;
      const message = `jscode2session: ${status} ${errcode ?? ''} ${body?.errmsg ?? text.slice(0, 200)}`.replace(/\s+/g, ' ').trim();
      if (errcode !== undefined && INVALID_CODE.has(errcode)) throw new GatewayError('wechat', 'invalid_code', message, false);
      if (errcode !== undefined && RETRYABLE.has(errcode)) throw new GatewayError('wechat', String(errcode), message, true);
      throw new GatewayError('wechat', errcode === undefined ? 'unexpected_response' : String(errcode), message, false);
    },
  };
}
