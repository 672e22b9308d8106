// /api/v1/notifications (admin): the webhooks sent for M2Pool's topup / withdraw / pay results, each with its delivery
// attempts, and their redelivery.
import { Router } from 'express';
import { z } from 'zod';
import { getNotification, listDeliveries, listNotifications, NOTIFICATION_STATES, type DeliveryRecord, type NotificationRecord } from '../../db/notifications';
import { DomainError } from '../../domain/errors';
import { M2POOL_REQUESTS } from '../../domain/m2pool';
import type { RouteContext } from '../app';
import { redeliverNotification } from '../notifications';
import { errorResponses, SECURITY } from '../openapi';
import { parseWith, Timestamp } from '../schemas';

const Channel = z.enum(M2POOL_REQUESTS).meta({ description: "M2Pool's result queue it stands for: topup_resp, withdraw_resp or pay_resp." });
const State = z.enum(NOTIFICATION_STATES).meta({
  description: 'pending: being delivered (retried with backoff for M2POOL_WEBHOOK_RETRY_FOR_MS, 24 h by default); delivered: a 2xx came back; failed: given up (redeliver it).',
});

const Delivery = z
  .object({
    run: z.number().int().meta({ description: '1, then one more per redelivery.' }),
    attempt: z.number().int(),
    url: z.string(),
    statusCode: z.number().int().nullable().meta({ description: 'null: no HTTP answer (refused, timed out).' }),
    error: z.string().nullable().meta({ description: 'null: delivered (2xx).' }),
    durationMs: z.number().int(),
    at: Timestamp,
  })
  .meta({ id: 'WebhookDelivery' });

const NotificationFields = {
  object: z.literal('notification'),
  id: z.string().meta({ description: 'Sent as Durapay-Notification-Id: receivers dedupe by it.', example: 'deposit-31337-0xabc…-0:2' }),
  channel: Channel,
  status: State,
  payload: z.record(z.string(), z.union([z.string(), z.number(), z.null()])).meta({ description: "M2Pool's response shape; amounts as decimal strings here, exact JSON numbers on the wire." }),
  run: z.number().int(),
  attempts: z.number().int().meta({ description: 'Attempts of every run.' }),
  lastStatusCode: z.number().int().nullable(),
  lastError: z.string().nullable(),
  lastAttemptAt: Timestamp.nullable(),
  deliveredAt: Timestamp.nullable(),
  failedAt: Timestamp.nullable(),
  createdAt: Timestamp,
  // The workflow delivering it: its own NotificationWorkflow, or the payout that made the first attempt (and delivered it).
  workflowId: z.string().meta({ example: 'notify-deposit-31337-0xabc…-0:2' }),
};
const Notification = z.object(NotificationFields).meta({ id: 'Notification' });
const NotificationWithDeliveries = z.object({ ...NotificationFields, deliveries: z.array(Delivery) }).meta({ id: 'NotificationWithDeliveries' });
const NotificationList = z
  .object({ object: z.literal('list'), data: z.array(Notification), hasMore: z.boolean(), nextCursor: z.string().nullable() })
  .meta({ id: 'NotificationList' });

const ListQuery = z.object({
  channel: Channel.optional(),
  status: State.optional(),
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'must be an integer from 1 to 100')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 100, 'must be an integer from 1 to 100')
    .optional()
    .meta({ description: 'Per page, 1-100 (default 20).', example: '20' }),
  after: z
    .string()
    .regex(/^\d{1,19}$/, 'must be the nextCursor of the previous page')
    .transform(Number)
    .optional()
    .meta({ description: 'The nextCursor of the previous page.' }),
});
const IdParams = z.object({ id: z.string().min(1).max(191) });

const Amount = z.number().meta({ description: 'Written exactly from a decimal (`100.5`, `0.000001`): read it with a decimal-aware JSON parser, never as a double.', example: 100.5 });
const TxHash = z.string().meta({ example: '0xabc…' });
const WEBHOOK_BODIES = {
  topup: z
    .object({ address: z.string(), status: z.union([z.literal(2), z.literal(1), z.literal(0)]), chain: z.string(), symbol: z.string(), amount: Amount, tx_hash: TxHash })
    .meta({ id: 'M2PoolTopupResp', description: 'topup_resp: 2 seen and waiting for confirmations, then 1 credited (or 0: it left the chain, nothing credited).' }),
  withdraw: z
    .object({ queue_id: z.string(), status: z.union([z.literal(1), z.literal(0)]), amount: Amount, chain: z.string(), symbol: z.string(), tx_hash: TxHash.nullable() })
    .meta({ id: 'M2PoolWithdrawResp', description: 'withdraw_resp: one final notification, 1 sent and confirmed or 0 failed (the balance is given back).' }),
  pay: z
    .object({ queue_id: z.string(), status: z.union([z.literal(1), z.literal(0)]), amount: Amount, chain: z.string(), symbol: z.string(), order_id: z.string(), tx_hash: TxHash.nullable() })
    .meta({ id: 'M2PoolPayResp', description: 'pay_resp: as withdraw_resp, with the order id.' }),
};

