// /api/v1/batch-payouts: submit a batch, follow its progress and items, and pause / resume / cancel / tune it (admin).
import { Router } from 'express';
import { z } from 'zod';
import type { BatchItemStatus } from '../../domain/batch-payout';
import { DomainError } from '../../domain/errors';
import type { RouteContext } from '../app';
import { CONCURRENCY_CEILING } from '../../domain/batch-payout';
import { controlBatch, findBatch, listBatchItems, submitBatch, type BatchView } from '../batch-payouts';
import { errorResponses, SECURITY } from '../openapi';
import { Amount, Currency, parseWith, Timestamp, Uid } from '../schemas';

/** Whether a request goes to one of the two routes that take a whole batch in one body (Express matches paths case-insensitively, with or without a final slash). */
export const takesBatchBody = (path: string): boolean => /^\/(api\/v1\/batch-payouts|onepass\/batchpay)\/?$/i.test(path);
/** How big that body may be: about 100 bytes of JSON per item at most (`{"uid":9007199254740991,"amount":"…"}` and some whitespace). */
export const batchBodyLimit = (maxItems: number): number => maxItems * 100 + 64 * 1024;

const ITEM_STATUSES = Object.keys({
  pending: 1,
  held: 1,
  retry: 1,
  paid: 1,
  failed: 1,
  rejected: 1,
  cancelled: 1,
} satisfies Record<BatchItemStatus, 1>) as [BatchItemStatus, ...BatchItemStatus[]];

export const BatchPayId = z
  .string()
  .meta({ description: 'The caller\'s id of the batch and its idempotency key: 1-100 characters of A-Z a-z 0-9 . _ : -', example: 'batch_20240723_001' });

const BatchPayoutRequest = z
  .object({
    batchPayId: BatchPayId,
    currency: Currency.optional(),
    items: z.array(z.object({ uid: Uid, amount: Amount })).optional().meta({ description: 'Each payee and the amount to pay him.' }),
    uids: z.array(Uid).optional().meta({ description: 'Payees each paid his whole available balance at the moment his hold is taken.' }),
  })
  .refine((b) => (b.items === undefined) !== (b.uids === undefined), { message: 'give exactly one of items and uids' })
  .meta({
    id: 'BatchPayoutRequest',
    description: 'Either `items` or `uids`. currency defaults to the ledger\'s default currency (CNY).',
    example: { batchPayId: 'batch_20240723_001', items: [{ uid: 1001, amount: '100.50' }, { uid: 1002, amount: '20.00' }] },
  });

const Limits = z.object({ min: z.number().int(), max: z.number().int() }).meta({ id: 'BatchConcurrencyLimits', example: { min: 10, max: 60 } });

const LimitsRequest = z
  .object({
    min: z.number().int().min(1).meta({ example: 10 }),
    max: z.number().int().max(CONCURRENCY_CEILING).meta({ example: 60 }),
  })
  .refine((l) => l.min <= l.max, { message: 'min must not exceed max' })
  .meta({ id: 'BatchConcurrencyLimitsRequest', description: `1 ≤ min ≤ max ≤ ${CONCURRENCY_CEILING}.` });

const Count = z.number().int();

