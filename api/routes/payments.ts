// /api/v1/payments (seed 003): create a checkout session (an address of its own, the exact amount, an EIP-681 URI and its
// QR code), follow it, hand it a transaction by hash, and list sessions for ops. Status is pushed at /ws/payments/{id}.
import { Router, type Request } from 'express';
import QRCode from 'qrcode';
import { z } from 'zod';
import { listCheckoutSessions } from '../../db/checkout';
import { CHECKOUT_STATUSES } from '../../domain/checkout';
import { DomainError } from '../../domain/errors';
import { isIdempotencyKey } from '../../domain/transfer';
import type { RouteContext } from '../app';
import { createPayment, findPayment, paymentView, processPayment } from '../checkout';
import { errorResponses, SECURITY } from '../openapi';
import { Amount, IdempotencyKey, parseWith, Timestamp } from '../schemas';

const PaymentId = z.string().meta({ description: 'The payment\'s id; its workflow is checkout-{id}.', example: 'pay_3f9a1c0e5b7d2a4c6e8f0a1b' });
const Address = z.string().meta({ description: 'EIP-55 checksummed.', example: '0x8ba1f109551bD432803012645Ac136ddd64DBA72' });

const PaymentRequest = z
  .object({
    amount: Amount.optional().meta({ description: 'In token units ("10.5"), with at most the token\'s decimals; greater than zero. Or a productId.', example: '10.5' }),
    productId: z
      .string()
      .max(64)
      .optional()
      .meta({ description: 'A product of GET /api/v1/products instead of an amount: the session takes its price (in the token picked), name and description.', example: 'coffee-beans' }),
    token: z.string().min(1).max(16).meta({ description: 'The token\'s symbol on the network (GET /api/v1/tokens).', example: 'USDT' }),
    network: z.string().min(1).max(32).meta({ description: 'The network\'s id (GET /api/v1/networks).', example: 'local' }),
    productName: z.string().max(200).optional().meta({ example: 'Premium plan, 1 month' }),
    description: z.string().max(1000).optional(),
    expiresInSeconds: z.number().int().min(5).max(7 * 86_400).optional().meta({ description: 'How long the session takes payments on time (default CHECKOUT_EXPIRY_MS, 15 minutes).', example: 900 }),
  })
  .superRefine((request, ctx) => {
    if ((request.amount === undefined) === (request.productId === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['amount'], message: 'give either an amount or a productId' });
    }
    if (request.productId !== undefined && (request.productName !== undefined || request.description !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['productName'], message: 'a product brings its own name and description' });
    }
  })
  .meta({ id: 'PaymentRequest' });

const PaymentTransaction = z
  .object({
    txHash: z.string(),
    logIndex: z.number().int(),
    from: Address,
    amount: z.string().meta({ description: 'Token units.' }),
    blockNumber: z.number().int(),
    confirmations: z.number().int(),
    status: z.enum(['seen', 'confirmed', 'reorged']).meta({ description: 'seen: waiting for confirmations; confirmed: final, credited; reorged: left the chain.' }),
    onChain: z.boolean().meta({ description: 'Whether the canonical chain held it at the last look.' }),
    late: z.boolean().meta({ description: 'First seen after the session expired.' }),
    transferId: z.string().nullable().meta({ description: 'The ledger credit to the merchant, once confirmed.' }),
  })
  .meta({ id: 'PaymentTransaction' });

