// The sandbox's HTTP app: every provider emulator under the path its real gateway uses, and its control API under /sandbox.
import type { RequestListener } from 'node:http';
import express from 'express';
import { createAlipayEmulator } from './alipay';
import { createBusinessSystem } from './business-system';
import { createPayoutEmulator } from './payouts';
import { createWechatEmulator } from './wechat-pay';

export interface SandboxOptions {
  /** The credentials the payout provider accepts (the engine's PAYOUT_APP_ID and PAYOUT_TOKEN). */
  payouts: { appId: string; token: string };
  /** Where the gateway emulators keep the keys they make on first start (see key-store.ts). */
  dataDir: string;
  /** The secret M2Pool notifications are signed with (the engine's M2POOL_WEBHOOK_SECRET), checked by the stand-in receiver. */
  m2poolWebhookSecret: string;
}

/** The payout API's base path; its requests bypass express (see payouts.ts). */
const PAYOUT_API = '/thirdpart/onePass';

export function createSandboxApp(options: SandboxOptions): RequestListener {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok', emulators: ['payouts', 'alipay', 'wechat'] });
  });

  const payouts = createPayoutEmulator(options.payouts);
  app.use('/sandbox/payouts', payouts.control);

  const alipay = createAlipayEmulator({ dataDir: options.dataDir });
  app.use('/alipay', alipay.gateway);
  app.use('/sandbox/alipay', alipay.control);

  const wechat = createWechatEmulator({ dataDir: options.dataDir });
  app.use('/wechatpay', wechat.pay);
  app.use('/weixin', wechat.login);
  app.use('/sandbox/wechat', wechat.control);

  // Where `npm start` delivers M2Pool's notifications: GET /sandbox/business/m2pool lists them.
  app.use('/sandbox/business', createBusinessSystem(options.m2poolWebhookSecret));

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return (req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith(`${PAYOUT_API}/`) || url === PAYOUT_API || url.startsWith(`${PAYOUT_API}?`)) payouts.provider(req, res, url.slice(PAYOUT_API.length) || '/');
    else app(req, res);
  };
}
