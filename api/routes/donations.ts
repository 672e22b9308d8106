// /api/v1/donations: create a donation (QR at Alipay or WeChat Pay), follow it, its QR image, and its refunds.
import { Router, type Request } from 'express';
import QRCode from 'qrcode';
import { z } from 'zod';
import { PAYMENT_METHODS } from '../../activities/providers/donation-gateway';
import { DomainError } from '../../domain/errors';
import { isIdempotencyKey } from '../../domain/transfer';
import type { RouteContext } from '../app';
import { createDonation, createRefund, findDonation, findRefund, refundsOf, viewOf } from '../donations';
import { errorResponses, SECURITY } from '../openapi';
import { Amount, IdempotencyKey, parseWith, Timestamp, Uid } from '../schemas';

const OrderNo = z.string().meta({ description: 'The donation\'s order number (the gateways\' out_trade_no).', example: 'D5e1f0c2b7a9d4e3f8a6b1c0d9e2f7a4' });

const DonationRequest = z
  .object({
    category: z.string().min(1).max(32).meta({ example: 'general' }),
    amount: Amount,
    method: z.enum(PAYMENT_METHODS as [string, ...string[]]).meta({ example: 'alipay' }),
    uid: Uid.optional(),
    openid: z.string().min(1).max(64).optional().meta({ description: 'A WeChat donor who logged in through POST /api/v1/users/wechat.' }),
    name: z.string().max(64).optional().meta({ description: 'Shown in the ranking.', example: '张三' }),
    message: z.string().max(500).optional(),
  })
  .refine((body) => body.uid === undefined || body.openid === undefined, { message: 'give uid or openid, not both' })
  .meta({ id: 'DonationRequest', description: 'Amounts are CNY with at most 2 decimals, within the method\'s limits (GET /api/v1/payment-methods).' });

const Donation = z
  .object({
    object: z.literal('donation'),
    orderNo: OrderNo,
    status: z.enum(['pending', 'paid', 'paid_late', 'expired', 'failed']),
    category: z.string(),
    amount: z.string().meta({ example: '10.00' }),
    currency: z.string().meta({ example: 'CNY' }),
    method: z.enum(PAYMENT_METHODS as [string, ...string[]]),
    donor: z.object({ uid: z.number().int().nullable(), name: z.string().nullable() }),
    message: z.string().nullable(),
    qrContent: z.string().nullable().meta({ description: 'What the QR code encodes (Alipay qr_code / WeChat code_url).' }),
    qrImage: z.object({ png: z.string(), svg: z.string() }).nullable(),
    expiresAt: Timestamp,
    paidAt: Timestamp.nullable(),
    refundedAmount: z.string(),
    failure: z.string().nullable(),
    createdAt: Timestamp,
    workflowId: z.string(),
  })
  .meta({ id: 'Donation' });

const RefundRequest = z
  .object({ amount: Amount.optional().meta({ description: 'Defaults to everything left to refund.' }), reason: z.string().max(255).optional() })
  .meta({ id: 'RefundRequest' });

const Refund = z
  .object({
    object: z.literal('refund'),
    refundNo: z.string(),
    orderNo: OrderNo,
    amount: z.string(),
    reason: z.string().nullable(),
    status: z.enum(['processing', 'succeeded', 'failed']),
    providerRefundNo: z.string().nullable(),
    failureReason: z.string().nullable(),
    refundedAt: Timestamp.nullable(),
    createdAt: Timestamp,
    workflowId: z.string(),
  })
  .meta({ id: 'Refund' });

function optionalKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!isIdempotencyKey(key)) throw new DomainError('invalid_request', 'Idempotency-Key must be 1-100 characters of A-Z a-z 0-9 . _ : -');
  return key;
}

