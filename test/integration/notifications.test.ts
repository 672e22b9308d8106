// NotificationWorkflow on the real worker and Temporal, delivering to a real HTTP receiver: signed webhooks in M2Pool's
// shape, retried while the receiver fails, recorded attempt by attempt, given up after the window, redelivered by an admin.
import { randomBytes } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { insertNotification, recordDeliveryAttempt, requeueNotification } from '../../db/notifications';
import { notificationWorkflowId, type NotificationRequest } from '../../domain/notification';
import type { NotificationWorkflow } from '../../workflows/notification';
import { TEST_KEYS, type TestApp } from '../support/app';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';
import { useWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

let app: TestApp;
let receiver: WebhookReceiver;
// A short window, so the give-up test takes seconds. Temporal spaces an activity's retries by at least a second, whatever
// the backoff asks: attempts come about every second.
useWebhookReceiver((r) => (receiver = r), { retryForMs: 5_000, retryInitialMs: 100, retryMaxMs: 1_000 });
useWorkerAndApp((a) => (app = a));

afterEach(() => receiver.failNext(0));

const TX = `0x${'ab'.repeat(32)}`;

function topupNotice(amount = '100.5', status: 0 | 1 | 2 = 2): NotificationRequest {
  return {
    id: `test-${randomBytes(6).toString('hex')}:${status}`,
    channel: 'topup',
    payload: { address: '0x4e5b2e1dc63f6b91cb6cd759936495434c7e972f', status, chain: 'ETH', symbol: 'USDT', amount, tx_hash: TX },
  };
}

/** Starts the workflow as a parent would (by name, under `notify-{id}`). */
const startNotification = (request: NotificationRequest, options: { conflict?: 'USE_EXISTING' | 'FAIL' } = {}) =>
  app.client.workflow.start<typeof NotificationWorkflow>('NotificationWorkflow', {
    taskQueue: app.config.temporal.taskQueue,
    workflowId: notificationWorkflowId(request.id),
    args: [request],
    workflowIdConflictPolicy: options.conflict ?? 'FAIL',
  });

const deliveriesOf = (id: string) => receiver.deliveries().filter((d) => d.notificationId === id);
const notification = async (id: string) => {
  const res = await app.api(`/api/v1/notifications/${encodeURIComponent(id)}`);
  expect(res.status).toBe(200);
  return res.body;
};

describe('delivery', () => {
  test("delivers a notification once, signed, in M2Pool's shape with the amount as an exact number, and records it", async () => {
    // given
    const request = topupNotice('123456789.123456789012345678');
    // when
    const outcome = await (await startNotification(request)).result();
    // then
    expect(outcome).toEqual({ id: request.id, state: 'delivered', run: 1 });
    const [delivery, ...more] = deliveriesOf(request.id);
    expect(more).toHaveLength(0);
    expect(delivery).toMatchObject({ channel: 'topup', signatureValid: true, answered: 200 });
    expect(delivery.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(delivery.body).toBe(
      `{"address":"0x4e5b2e1dc63f6b91cb6cd759936495434c7e972f","status":2,"chain":"ETH","symbol":"USDT","amount":123456789.123456789012345678,"tx_hash":"${TX}"}`,
    );
    const stored = await notification(request.id);
    expect(stored).toMatchObject({ id: request.id, channel: 'topup', status: 'delivered', payload: request.payload, run: 1, attempts: 1, lastStatusCode: 200, lastError: null, failedAt: null });
    expect(stored.deliveredAt).toEqual(expect.any(String));
    expect(stored.deliveries).toEqual([{ run: 1, attempt: 1, url: `${receiver.url}/topup`, statusCode: 200, error: null, durationMs: expect.any(Number), at: expect.any(String) }]);
  });

  test('keeps retrying while the receiver answers 500, delivers once it answers 200, and records every attempt', async () => {
    // given a receiver that fails twice
    receiver.failNext(2);
    const request = topupNotice();
    // when
    const outcome = await (await startNotification(request)).result();
    // then
    expect(outcome.state).toBe('delivered');
    expect(deliveriesOf(request.id).map((d) => d.answered)).toEqual([500, 500, 200]);
    expect(new Set(deliveriesOf(request.id).map((d) => d.body)).size).toBe(1);
    expect(deliveriesOf(request.id).every((d) => d.signatureValid)).toBe(true);
    const stored = await notification(request.id);
    expect(stored).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200, lastError: null });
    expect(stored.deliveries.map((d: { attempt: number; statusCode: number; error: string | null }) => [d.attempt, d.statusCode, d.error])).toEqual([
      [1, 500, 'HTTP 500: receiver failing on purpose'],
      [2, 500, 'HTTP 500: receiver failing on purpose'],
      [3, 200, null],
    ]);
  });

  test('a notification started twice, at once or after it was delivered, is delivered once', async () => {
    // given
    const request = topupNotice('7', 1);
    // when: two starts at once join one run; a start after it finished makes a run that finds it delivered
    const [first, second] = await Promise.all([startNotification(request, { conflict: 'USE_EXISTING' }), startNotification(request, { conflict: 'USE_EXISTING' })]);
    expect(second.firstExecutionRunId).toBe(first.firstExecutionRunId);
    expect(await first.result()).toMatchObject({ state: 'delivered', run: 1 });
    const again = await startNotification(request);
    // then
    expect(again.firstExecutionRunId).not.toBe(first.firstExecutionRunId);
    expect(await again.result()).toEqual({ id: request.id, state: 'delivered', run: 1 });
    expect(deliveriesOf(request.id)).toHaveLength(1);
    expect((await notification(request.id)).attempts).toBe(1);
  });

  test('the same id with another payload is refused and sends nothing', async () => {
    // given a delivered notification
    const request = topupNotice('1', 1);
    await (await startNotification(request)).result();
    // when the same id comes with another amount
    const other = await startNotification({ ...request, payload: { ...request.payload, amount: '2' } });
    // then
    const failure = await other.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'exists_with_different_fields', nonRetryable: true });
    expect(deliveriesOf(request.id)).toHaveLength(1);
    expect((await notification(request.id)).payload.amount).toBe('1');
  });
});

