// POST /api/v1/users: registers a user and opens their account (admin); POST /api/v1/users/wechat: a WeChat login's user.
import { Router } from 'express';
import { z } from 'zod';
import { GatewayError } from '../../activities/providers/donation-gateway';
import { createWechatLogin } from '../../activities/providers/wechat-login';
import { loadPaymentConfig } from '../../db/payment-configs';
import { createUser } from '../../db/users';
import { userForOpenid } from '../../db/wechat-users';
import { DomainError } from '../../domain/errors';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { parseWith, Timestamp, Uid } from '../schemas';

const CreateUserRequest = z.object({ uid: Uid, name: z.string().trim().min(1).max(128).optional() }).meta({ id: 'CreateUserRequest' });

const User = z
  .object({ object: z.literal('user'), uid: z.number().int(), name: z.string().nullable(), createdAt: Timestamp })
  .meta({ id: 'User' });

const WechatLoginRequest = z
  .object({ code: z.string().trim().min(1).max(128).meta({ description: "The code wx.login gave the user's WeChat client; good for one exchange." }) })
  .meta({ id: 'WechatLoginRequest' });

const WechatUser = z
  .object({
    object: z.literal('wechat_user'),
    uid: z.number().int().meta({ description: 'The user to name as donor.', example: 1000000000001 }),
    openid: z.string(),
    created: z.boolean().meta({ description: 'True on the login that registered the user.' }),
  })
  .meta({ id: 'WechatUser' });

export function userRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db, config } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'post',
    path: '/api/v1/users',
    summary: 'Register a user (admin); idempotent by uid',
    description: 'Opens the user\'s account in the default currency. Registering a uid again returns the stored user with 200.',
    security: SECURITY,
    request: { body: { required: true, content: { 'application/json': { schema: CreateUserRequest } } } },
    responses: {
      201: { description: 'Created.', content: { 'application/json': { schema: User } } },
      200: { description: 'The user already existed; the stored user.', content: { 'application/json': { schema: User } } },
      ...errorResponses(400, 401, 403, 429, 503),
    },
  });
  router.post('/api/v1/users', requireScope('admin'), async (req, res) => {
    const body = parseWith(CreateUserRequest, req.body, 'body');
    const { user, created } = await createUser(db, { uid: body.uid, name: body.name }, config.ledger.defaultCurrency);
    res.status(created ? 201 : 200).json({ object: 'user', ...user });
  });

  /** Exchanges the login code at WeChat with the app id and secret of the wechat payment config. */
  async function openidFor(code: string): Promise<{ openid: string; unionid: string | null }> {
    const credentials = (await loadPaymentConfig(db, config.secrets.keys, 'wechat'))?.credentials;
    if (!credentials) throw new DomainError('method_disabled', 'WeChat login is not configured: the wechat payment config has no credentials');
    const { loginBaseUrl, appId, appSecret } = credentials;
    try {
      return await createWechatLogin({ loginBaseUrl, appId, appSecret, timeoutMs: config.donations.gatewayTimeoutMs }).openidFor(code);
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      if (err.code === 'invalid_code') throw new DomainError('invalid_login_code', 'the login code is unknown, expired or already used: get a new one with wx.login');
      throw new DomainError(err.retryable ? 'gateway_unavailable' : 'gateway_refused', `WeChat login failed: ${err.message}`);
    }
  }

  registry.registerPath({
    method: 'post',
    path: '/api/v1/users/wechat',
    summary: 'Log in with WeChat: the user of an openid, registered on first login (no key needed)',
    description:
      "Exchanges the wx.login code for the user's openid at WeChat (jscode2session). The first login registers a user (uid 1000000000000 + n) " +
      'with an account and answers 201; later logins answer 200 with the same uid. A code works once: 422 invalid_login_code after that.',
    request: { body: { required: true, content: { 'application/json': { schema: WechatLoginRequest } } } },
    responses: {
      201: { description: 'First login: the user was registered.', content: { 'application/json': { schema: WechatUser } } },
      200: { description: 'The user registered at their first login.', content: { 'application/json': { schema: WechatUser } } },
      ...errorResponses(400, 422, 429, 502, 503),
    },
  });
  router.post('/api/v1/users/wechat', async (req, res) => {
    const { code } = parseWith(WechatLoginRequest, req.body, 'body');
    const { openid, unionid } = await openidFor(code);
    const user = await userForOpenid(db, openid, unionid, config.donations.currency);
    res.status(user.created ? 201 : 200).json({ object: 'wechat_user', ...user });
  });

  return router;
}
