// NotificationWorkflow's activities (and a deposit's or payout's, for the first attempt): record the notification, send it
// as a signed webhook (one attempt per activity attempt, each recorded), give a run up.
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { getNotification, insertNotification, markNotificationFailed, recordDeliveryAttempt, type NotificationState } from '../db/notifications';
import { DomainError } from '../domain/errors';
import { webhookBody, webhookSignature } from '../domain/m2pool';
import { notificationWorkflowId, type NotificationRequest } from '../domain/notification';
import { failingAsDomain } from './failures';

export type WebhookSettings = Config['m2pool']['webhooks'];

/** How long one POST may take; NotificationWorkflow's start-to-close timeout of an attempt (30 s) leaves room to record it. */
const WEBHOOK_TIMEOUT_MS = 10_000;
const MAX_ANSWER_SHOWN = 200;

/** What the workflow does next: deliver run `run` with this retry schedule, or nothing (delivered or given up already). */
export interface DeliveryPlan {
  state: NotificationState;
  run: number;
  retryForMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

const digestOf = (request: NotificationRequest): string => createHash('sha256').update(JSON.stringify([request.channel, request.payload])).digest('hex');

function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  if ((err as Error)?.name === 'TimeoutError') return `no answer within ${WEBHOOK_TIMEOUT_MS} ms`;
  return [(err as Error)?.message ?? String(err), cause?.code ?? cause?.message].filter(Boolean).join(': ');
}

export function notifyActivities(db: Db, webhooks: WebhookSettings) {
  return {
    /**
     * Starts the notification's NotificationWorkflow on this worker's task queue, once: a start made before (its workflow ID
     * is taken, running or closed) is not repeated. For a workflow whose last act is the notice: it need not wait, as a
     * child's parent does, for the start to be reported back to it.
     */
    async startNotification(request: NotificationRequest): Promise<void> {
      const { client, info } = Context.current();
      try {
        await client.workflow.start('NotificationWorkflow', {
          taskQueue: info.taskQueue,
          workflowId: notificationWorkflowId(request.id),
          args: [request],
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },

    /**
     * Idempotent by notification id: the first call records it pending, delivered by the calling workflow; later calls (a
     * second start, a redelivery) find it, and the notification's own NotificationWorkflow takes it over. The same id with
     * another payload is exists_with_different_fields.
     */
    async recordNotification(request: NotificationRequest): Promise<DeliveryPlan> {
      return failingAsDomain(async () => {
        const payloadDigest = digestOf(request);
        const workflowId = Context.current().info.workflowExecution?.workflowId ?? null;
        const record = { id: request.id, channel: request.channel, payload: request.payload, payloadDigest, body: webhookBody(request.payload), workflowId };
        const stored = await insertNotification(db, record, workflowId === notificationWorkflowId(request.id));
        if (stored.payloadDigest !== payloadDigest || stored.channel !== request.channel) {
          throw new DomainError('exists_with_different_fields', `notification ${request.id} exists with another channel or payload`);
        }
        return { state: stored.state, run: stored.run, retryForMs: webhooks.retryForMs, retryInitialMs: webhooks.retryInitialMs, retryMaxMs: webhooks.retryMaxMs };
      });
    },

    /**
     * One POST of the stored body to the channel's URL, recorded; throws (to be retried) unless the receiver answers 2xx.
     * Sends nothing once the run is no longer pending: a retry after a recorded success, or a run a redelivery replaced.
     */
    /** One attempt; `priorAttempts` made before this activity's own (a first try as a local activity) number its attempts on. */
    async deliverWebhook(id: string, run: number, priorAttempts = 0): Promise<void> {
      const notification = await getNotification(db, id);
      if (!notification || notification.run !== run || notification.state !== 'pending') return;
      const url = webhooks.urls[notification.channel];
      const started = Date.now();
      let statusCode: number | null = null;
      let error: string | null = null;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'durapay-webhooks/1',
            'durapay-notification-id': id,
            'durapay-signature': webhookSignature(webhooks.secret, notification.body, Math.floor(Date.now() / 1000)),
          },
          body: notification.body,
          redirect: 'manual',
          signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
        });
        statusCode = res.status;
        const answer = (await res.text().catch(() => '')).slice(0, MAX_ANSWER_SHOWN);
        if (res.status < 200 || res.status > 299) error = `HTTP ${res.status}${answer ? `: ${answer}` : ''}`;
      } catch (err) {
        error = describe(err);
      }
      const attempt = priorAttempts + Context.current().info.attempt;
      await recordDeliveryAttempt(db, { notificationId: id, run, attempt, channel: notification.channel, url, statusCode, error, durationMs: Date.now() - started });
      if (error !== null) throw new Error(`webhook ${id} to ${url}: ${error}`);
    },

    /** Idempotent: only a pending notification of this run becomes failed. */
    async giveUpNotification(id: string, run: number, reason: string): Promise<void> {
      await markNotificationFailed(db, id, run, reason);
    },
  };
}