describe('giving up and redelivery', () => {
  test('is failed once the retry window closes, and an admin redelivers the same body as a new run', async () => {
    // given a receiver that fails throughout the window
    receiver.failNext(1_000_000);
    const request = topupNotice('42.5', 1);
    const outcome = await (await startNotification(request)).result();
    expect(outcome).toEqual({ id: request.id, state: 'failed', run: 1 });
    const failed = await notification(request.id);
    expect(failed).toMatchObject({ status: 'failed', run: 1, lastStatusCode: 500, lastError: 'HTTP 500: receiver failing on purpose', deliveredAt: null });
    expect(failed.attempts).toBeGreaterThanOrEqual(3);
    expect(failed.failedAt).toEqual(expect.any(String));
    const listed = await app.api('/api/v1/notifications?channel=topup&status=failed&limit=100');
    expect(listed.body.data.map((n: { id: string }) => n.id)).toContain(request.id);
    // when the receiver is back and an admin redelivers
    receiver.failNext(0);
    const res = await app.api(`/api/v1/notifications/${encodeURIComponent(request.id)}/redeliver`, { method: 'POST' });
    // then
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ id: request.id, status: 'pending', run: 2 });
    const delivered = await waitFor('the redelivery', async () => {
      const n = await notification(request.id);
      return n.status === 'delivered' ? n : undefined;
    });
    expect(delivered.run).toBe(2);
    expect(delivered.deliveries.filter((d: { run: number }) => d.run === 2)).toEqual([expect.objectContaining({ attempt: 1, statusCode: 200, error: null })]);
    const sent = deliveriesOf(request.id);
    expect(sent.filter((d) => d.answered === 200)).toHaveLength(1);
    expect(new Set(sent.map((d) => d.body)).size).toBe(1);
    expect(await app.client.workflow.getHandle(notificationWorkflowId(request.id)).result()).toEqual({ id: request.id, state: 'delivered', run: 2 });
  });

  test('a redelivery asked for while a delivery is under way joins it instead of starting another', async () => {
    // given a notification being retried
    receiver.failNext(1_000_000);
    const request = topupNotice('3', 0);
    const handle = await startNotification(request);
    await receiver.waitForDeliveries(1, (d) => d.notificationId === request.id && d.answered === 500);
    // when
    const res = await app.api(`/api/v1/notifications/${encodeURIComponent(request.id)}/redeliver`, { method: 'POST' });
    receiver.failNext(0);
    // then
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pending', run: 1 });
    expect(await handle.result()).toEqual({ id: request.id, state: 'delivered', run: 1 });
    expect(deliveriesOf(request.id).filter((d) => d.answered === 200)).toHaveLength(1);
  });
});

