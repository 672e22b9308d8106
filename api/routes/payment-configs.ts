// /api/v1/payment-methods (what donors may pay with) and /api/v1/payment-configs (the admin's view and changes, secrets never shown).
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { PAYMENT_METHODS, type PaymentMethod } from '../../activities/providers/donation-gateway';
import { listAvailableMethods, listPaymentConfigs, savePaymentConfig } from '../../db/payment-configs';
import { AlipayCredentials, WechatCredentials, type PaymentConfig } from '../../domain/payment-config';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { Amount, parseWith, Timestamp } from '../schemas';

const Method = z.enum(PAYMENT_METHODS as [PaymentMethod, ...PaymentMethod[]]);

const MethodParams = z.object({
  method: z
    .string()
    .refine((m) => (PAYMENT_METHODS as readonly string[]).includes(m), { message: `no such payment method (${PAYMENT_METHODS.join(', ')})`, params: { code: 'not_found' } })
    .meta({ enum: [...PAYMENT_METHODS], example: 'alipay' }),
});

const Limit = (description: string, example: string) => Amount.optional().meta({ description: `${description}, CNY, at most 2 decimals.`, example });

/** A PEM field must hold a key Node can read, of the kind its name says: a typo should fail here, not at the first donation. */
function readableKeys(fields: { name: string; kind: 'private' | 'public' }[]) {
  return (credentials: Record<string, unknown>, ctx: z.RefinementCtx) => {
    for (const { name, kind } of fields) {
      try {
        (kind === 'private' ? createPrivateKey : createPublicKey)(String(credentials[name]));
      } catch {
        ctx.addIssue({ code: 'custom', path: [name], message: `is not a readable PEM ${kind} key` });
      }
    }
  };
}

const CREDENTIALS_INPUT = {
  alipay: AlipayCredentials.superRefine(
    readableKeys([
      { name: 'appPrivateKey', kind: 'private' },
      { name: 'alipayPublicKey', kind: 'public' },
    ]),
  ),
  wechat: WechatCredentials.superRefine(
    readableKeys([
      { name: 'merchantPrivateKey', kind: 'private' },
      { name: 'platformPublicKey', kind: 'public' },
    ]),
  ),
};

const patchRequest = <C extends z.ZodType>(credentials: C) =>
  z
    .strictObject({
      enabled: z.boolean().optional().meta({ description: 'Whether donors may choose the method; it needs credentials.' }),
      minAmount: Limit('The smallest donation, inclusive', '0.01'),
      maxAmount: Limit('The largest donation, inclusive', '50000.00'),
      credentials: credentials.optional(),
    })
    .refine((body) => Object.values(body).some((value) => value !== undefined), { message: 'nothing to change: give enabled, minAmount, maxAmount or credentials' });

const REQUEST_SCHEMAS = { alipay: patchRequest(CREDENTIALS_INPUT.alipay), wechat: patchRequest(CREDENTIALS_INPUT.wechat) };

const PaymentConfigRequest = patchRequest(
  z.union([AlipayCredentials, WechatCredentials]).meta({
    description: "The merchant credentials as the gateway's console hands them out, in the method's shape; they replace the stored ones and are stored sealed.",
  }),
).meta({ id: 'PaymentConfigRequest', description: 'Fields left out keep their stored values (on creation: disabled, 0.01 to 50000.00).' });

const Fingerprint = z.string().nullable().meta({ description: 'SHA-256 of the public key (DER SubjectPublicKeyInfo), base64: compare with the key given to the gateway.' });

const AlipayCredentialsView = z.object({
  appId: z.string(),
  gatewayUrl: z.string(),
  appKeyFingerprint: Fingerprint,
  alipayPublicKeyFingerprint: Fingerprint,
});
const WechatCredentialsView = z.object({
  mchId: z.string(),
  appId: z.string(),
  merchantSerialNo: z.string(),
  platformSerialNo: z.string(),
  payBaseUrl: z.string(),
  loginBaseUrl: z.string(),
  merchantKeyFingerprint: Fingerprint,
  platformPublicKeyFingerprint: Fingerprint,
});

const PaymentConfigView = z
  .object({
    object: z.literal('payment_config'),
    method: Method,
    enabled: z.boolean(),
    minAmount: z.string().meta({ example: '0.01' }),
    maxAmount: z.string().meta({ example: '50000.00' }),
    hasCredentials: z.boolean(),
    credentials: z
      .union([AlipayCredentialsView, WechatCredentialsView])
      .nullable()
      .meta({ description: 'The non-secret identifiers of the stored credentials; private keys, the APIv3 key and the app secret are never shown.' }),
    updatedAt: Timestamp,
  })
  .meta({ id: 'PaymentConfig' });

