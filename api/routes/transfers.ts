// /api/v1/transfers and /api/v1/credits: money moves between users, or into a user from a system account.
import { Router, type Request } from 'express';
import { z } from 'zod';
import { DomainError } from '../../domain/errors';
import { isIdempotencyKey } from '../../domain/transfer';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { Amount, Currency, IdempotencyKey, parseWith, Timestamp, Uid } from '../schemas';
import { findTransfer, submitTransfer, type TransferView } from '../transfers';

const TransferRequest = z
  .object({ sourceUid: Uid, targetUid: Uid, amount: Amount, currency: Currency.optional() })
  .meta({ id: 'TransferRequest', description: 'currency defaults to the ledger\'s default currency (CNY).' });

const CreditRequest = z.object({ uid: Uid, amount: Amount, currency: Currency.optional() }).meta({ id: 'CreditRequest' });

const Transfer = z
  .object({
    id: z.string().meta({ example: 'transfer-order-20240723-0001' }),
    object: z.literal('transfer'),
    kind: z.enum(['transfer', 'credit']),
    sourceUid: z.number().int().optional(),
    sourceAccount: z.string().optional().meta({ description: 'The system account a credit comes from.', example: 'external:bank' }),
    targetUid: z.number().int().optional(),
    amount: z.string().optional().meta({ example: '100.50' }),
    currency: z.string().optional().meta({ example: 'CNY' }),
    status: z.enum(['processing', 'pending', 'posted', 'voided', 'failed']),
    createdAt: Timestamp.optional(),
    workflowId: z.string(),
    error: z.object({ code: z.string(), message: z.string() }).optional().meta({ description: 'Why a failed transfer failed.' }),
  })
  .meta({ id: 'Transfer' });

const IdempotencyHeaders = z.object({ 'idempotency-key': IdempotencyKey });

const present = (view: TransferView) => ({ object: 'transfer' as const, ...view });

function idempotencyKeyOf(req: Request): string {
  const key = req.get('idempotency-key');
  if (key === undefined || key.trim() === '') throw new DomainError('idempotency_key_missing', 'the Idempotency-Key header is required');
  if (!isIdempotencyKey(key)) throw new DomainError('invalid_request', 'Idempotency-Key must be 1-100 characters of A-Z a-z 0-9 . _ : -');
  return key;
}

export function transferRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, config } = ctx;
  const router = Router();
  const answered = (view: TransferView) => (view.status === 'processing' ? 202 : 200);
  const moneyResponses = {
    200: { description: 'Posted.', content: { 'application/json': { schema: Transfer } } },
    202: { description: 'Still processing after the wait; poll GET /api/v1/transfers/{id}.', content: { 'application/json': { schema: Transfer } } },
    ...errorResponses(400, 401, 403, 409, 422, 429, 503),
  };

  registry.registerPath({
    method: 'post',
    path: '/api/v1/transfers',
    summary: 'Move money from one user to another',
    description:
      'Starts TransferWorkflow under the workflow ID `transfer-{Idempotency-Key}` and waits a few seconds for its outcome. ' +
      'The same key with the same body gives the same answer; with another body, 409 idempotency_conflict.',
    security: SECURITY,
    request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: TransferRequest } } } },
    responses: moneyResponses,
  });
  router.post('/api/v1/transfers', requireScope('transfers:write'), async (req, res) => {
    const idempotencyKey = idempotencyKeyOf(req);
    const body = parseWith(TransferRequest, req.body, 'body');
    const view = await submitTransfer(ctx, {
      idempotencyKey,
      kind: 'transfer',
      sourceUid: body.sourceUid,
      targetUid: body.targetUid,
      amount: body.amount,
      currency: body.currency ?? config.ledger.defaultCurrency,
    });
    res.status(answered(view)).json(present(view));
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/credits',
    summary: 'Credit a user from the configured system account (admin)',
    description: `Money comes from \`${config.ledger.creditSourceAccount}\`. Same idempotency rules as transfers.`,
    security: SECURITY,
    request: { headers: IdempotencyHeaders, body: { required: true, content: { 'application/json': { schema: CreditRequest } } } },
    responses: moneyResponses,
  });
  router.post('/api/v1/credits', requireScope('admin'), async (req, res) => {
    const idempotencyKey = idempotencyKeyOf(req);
    const body = parseWith(CreditRequest, req.body, 'body');
    const view = await submitTransfer(ctx, {
      idempotencyKey,
      kind: 'credit',
      targetUid: body.uid,
      amount: body.amount,
      currency: body.currency ?? config.ledger.defaultCurrency,
    });
    res.status(answered(view)).json(present(view));
  });

  const TransferParams = z.object({ id: z.string().max(128).meta({ example: 'transfer-order-20240723-0001' }) });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/transfers/{id}',
    summary: 'A transfer: from the ledger once written, else the state of its workflow',
    security: SECURITY,
    request: { params: TransferParams },
    responses: {
      200: { description: 'The transfer (status processing or failed while only its workflow knows it).', content: { 'application/json': { schema: Transfer } } },
      ...errorResponses(401, 403, 404, 429, 503),
    },
  });
  router.get('/api/v1/transfers/:id', requireScope('transfers:read'), async (req, res) => {
    const id = String(req.params.id);
    const view = id.length <= 128 ? await findTransfer(ctx, id) : undefined;
    if (!view) throw new DomainError('not_found', `no transfer ${id}`);
    res.json(present(view));
  });

  return router;
}