describe('recording attempts while an admin redelivers', () => {
  test('an attempt recorded and a redelivery asked for at the same moment never deadlock, 200 times over', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 200; i++) {
      const id = `race-${randomBytes(6).toString('hex')}:2`;
      await insertNotification(app.db, { id, channel: 'topup', payload: topupNotice().payload, payloadDigest: 'd', body: '{}', workflowId: null }, false);
      await app.db('notifications').where({ id }).update({ state: 'failed' });
      const attempt = { notificationId: id, run: 1, attempt: 1, channel: 'topup' as const, url: 'http://127.0.0.1:1/', statusCode: 500, error: 'HTTP 500', durationMs: 3 };
      const outcomes = await Promise.allSettled([recordDeliveryAttempt(app.db, attempt), requeueNotification(app.db, id)]);
      for (const o of outcomes) if (o.status === 'rejected') failures.push((o.reason as Error).message);
    }
    expect(failures).toEqual([]);
  });
});

describe('the admin API', () => {
  test('lists by channel and status, newest first, a page at a time', async () => {
    // given two delivered notifications of a channel of their own in this file
    const ids: string[] = [];
    for (const amount of ['5', '6']) {
      const request: NotificationRequest = { id: `test-${randomBytes(6).toString('hex')}:final`, channel: 'withdraw', payload: { queue_id: `w_${amount}`, status: 1, amount, chain: 'ETH', symbol: 'USDT', tx_hash: TX } };
      await (await startNotification(request)).result();
      ids.push(request.id);
    }
    // when
    const first = await app.api('/api/v1/notifications?channel=withdraw&status=delivered&limit=1');
    const second = await app.api(`/api/v1/notifications?channel=withdraw&status=delivered&limit=1&after=${first.body.nextCursor}`);
    // then
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ object: 'list', hasMore: true, data: [{ id: ids[1], channel: 'withdraw', status: 'delivered', workflowId: notificationWorkflowId(ids[1]) }] });
    expect(second.body.data.map((n: { id: string }) => n.id)).toEqual([ids[0]]);
    expect(deliveriesOf(ids[0])[0]).toMatchObject({ channel: 'withdraw', signatureValid: true });
    expect(deliveriesOf(ids[0])[0].body).toBe(`{"queue_id":"w_5","status":1,"amount":5,"chain":"ETH","symbol":"USDT","tx_hash":"${TX}"}`);
  });

  test('is for admins only, 404 for an unknown id, 400 for a bad filter', async () => {
    expect((await app.api('/api/v1/notifications', { key: TEST_KEYS.write })).status).toBe(403);
    expect((await app.api('/api/v1/notifications', { key: null })).status).toBe(401);
    expect((await app.api('/api/v1/notifications/nope:1/redeliver', { method: 'POST', key: TEST_KEYS.read })).status).toBe(403);
    const unknown = await app.api('/api/v1/notifications/nope:1');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('not_found');
    expect((await app.api('/api/v1/notifications/nope:1/redeliver', { method: 'POST' })).status).toBe(404);
    const bad = await app.api('/api/v1/notifications?status=lost');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('invalid_request');
  });
});