export function donationRoutes(ctx: RouteContext): Router {
  const { registry, requireScope } = ctx;
  const router = Router();
  const OrderParams = z.object({ orderNo: OrderNo });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/donations',
    summary: 'Create a donation: a QR code to pay at Alipay or WeChat Pay',
    description:
      'Starts DonationWorkflow (`donation-{orderNo}`) and answers once the gateway made the QR. No API key: donors call it from the donation page. ' +
      'With an Idempotency-Key, the same key gives the same order; with another body, 409. Poll GET /api/v1/donations/{orderNo} for the payment.',
    request: {
      headers: z.object({ 'idempotency-key': IdempotencyKey.optional() }),
      body: { required: true, content: { 'application/json': { schema: DonationRequest } } },
    },
    responses: {
      201: { description: 'Created; pay with the QR before expiresAt.', content: { 'application/json': { schema: Donation } } },
      200: { description: 'The order this Idempotency-Key already created.', content: { 'application/json': { schema: Donation } } },
      ...errorResponses(400, 409, 422, 429, 502, 503),
    },
  });
  router.post('/api/v1/donations', async (req, res) => {
    const idempotencyKey = optionalKey(req);
    const body = parseWith(DonationRequest, req.body, 'body');
    const { view, created } = await createDonation({ ...ctx, gateways: ctx.gateways }, { idempotencyKey, ...body, method: body.method as 'alipay' | 'wechat' });
    res.status(created ? 201 : 200).json({ object: 'donation', ...view });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/donations/{orderNo}',
    summary: 'A donation and its status (the donation page polls this)',
    request: { params: OrderParams },
    responses: { 200: { description: 'The donation.', content: { 'application/json': { schema: Donation } } }, ...errorResponses(404) },
  });
  router.get('/api/v1/donations/:orderNo', async (req, res) => {
    res.set('Cache-Control', 'no-store').json({ object: 'donation', ...viewOf(await findDonation(ctx.db, String(req.params.orderNo))) });
  });

  for (const format of ['png', 'svg'] as const) {
    registry.registerPath({
      method: 'get',
      path: `/api/v1/donations/{orderNo}/qr.${format}`,
      summary: `The donation's QR code as ${format.toUpperCase()}`,
      request: { params: OrderParams },
      responses: {
        200: { description: 'The image.', content: { [format === 'png' ? 'image/png' : 'image/svg+xml']: { schema: { type: 'string', format: 'binary' } } } },
        ...errorResponses(404),
      },
    });
    router.get(`/api/v1/donations/:orderNo/qr.${format}`, async (req, res) => {
      const donation = await findDonation(ctx.db, String(req.params.orderNo));
      if (!donation.qrContent) throw new DomainError('not_found', `donation ${donation.orderNo} has no QR code`);
      res.set('Cache-Control', 'private, max-age=900');
      if (format === 'png') res.type('image/png').send(await QRCode.toBuffer(donation.qrContent, { type: 'png', margin: 2, width: 320 }));
      else res.type('image/svg+xml').send(await QRCode.toString(donation.qrContent, { type: 'svg', margin: 2 }));
    });
  }

  registry.registerPath({
    method: 'post',
    path: '/api/v1/donations/{orderNo}/refunds',
    summary: 'Refund a paid donation, fully or in part (admin)',
    description:
      'Starts RefundWorkflow (`refund-{refundNo}`): holds the amount on the category\'s account, asks the gateway, follows the refund, then posts ' +
      'or voids the hold. The Idempotency-Key names the refund. More than what is left to refund is refused (422 refund_exceeds_paid).',
    security: SECURITY,
    request: {
      params: OrderParams,
      headers: z.object({ 'idempotency-key': IdempotencyKey }),
      body: { required: false, content: { 'application/json': { schema: RefundRequest } } },
    },
    responses: {
      200: { description: 'The refund, final.', content: { 'application/json': { schema: Refund } } },
      202: { description: 'Still processing at the gateway; poll GET /api/v1/refunds/{refundNo}.', content: { 'application/json': { schema: Refund } } },
      ...errorResponses(400, 401, 403, 404, 409, 422, 502, 503),
    },
  });
  router.post('/api/v1/donations/:orderNo/refunds', requireScope('admin'), async (req, res) => {
    const idempotencyKey = optionalKey(req);
    if (idempotencyKey === undefined) throw new DomainError('idempotency_key_missing', 'the Idempotency-Key header is required');
    const body = parseWith(RefundRequest, req.body ?? {}, 'body');
    const { view, done } = await createRefund({ ...ctx, gateways: ctx.gateways }, { idempotencyKey, orderNo: String(req.params.orderNo), ...body });
    res.status(done ? 200 : 202).json({ object: 'refund', ...view });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/donations/{orderNo}/refunds',
    summary: 'The refunds of a donation (admin)',
    security: SECURITY,
    request: { params: OrderParams },
    responses: { 200: { description: 'Its refunds, oldest first.', content: { 'application/json': { schema: z.object({ data: z.array(Refund) }) } } }, ...errorResponses(401, 403, 404) },
  });
  router.get('/api/v1/donations/:orderNo/refunds', requireScope('admin'), async (req, res) => {
    res.json({ data: (await refundsOf(ctx.db, String(req.params.orderNo))).map((r) => ({ object: 'refund', ...r })) });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/refunds/{refundNo}',
    summary: 'A refund and its status (admin)',
    security: SECURITY,
    request: { params: z.object({ refundNo: z.string() }) },
    responses: { 200: { description: 'The refund.', content: { 'application/json': { schema: Refund } } }, ...errorResponses(401, 403, 404) },
  });
  router.get('/api/v1/refunds/:refundNo', requireScope('admin'), async (req, res) => {
    res.json({ object: 'refund', ...(await findRefund(ctx.db, String(req.params.refundNo))) });
  });

  return router;
}