const WEBHOOK_DESCRIPTION =
  "POSTed as JSON to the channel's URL (M2POOL_{TOPUP,WITHDRAW,PAY}_WEBHOOK_URL, else M2POOL_WEBHOOK_URL). " +
  '`Durapay-Notification-Id` is the same on every retry and every redelivery: a receiver must dedupe by it, since a delivery whose ' +
  "answer was lost is sent again; a topup's 1 or 0 is final, so a 2 that arrives after it (a redelivery) changes nothing. " +
  '`Durapay-Signature: t=<unix seconds>,v1=<hex>`: v1 is the HMAC-SHA256, with M2POOL_WEBHOOK_SECRET, of `<t>.<raw body>`; recompute it over ' +
  'the raw body as received, compare in constant time, and refuse a t more than 5 minutes from your clock. Answer any 2xx once the ' +
  'notification is stored; anything else, a redirect or no answer within 10 s is retried with backoff (10 s doubling to 1 h) for ' +
  'M2POOL_WEBHOOK_RETRY_FOR_MS (24 h), after which the notification is failed until an admin redelivers it.';

const WebhookHeaders = z.object({
  'durapay-notification-id': z.string().meta({ example: 'deposit-31337-0xabc…-0:2' }),
  'durapay-signature': z.string().meta({ example: 't=1758610297,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd' }),
});

const present = (n: NotificationRecord) => ({
  object: 'notification' as const,
  id: n.id,
  channel: n.channel,
  status: n.state,
  payload: n.payload,
  run: n.run,
  attempts: n.attempts,
  lastStatusCode: n.lastStatusCode,
  lastError: n.lastError,
  lastAttemptAt: n.lastAttemptAt,
  deliveredAt: n.deliveredAt,
  failedAt: n.failedAt,
  createdAt: n.createdAt,
  workflowId: n.workflowId,
});
const withDeliveries = (n: NotificationRecord, deliveries: DeliveryRecord[]) => ({ ...present(n), deliveries });

export function notificationRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db } = ctx;
  const router = Router();

  for (const channel of M2POOL_REQUESTS) {
    registry.registerWebhook({
      method: 'post',
      path: `m2pool-${channel}`,
      summary: `M2Pool's ${channel}_resp, sent by durapay`,
      description: WEBHOOK_DESCRIPTION,
      request: { headers: WebhookHeaders, body: { required: true, content: { 'application/json': { schema: WEBHOOK_BODIES[channel] } } } },
      responses: { 200: { description: 'Any 2xx: taken.' } },
    });
  }

  registry.registerPath({
    method: 'get',
    path: '/api/v1/notifications',
    summary: 'Webhooks sent for M2Pool results (admin), newest first',
    description: 'Filter by channel and status; pass a page\'s nextCursor as `after` for the next one.',
    security: SECURITY,
    request: { query: ListQuery },
    responses: { 200: { description: 'A page.', content: { 'application/json': { schema: NotificationList } } }, ...errorResponses(400, 401, 403, 429, 503) },
  });
  router.get('/api/v1/notifications', requireScope('admin'), async (req, res) => {
    const query = parseWith(ListQuery, req.query, 'query');
    const page = await listNotifications(db, { channel: query.channel, state: query.status, after: query.after, limit: query.limit ?? 20 });
    res.json({ object: 'list', ...page, data: page.data.map(present) });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/notifications/{id}',
    summary: 'A notification and every attempt to deliver it (admin)',
    security: SECURITY,
    request: { params: IdParams },
    responses: {
      200: { description: 'The notification.', content: { 'application/json': { schema: NotificationWithDeliveries } } },
      ...errorResponses(401, 403, 404, 429, 503),
    },
  });
  router.get('/api/v1/notifications/:id', requireScope('admin'), async (req, res) => {
    const { id } = parseWith(IdParams, req.params, 'path');
    const notification = await getNotification(db, id);
    if (!notification) throw new DomainError('not_found', `no notification ${id}`);
    res.json(withDeliveries(notification, await listDeliveries(db, id)));
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/notifications/{id}/redeliver',
    summary: 'Deliver a notification again (admin)',
    description:
      'A new delivery run of the same id and body, retried as the first was. For a failed (or delivered) notification; while one is ' +
      'pending, the run delivering it is joined rather than doubled. Receivers dedupe by Durapay-Notification-Id.',
    security: SECURITY,
    request: { params: IdParams },
    responses: {
      202: { description: 'The run is started (or running); follow it with GET.', content: { 'application/json': { schema: Notification } } },
      ...errorResponses(401, 403, 404, 429, 503),
    },
  });
  router.post('/api/v1/notifications/:id/redeliver', requireScope('admin'), async (req, res) => {
    const { id } = parseWith(IdParams, req.params, 'path');
    res.status(202).json(present(await redeliverNotification(ctx, id)));
  });

  return router;
}