const Payment = z
  .object({
    object: z.literal('payment'),
    id: PaymentId,
    status: z.enum(CHECKOUT_STATUSES).meta({
      description:
        'new: nothing seen; processing: a transfer is on chain, waiting for confirmations; underpaid: confirmed but short (top up before expiry); ' +
        'paid: the amount, confirmed; overpaid: more (see excessAmount); expired: nothing by expiry; paid_late: the amount was reached after expiry.',
    }),
    productId: z.string().nullable().meta({ description: 'The product it was made for, if any.' }),
    productName: z.string().nullable(),
    description: z.string().nullable(),
    network: z.string().meta({ example: 'local' }),
    chainId: z.number().int().meta({ example: 31337 }),
    token: z.string().meta({ example: 'USDT' }),
    tokenAddress: Address,
    decimals: z.number().int().meta({ example: 6 }),
    amount: z.string().meta({ description: 'Exactly this much, in token units.', example: '10.5' }),
    amountUnits: z.string().meta({ description: 'The same in base units (the uint256 to send).', example: '10500000' }),
    address: Address.meta({ description: 'The session\'s own receiving address: send the token here.' }),
    paymentUri: z.string().meta({ description: 'EIP-681: what the QR code encodes.', example: 'ethereum:0x5FbDB2315678afecb367f032d93F642f64180aa3@31337/transfer?address=0x8ba1…&uint256=10500000' }),
    qrImage: z.object({ png: z.string(), svg: z.string() }),
    receivedAmount: z.string().meta({ description: 'Confirmed, token units.' }),
    pendingAmount: z.string().meta({ description: 'On chain, waiting for confirmations.' }),
    dueAmount: z.string().meta({ description: 'Still to pay: amount − receivedAmount, never below 0.' }),
    excessAmount: z.string().meta({ description: 'Confirmed beyond the amount (overpaid).' }),
    requiredConfirmations: z.number().int().meta({ example: 3 }),
    transactionHash: z.string().nullable().meta({ description: 'The latest transfer\'s transaction.' }),
    blockNumber: z.number().int().nullable(),
    confirmations: z.number().int().meta({ description: 'Of the latest transfer.' }),
    transactions: z.array(PaymentTransaction),
    expiresAt: Timestamp,
    watchUntil: Timestamp.meta({ description: 'The address is watched until then: money after expiresAt counts as late.' }),
    paidAt: Timestamp.nullable(),
    closed: z.boolean().meta({ description: 'The address is no longer watched.' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    version: z.number().int().meta({ description: 'Bumped by every change; WebSocket updates carry it.' }),
    workflowId: z.string(),
  })
  .meta({ id: 'Payment' });

const PaymentList = z.object({ object: z.literal('list'), data: z.array(Payment), hasMore: z.boolean(), nextCursor: z.string().nullable() }).meta({ id: 'PaymentList' });

const ProcessRequest = z.object({ txHash: z.string().meta({ description: 'A mined transaction that sends the token to the payment\'s address.', example: '0x9f0c…e41a' }) }).meta({ id: 'ProcessRequest' });

const ListQuery = z.object({
  status: z.enum(CHECKOUT_STATUSES).optional(),
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'must be an integer from 1 to 100')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 100, 'must be an integer from 1 to 100')
    .optional()
    .meta({ description: 'Payments per page, 1-100 (default 20).' }),
  after: z.string().regex(/^\d{1,19}$/, 'must be the nextCursor of the previous page').transform(Number).optional(),
});

function optionalKey(req: Request): string | undefined {
  const key = req.get('idempotency-key');
  if (key === undefined) return undefined;
  if (!isIdempotencyKey(key)) throw new DomainError('invalid_request', 'Idempotency-Key must be 1-100 characters of A-Z a-z 0-9 . _ : -');
  return key;
}

