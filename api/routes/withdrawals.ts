// /api/v1/withdrawals and /api/v1/merchant-payments: pay a user's tokens out to an address, or to a merchant for an order,
// from the network's hot wallet (the collection wallet when the hot one is short), followed to its confirmations.
import { Router, type Request } from 'express';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import type { ChainPayoutKind } from '../../domain/withdrawal';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { Amount, IdempotencyKey, parseWith, Timestamp, Uid } from '../schemas';
import { findChainPayout, startMerchantPayment, startWithdrawal, type ChainPayoutView } from '../withdrawals';

const Address = z.string().meta({ description: '0x + 40 hex digits; mixed case must be a valid EIP-55 checksum.', example: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' });

const withdrawalFields = {
  queueId: IdempotencyKey.optional().meta({ description: "M2Pool's queue_id: the idempotency key, when no Idempotency-Key header is sent (they must agree when both are)." }),
  uid: Uid.optional().meta({ description: 'The paying user; or name them by fromAddress.' }),
  fromAddress: Address.optional().meta({ description: "The paying user's deposit address (M2Pool's from_address); the tokens leave from the network's hot wallet." }),
  toAddress: Address,
  amount: Amount.meta({ description: 'In token units, with at most the token\'s decimals (USDT 6, DAI 18).', example: '12.5' }),
  network: z.string().max(32).meta({ description: 'A network id (GET /api/v1/networks).', example: 'local' }),
  token: z.string().max(16).meta({ description: "The token's symbol on that network (GET /api/v1/tokens).", example: 'USDT' }),
};

const WithdrawalRequest = z.object(withdrawalFields).meta({ id: 'WithdrawalRequest' });
const MerchantPaymentRequest = z
  .object({ ...withdrawalFields, orderId: z.string().min(1).max(128).meta({ description: "The merchant's order (M2Pool's order_id).", example: 'order_789' }) })
  .meta({ id: 'MerchantPaymentRequest' });

const ChainTransaction = z
  .object({
    hash: z.string(),
    nonce: z.number().int(),
    attempt: z.number().int().meta({ description: '0: the first signature; n: the n-th fee bump, which replaces attempt n-1 at the same nonce.' }),
    replaces: z.string().nullable(),
    status: z.enum(['signed', 'broadcast', 'mined', 'confirmed', 'failed', 'replaced', 'dropped']),
    blockNumber: z.number().int().nullable(),
  })
  .meta({ id: 'ChainTransaction' });

const payoutSchema = (kind: ChainPayoutKind) =>
  z
    .object({
      object: z.literal(kind === 'withdrawal' ? 'withdrawal' : 'merchant_payment'),
      id: z.string().meta({ example: kind === 'withdrawal' ? 'withdrawal-w_123' : 'payment-pay_456' }),
      queueId: z.string(),
      ...(kind === 'payment' && { orderId: z.string() }),
      uid: z.number().int(),
      fromAddress: z.string().nullable(),
      toAddress: z.string(),
      network: z.string(),
      chainId: z.number().int(),
      chain: z.string().meta({ description: "What its notification calls the chain (M2Pool's `chain`).", example: 'ETH' }),
      token: z.string(),
      amount: z.string().meta({ example: '12.5' }),
      status: z.enum(['processing', 'held', 'sent', 'confirmed', 'failed', 'refused']).meta({
        description:
          'processing: accepted, not yet held; held: the balance is held; sent: a transaction is signed and broadcast; confirmed: it has ' +
          "the network's confirmations and the hold is posted; failed: it never will (failure says why) and the hold is voided.",
      }),
      wallet: z.object({ kind: z.enum(['hot', 'collection']), address: z.string() }).nullable(),
      txHash: z.string().nullable().meta({ description: 'The transaction that was mined once final; the latest signature before.' }),
      blockNumber: z.number().int().nullable(),
      transactions: z.array(ChainTransaction),
      failure: z.object({ code: z.string(), message: z.string() }).nullable().meta({ description: 'wallets_short, chain_tx_reverted, chain_tx_dropped…' }),
      createdAt: Timestamp.nullable(),
      updatedAt: Timestamp.nullable(),
      workflowId: z.string(),
    })
    .meta({ id: kind === 'withdrawal' ? 'Withdrawal' : 'MerchantPayment' });

const Withdrawal = payoutSchema('withdrawal');
const MerchantPayment = payoutSchema('payment');
const IdParams = z.object({ id: z.string().max(128) });
const OptionalIdempotencyHeaders = z.object({ 'idempotency-key': IdempotencyKey.optional() });

/** The Idempotency-Key header, or queueId in the body: one of them, the same when both are given. */
function queueIdOf(req: Request, bodyQueueId: string | undefined): string {
  const header = req.get('idempotency-key');
  if (header !== undefined && bodyQueueId !== undefined && header !== bodyQueueId) throw new DomainError('invalid_request', 'Idempotency-Key and queueId differ: send one, or the same in both');
  const key = header ?? bodyQueueId;
  if (key === undefined || key.trim() === '') throw new DomainError('idempotency_key_missing', 'the Idempotency-Key header (or queueId in the body) is required');
  return key;
}

const present = (view: ChainPayoutView) => {
  const { kind, orderId, ...rest } = view;
  return kind === 'withdrawal' ? { object: 'withdrawal' as const, ...rest } : { object: 'merchant_payment' as const, ...rest, orderId };
};
const isFinal = (view: ChainPayoutView) => view.status === 'confirmed' || view.status === 'failed';

export function withdrawalRoutes(ctx: RouteContext): Router {
  const { registry, requireScope } = ctx;
  const router = Router();

  const routes = [
    { kind: 'withdrawal' as const, path: '/api/v1/withdrawals', schema: Withdrawal, body: WithdrawalRequest, what: 'withdrawal' },
    { kind: 'payment' as const, path: '/api/v1/merchant-payments', schema: MerchantPayment, body: MerchantPaymentRequest, what: 'merchant payment' },
  ];
  for (const { kind, path, schema, body, what } of routes) {
    registry.registerPath({
      method: 'post',
      path,
      summary: kind === 'withdrawal' ? "Pay a user's tokens out to an address (M2Pool withdraw)" : 'Pay a merchant for an order from a user\'s tokens (M2Pool pay)',
      description:
        `Starts the ${what}'s workflow under \`${kind}-{queueId}\` and answers once the user's balance is held: 422 insufficient_funds ` +
        'before anything is signed when it is not there. Then, in the background: a token transfer from the network\'s hot wallet (the ' +
        'collection wallet when the hot one lacks the tokens or the gas), broadcast and followed to the network\'s confirmations (a stuck ' +
        'one is replaced with a higher fee); the hold is posted once it is confirmed, voided if it fails; one final notification (M2Pool\'s ' +
        `${kind === 'withdrawal' ? 'withdraw_resp' : 'pay_resp'}, status 1 or 0) is sent once the outcome is final. The same queueId with ` +
        'the same body answers the same; with another, 409 idempotency_conflict.',
      security: SECURITY,
      request: { headers: OptionalIdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: body } } } },
      responses: {
        202: { description: 'Accepted: held, and sent once a worker has signed it; poll the GET route (or wait for the notification).', content: { 'application/json': { schema } } },
        200: { description: 'Final already (asked before, or no wallet could pay it): its outcome.', content: { 'application/json': { schema } } },
        ...errorResponses(400, 401, 403, 409, 422, 429, 503),
      },
    });
    router.post(path, requireScope('transfers:write'), async (req, res) => {
      const fields = parseWith(body, req.body, 'body');
      const command = { ...fields, queueId: queueIdOf(req, fields.queueId) };
      const { view } = kind === 'withdrawal' ? await startWithdrawal(ctx, command) : await startMerchantPayment(ctx, command as typeof command & { orderId: string });
      res.status(isFinal(view) ? 200 : 202).json(present(view));
    });

    registry.registerPath({
      method: 'get',
      path: `${path}/{id}`,
      summary: `A ${what}: its status, wallet, transactions (every fee bump) and outcome`,
      security: SECURITY,
      request: { params: IdParams },
      responses: {
        200: { description: `The ${what}.`, content: { 'application/json': { schema } } },
        ...errorResponses(401, 403, 404, 429, 503),
      },
    });
    router.get(`${path}/:id`, requireScope('transfers:read'), async (req, res) => {
      const id = String(req.params.id);
      const view = id.length <= 128 ? await findChainPayout(ctx, kind, id) : undefined;
      if (!view) throw new DomainError('not_found', `no ${what} ${id}`);
      res.json(present(view));
    });
  }

  return router;
}