const BatchPayout = z
  .object({
    object: z.literal('batch_payout'),
    batchPayId: z.string(),
    workflowId: z.string().meta({ example: 'batchpay-batch_20240723_001' }),
    status: z.enum(['running', 'paused', 'cancelling', 'failed', 'completed', 'cancelled']).meta({
      description:
        'failed: the payout provider refused the engine itself (credentials, a conflicting request); nothing more is sent, the holds of ' +
        'items never sent are given back, items that may have been paid wait for the provider\'s answer. Fix the cause, then resume or cancel.',
    }),
    phase: z.enum(['begin', 'fast', 'slow', 'finish', 'done']),
    total: Count,
    succeeded: Count.meta({ description: 'Paid.' }),
    failed: Count.meta({ description: 'Never sent (insufficient funds, nothing to pay) or rejected by the provider for good.' }),
    cancelled: Count.meta({ description: 'Stopped by the batch\'s cancellation before being paid.' }),
    inFlight: Count.meta({ description: 'Held and being sent, or to be sent again with the same request id.' }),
    pending: Count.meta({ description: 'Not reached yet.' }),
    concurrency: Count.meta({ description: 'Payouts in flight the batch currently allows.' }),
    limits: Limits,
    paidAmount: z.string().meta({ example: '120.50' }),
    currency: z.string().meta({ example: 'CNY' }),
    lastError: z.string().nullable().meta({ description: 'Why the provider last refused the batch; kept after a resume.' }),
    createdAt: Timestamp,
    finishedAt: Timestamp.nullable(),
  })
  .meta({ id: 'BatchPayout', description: 'Counts come from the items\' read model; status, phase and concurrency from the running workflow when it answers.' });

const BatchPayoutItem = z
  .object({
    uid: z.number().int(),
    seq: Count.meta({ description: 'Position in the batch.' }),
    status: z.enum(ITEM_STATUSES),
    amount: z.string().nullable().meta({ description: 'The amount held and paid; null until held.', example: '100.50' }),
    requestedAmount: z.string().nullable().meta({ description: 'null: the whole available balance.', example: '100.50' }),
    providerRef: z.string().nullable(),
    attempts: Count,
    lastError: z.string().nullable(),
    updatedAt: Timestamp,
  })
  .meta({ id: 'BatchPayoutItem' });

const BatchPayoutItemList = z
  .object({ object: z.literal('list'), data: z.array(BatchPayoutItem), hasMore: z.boolean(), nextCursor: z.string().nullable() })
  .meta({ id: 'BatchPayoutItemList' });

const BatchParams = z.object({ batchPayId: BatchPayId });

const ItemsQuery = z.object({
  status: z.enum(ITEM_STATUSES).optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, 'must be an integer from 1 to 1000')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, 'must be an integer from 1 to 1000')
    .optional()
    .meta({ description: 'Items per page, 1-1000 (default 100).', example: '100' }),
  after: z
    .string()
    .regex(/^\d{1,10}$/, 'must be the nextCursor of the previous page')
    .transform(Number)
    .optional()
    .meta({ description: 'The nextCursor of the previous page.' }),
});

const present = (batch: BatchView) => ({ object: 'batch_payout' as const, ...batch });