const PaymentConfigList = z.object({ object: z.literal('list'), data: z.array(PaymentConfigView) }).meta({ id: 'PaymentConfigList' });

const PaymentMethodList = z
  .object({
    object: z.literal('list'),
    data: z.array(z.object({ method: Method, minAmount: z.string().meta({ example: '0.01' }), maxAmount: z.string().meta({ example: '50000.00' }) })),
  })
  .meta({ id: 'PaymentMethodList' });

function fingerprint(pem: string): string | null {
  try {
    const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
    return `SHA256:${createHash('sha256').update(der).digest('base64').replace(/=+$/, '')}`;
  } catch {
    return null;
  }
}

function redacted(config: PaymentConfig): z.infer<typeof PaymentConfigView> {
  const { method, enabled, minAmount, maxAmount, credentials, updatedAt } = config;
  let view: z.infer<typeof PaymentConfigView>['credentials'] = null;
  if (credentials && method === 'alipay') {
    const c = credentials as AlipayCredentials;
    view = { appId: c.appId, gatewayUrl: c.gatewayUrl, appKeyFingerprint: fingerprint(c.appPrivateKey), alipayPublicKeyFingerprint: fingerprint(c.alipayPublicKey) };
  } else if (credentials) {
    const c = credentials as WechatCredentials;
    view = {
      mchId: c.mchId,
      appId: c.appId,
      merchantSerialNo: c.merchantSerialNo,
      platformSerialNo: c.platformSerialNo,
      payBaseUrl: c.payBaseUrl,
      loginBaseUrl: c.loginBaseUrl,
      merchantKeyFingerprint: fingerprint(c.merchantPrivateKey),
      platformPublicKeyFingerprint: fingerprint(c.platformPublicKey),
    };
  }
  return { object: 'payment_config', method, enabled, minAmount, maxAmount, hasCredentials: credentials !== null, credentials: view, updatedAt };
}

export function paymentConfigRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db, config } = ctx;
  const keys = config.secrets.keys;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/payment-methods',
    summary: 'Payment methods donors can use, with their limits (no key needed)',
    responses: {
      200: { description: 'The enabled methods that have merchant credentials.', content: { 'application/json': { schema: PaymentMethodList } } },
      ...errorResponses(429, 503),
    },
  });
  router.get('/api/v1/payment-methods', async (_req, res) => {
    res.json({ object: 'list', data: await listAvailableMethods(db) });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/payment-configs',
    summary: 'Payment configs (admin): enabled, limits, which credentials are set',
    security: SECURITY,
    responses: {
      200: { description: 'Every configured method.', content: { 'application/json': { schema: PaymentConfigList } } },
      ...errorResponses(401, 403, 429, 503),
    },
  });
  router.get('/api/v1/payment-configs', requireScope('admin'), async (_req, res) => {
    res.json({ object: 'list', data: (await listPaymentConfigs(db, keys)).map(redacted) });
  });

  registry.registerPath({
    method: 'put',
    path: '/api/v1/payment-configs/{method}',
    summary: 'Create or change a payment config (admin)',
    description: 'Checked as a whole before anything is stored: limits are CNY with 0 < minAmount ≤ maxAmount, credentials match the method, an enabled method has credentials.',
    security: SECURITY,
    request: { params: MethodParams, body: { required: true, content: { 'application/json': { schema: PaymentConfigRequest } } } },
    responses: {
      200: { description: 'The stored config, credentials redacted.', content: { 'application/json': { schema: PaymentConfigView } } },
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  });
  router.put('/api/v1/payment-configs/:method', requireScope('admin'), async (req, res) => {
    const { method } = parseWith(MethodParams, req.params, 'path') as { method: PaymentMethod };
    const body = parseWith(REQUEST_SCHEMAS[method], req.body, 'body');
    const saved = await savePaymentConfig(db, keys, method, {
      enabled: body.enabled,
      minAmount: body.minAmount === undefined ? undefined : String(body.minAmount),
      maxAmount: body.maxAmount === undefined ? undefined : String(body.maxAmount),
      credentials: body.credentials,
    });
    res.json(redacted(saved));
  });

  return router;
}
