// WeChat login (api.weixin.qq.com): the codes a user's WeChat client gets from wx.login, exchanged by the app's server
// for the user's openid at GET /sns/jscode2session.
//
// Like the real one, it answers HTTP 200 with a text/plain JSON body either way: {openid, session_key[, unionid]} or
// {errcode, errmsg}: 41002 appid missing, 40013 invalid appid, 40125 invalid appsecret, 41008 missing code,
// 40002 invalid grant_type, 40029 invalid code (unknown or expired), 40163 code been used.
import { randomBytes } from 'node:crypto';
import { Router, type Response } from 'express';
import type { ProviderBehaviour } from './behaviour';
import type { WechatCredentials } from './wechat-credentials';

/** A code is good for one exchange within this long after wx.login made it. */
const CODE_LIFETIME_MS = 5 * 60_000;

interface LoginCode {
  openid: string;
  expiresAt: number;
  used: boolean;
}

export interface IssuedCode {
  code: string;
  openid: string;
  unionid: string | null;
}

/** An openid as WeChat makes them: 28 characters, per user and app. */
export function newOpenid(): string {
  return `o${randomBytes(20).toString('base64url')}`;
}

export class WechatLoginEmulator {
  private codes = new Map<string, LoginCode>();
  /** The unionid of each user that has one (an app bound to an Open Platform account). */
  private unionids = new Map<string, string>();
  readonly router = Router();

  constructor(
    private readonly credentials: WechatCredentials,
    private readonly behaviour: ProviderBehaviour,
  ) {
    this.router.get('/sns/jscode2session', (req, res) => {
      const query = req.query as Record<string, string | undefined>;
      setTimeout(() => answer(res, this.exchange(query)), this.behaviour.latency());
    });
  }

  /** What the user's phone does in wx.login: a fresh code for that user (a new one unless openid is given). */
  issue(openid = newOpenid(), unionid?: string): IssuedCode {
    if (unionid) this.unionids.set(openid, unionid);
    const code = randomBytes(24).toString('base64url');
    this.codes.set(code, { openid, expiresAt: Date.now() + CODE_LIFETIME_MS, used: false });
    return { code, openid, unionid: this.unionids.get(openid) ?? null };
  }

  reset(): void {
    this.codes.clear();
    this.unionids.clear();
  }

  private exchange(query: Record<string, string | undefined>): Record<string, unknown> {
    const { appid, secret, js_code: code, grant_type: grantType } = query;
    if (!appid) return error(41002, 'appid missing');
    if (appid !== this.credentials.appId) return error(40013, 'invalid appid');
    if (secret !== this.credentials.appSecret) return error(40125, 'invalid appsecret');
    if (!code) return error(41008, 'missing code');
    if (grantType !== 'authorization_code') return error(40002, 'invalid grant_type');
    const known = this.codes.get(code);
    if (!known || Date.now() >= known.expiresAt) return error(40029, 'invalid code');
    if (known.used) return error(40163, 'code been used');
    known.used = true;
    const unionid = this.unionids.get(known.openid);
    return { session_key: randomBytes(16).toString('base64'), openid: known.openid, ...(unionid ? { unionid } : {}) };
  }
}

function error(errcode: number, errmsg: string): Record<string, unknown> {
  return { errcode, errmsg: `${errmsg}, rid: ${randomBytes(12).toString('hex')}` };
}

function answer(res: Response, body: Record<string, unknown>): void {
  res.status(200).type('text/plain').send(JSON.stringify(body));
}