export function batchPayoutRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, config, db } = ctx;
  const router = Router();
  const batchResponse = (description: string) => ({ description, content: { 'application/json': { schema: BatchPayout } } });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/batch-payouts',
    summary: 'Pay many users through the payout API, asynchronously',
    description:
      `Stores the batch and starts BatchPayoutWorkflow under \`batchpay-{batchPayId}\`; follow it with GET. At most ${config.batch.maxItems} items, ` +
      'each uid once, every uid a registered user. The batchPayId is the idempotency key: the same items again give the same batch (200) and ' +
      'start nothing; other items are 409 idempotency_conflict. An Idempotency-Key header, if sent, must equal batchPayId.',
    security: SECURITY,
    request: {
      headers: z.object({ 'idempotency-key': z.string().optional() }),
      body: { required: true, content: { 'application/json': { schema: BatchPayoutRequest } } },
    },
    responses: {
      202: batchResponse('Stored and started.'),
      200: batchResponse('A batch with this batchPayId and these items already exists: it is answered as it is now.'),
      ...errorResponses(400, 401, 403, 409, 422, 429, 503),
    },
  });
  router.post('/api/v1/batch-payouts', requireScope('transfers:write'), async (req, res) => {
    const body = parseWith(BatchPayoutRequest, req.body, 'body');
    const key = req.get('idempotency-key');
    if (key !== undefined && key !== body.batchPayId) throw new DomainError('invalid_request', 'Idempotency-Key, when sent, must equal batchPayId');
    const { batch, created } = await submitBatch(ctx, {
      batchPayId: body.batchPayId,
      currency: body.currency ?? config.ledger.defaultCurrency,
      items: body.items,
      uids: body.uids,
    });
    res.status(created ? 202 : 200).json(present(batch));
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/batch-payouts/{batchPayId}',
    summary: 'A batch\'s progress',
    security: SECURITY,
    request: { params: BatchParams },
    responses: { 200: batchResponse('The batch.'), ...errorResponses(401, 403, 404, 429, 503) },
  });
  router.get('/api/v1/batch-payouts/:batchPayId', requireScope('transfers:read'), async (req, res) => {
    const batch = await findBatch(ctx, String(req.params.batchPayId));
    if (!batch) throw new DomainError('not_found', `no batch ${req.params.batchPayId}`);
    res.json(present(batch));
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/batch-payouts/{batchPayId}/items',
    summary: 'A batch\'s items, in batch order, a page at a time',
    description: 'Pass the nextCursor of a page as `after` to get the next one; hasMore is false on the last page.',
    security: SECURITY,
    request: { params: BatchParams, query: ItemsQuery },
    responses: {
      200: { description: 'A page of items.', content: { 'application/json': { schema: BatchPayoutItemList } } },
      ...errorResponses(400, 401, 403, 404, 429, 503),
    },
  });
  router.get('/api/v1/batch-payouts/:batchPayId/items', requireScope('transfers:read'), async (req, res) => {
    const query = parseWith(ItemsQuery, req.query, 'query');
    const page = await listBatchItems(db, String(req.params.batchPayId), { status: query.status, after: query.after, limit: query.limit ?? 100 });
    if (!page) throw new DomainError('not_found', `no batch ${req.params.batchPayId}`);
    res.json({ object: 'list', ...page });
  });

  const controlResponses = {
    200: batchResponse('The batch as its workflow sees it once the control is applied.'),
    ...errorResponses(401, 403, 404, 429),
    409: { ...errorResponses(409)[409], description: 'invalid_batch_state: the batch refuses this control now (finished, finishing, or cancelled and so not resumable).' },
    503: { ...errorResponses(503)[503], description: 'workflow_unavailable: the workflow did not take the control in time (no worker?); send it again.' },
  };
  const controls: Record<'pause' | 'resume' | 'cancel', string> = {
    pause: 'Pause a batch: no new payouts start, those in flight finish',
    resume: 'Resume a paused batch, or a failed one once the cause is fixed (it goes on where it stopped)',
    cancel: 'Cancel a batch: no new payouts start, those in flight finish, the holds of the rest are voided',
  };
  for (const action of ['pause', 'resume', 'cancel'] as const) {
    registry.registerPath({
      method: 'post',
      path: `/api/v1/batch-payouts/{batchPayId}/${action}`,
      summary: `${controls[action]} (admin)`,
      security: SECURITY,
      request: { params: BatchParams },
      responses: controlResponses,
    });
    router.post(`/api/v1/batch-payouts/:batchPayId/${action}`, requireScope('admin'), async (req, res) => {
      res.json(present(await controlBatch(ctx, String(req.params.batchPayId), { action })));
    });
  }

  registry.registerPath({
    method: 'put',
    path: '/api/v1/batch-payouts/{batchPayId}/limits',
    summary: 'Change the bounds between which a batch\'s concurrency adapts (admin)',
    security: SECURITY,
    request: { params: BatchParams, body: { required: true, content: { 'application/json': { schema: LimitsRequest } } } },
    responses: { ...controlResponses, ...errorResponses(400) },
  });
  router.put('/api/v1/batch-payouts/:batchPayId/limits', requireScope('admin'), async (req, res) => {
    const limits = parseWith(LimitsRequest, req.body, 'body');
    res.json(present(await controlBatch(ctx, String(req.params.batchPayId), { action: 'setLimits', limits })));
  });

  return router;
}