export function paymentRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db } = ctx;
  const router = Router();
  const IdParams = z.object({ id: PaymentId });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/payments',
    summary: 'Create a checkout session: an address of its own, the exact amount, an EIP-681 URI and its QR code (no key needed)',
    description:
      'Starts CheckoutSessionWorkflow (`checkout-{id}`) and answers once the session has its address. No API key: payers call it from the checkout page. ' +
      'With an Idempotency-Key the same key gives the same payment; with another body, 409. Follow it with GET /api/v1/payments/{id} or the WebSocket ' +
      '/ws/payments/{id} (messages `connection_ack`, `payment_status_update`, `error`; send `{"type":"ping"}` for a `pong`).',
    request: {
      headers: z.object({ 'idempotency-key': IdempotencyKey.optional() }),
      body: { required: true, content: { 'application/json': { schema: PaymentRequest } } },
    },
    responses: {
      201: { description: 'Created; pay before expiresAt.', content: { 'application/json': { schema: Payment } } },
      200: { description: 'The payment this Idempotency-Key already created.', content: { 'application/json': { schema: Payment } } },
      ...errorResponses(400, 409, 422, 429, 503),
    },
  });
  router.post('/api/v1/payments', async (req, res) => {
    const idempotencyKey = optionalKey(req);
    const body = parseWith(PaymentRequest, req.body, 'body');
    const { view, created } = await createPayment(ctx, { idempotencyKey, ...body });
    res.status(created ? 201 : 200).json(view);
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/payments',
    summary: 'Checkout sessions, newest first (ops)',
    security: SECURITY,
    request: { query: ListQuery },
    responses: { 200: { description: 'A page of payments (their transactions left out).', content: { 'application/json': { schema: PaymentList } } }, ...errorResponses(400, 401, 403) },
  });
  router.get('/api/v1/payments', requireScope('transfers:read'), async (req, res) => {
    const query = parseWith(ListQuery, req.query, 'query');
    const page = await listCheckoutSessions(db, { status: query.status, after: query.after, limit: query.limit ?? 20 });
    res.json({ object: 'list', data: page.data.map(paymentView), hasMore: page.hasMore, nextCursor: page.nextCursor });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/payments/{id}',
    summary: 'A checkout session and its status (no key needed; the polling fallback of the WebSocket)',
    request: { params: IdParams },
    responses: { 200: { description: 'The payment.', content: { 'application/json': { schema: Payment } } }, ...errorResponses(404) },
  });
  router.get('/api/v1/payments/:id', async (req, res) => {
    res.set('Cache-Control', 'no-store').json(paymentView(await findPayment(db, String(req.params.id))));
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/payments/{id}/process',
    summary: 'Hand the session a transaction by hash (no key needed): its transfers to the address are verified and followed',
    description:
      'For a payer whose transfer the scanner has not reported (or when no scanner runs): the receipt is read, the Transfer logs of the ' +
      'payment\'s token to its address are taken as seen, and the workflow follows them to their confirmations. A transaction that sends none ' +
      'is 422 tx_not_for_payment; one not mined on the network, 422 tx_not_found; a reverted one, 422 chain_tx_reverted; a closed session, 409 payment_closed.',
    request: { params: IdParams, body: { required: true, content: { 'application/json': { schema: ProcessRequest } } } },
    responses: {
      200: { description: 'The payment, with the transaction\'s transfers in it.', content: { 'application/json': { schema: Payment } } },
      ...errorResponses(400, 404, 409, 422, 429, 503),
    },
  });
  router.post('/api/v1/payments/:id/process', async (req, res) => {
    const { txHash } = parseWith(ProcessRequest, req.body, 'body');
    res.json(await processPayment(ctx, String(req.params.id), txHash));
  });

  for (const format of ['png', 'svg'] as const) {
    registry.registerPath({
      method: 'get',
      path: `/api/v1/payments/{id}/qr.${format}`,
      summary: `The payment's QR code (its EIP-681 URI) as ${format.toUpperCase()}`,
      request: { params: IdParams },
      responses: {
        200: { description: 'The image.', content: { [format === 'png' ? 'image/png' : 'image/svg+xml']: { schema: { type: 'string', format: 'binary' } } } },
        ...errorResponses(404),
      },
    });
    router.get(`/api/v1/payments/:id/qr.${format}`, async (req, res) => {
      const { paymentUri } = paymentView(await findPayment(db, String(req.params.id)));
      // The URI of a session never changes.
      res.set('Cache-Control', 'public, max-age=86400, immutable');
      if (format === 'png') res.type('image/png').send(await QRCode.toBuffer(paymentUri, { type: 'png', margin: 2, width: 320 }));
      else res.type('image/svg+xml').send(await QRCode.toString(paymentUri, { type: 'svg', margin: 2 }));
    });
  }

  return router;
}
