// POST /onePass/batchPay and /api/v1/batch-payouts…: submit, follow and control batches through real HTTP, worker, ledger and sandbox.
import { randomUUID } from 'node:crypto';
import { checkInvariants, getBalances } from '../../db/ledger';
import { batchBodyLimit } from '../../api/routes/batch-payouts';
import { batchWorkflowId } from '../../domain/batch-payout';
import { userAccount } from '../../domain/ledger';
import { startTestApp, TEST_KEYS, type ApiResponse, type TestApp } from '../support/app';
import { freshUid, givenUser } from '../support/ledger';
import { waitFor } from '../support/processes';
import { payoutSandbox } from '../support/sandbox';
import { useWorkerAndApp } from '../support/suites';

let app: TestApp;
useWorkerAndApp((started) => (app = started));
beforeEach(() => payoutSandbox.reset());
afterEach(async () => expect((await checkInvariants(app.db)).violations).toEqual([]));

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const newBatchId = () => `test-batch-${randomUUID()}`;
const users = (n: number, balance?: string) => Promise.all(Array.from({ length: n }, () => givenUser(app.db, { balance })));
const available = async (uid: number) => (await getBalances(app.db, [userAccount(uid)], 'CNY'))[0].available;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function storedRows(): Promise<{ batches: number; items: number }> {
  const count = async (table: string) => Number((await app.db(table).count({ n: '*' }))[0].n);
  return { batches: await count('batch_payouts'), items: await count('batch_payout_items') };
}

const submit = (body: unknown, options: { key?: string | null; headers?: Record<string, string> } = {}) => app.api('/api/v1/batch-payouts', { body, ...options });
const batchPay = (body: unknown, key: string | null = TEST_KEYS.write) => app.api('/onePass/batchPay', { body, key });
const getBatch = (batchPayId: string) => app.api(`/api/v1/batch-payouts/${batchPayId}`, { key: TEST_KEYS.read });
const control = (batchPayId: string, action: 'pause' | 'resume' | 'cancel', key: string = TEST_KEYS.admin) =>
  app.api(`/api/v1/batch-payouts/${batchPayId}/${action}`, { method: 'POST', key });
const setLimits = (batchPayId: string, body: unknown) => app.api(`/api/v1/batch-payouts/${batchPayId}/limits`, { method: 'PUT', body });

/** Polls GET until the batch reaches `status`; answers the last GET's body. */
async function batchOnceItIs(batchPayId: string, status: string, timeoutMs = 60_000): Promise<ApiResponse['body']> {
  return waitFor(`batch ${batchPayId} to be ${status}`, async () => {
    const res = await getBatch(batchPayId);
    return res.body.status === status && res.body;
  }, timeoutMs);
}

describe('POST /api/v1/batch-payouts', () => {
  test('stores the batch, answers 202 with it, and its workflow pays every item once', async () => {
    // given 20 funded users
    const payees = await users(20, '100.00');
    const batchPayId = newBatchId();
    // when a batch pays each of them 12.34
    const res = await submit({ batchPayId, items: payees.map((uid) => ({ uid, amount: '12.34' })) });
    // then it is accepted as a running batch
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      object: 'batch_payout',
      batchPayId,
      workflowId: batchWorkflowId(batchPayId),
      status: 'running',
      total: 20,
      limits: { min: app.config.batch.minConcurrency, max: app.config.batch.maxConcurrency },
      currency: 'CNY',
      createdAt: expect.stringMatching(ISO),
    });
    // and it completes: every item paid, once, and the money moved
    const done = await batchOnceItIs(batchPayId, 'completed');
    expect(done).toEqual({
      object: 'batch_payout',
      batchPayId,
      workflowId: batchWorkflowId(batchPayId),
      status: 'completed',
      phase: 'done',
      total: 20,
      succeeded: 20,
      failed: 0,
      cancelled: 0,
      inFlight: 0,
      pending: 0,
      concurrency: expect.any(Number),
      limits: { min: 10, max: 60 },
      paidAmount: '246.80',
      currency: 'CNY',
      lastError: null,
      createdAt: res.body.createdAt,
      finishedAt: expect.stringMatching(ISO),
    });
    const items = await app.api(`/api/v1/batch-payouts/${batchPayId}/items`, { key: TEST_KEYS.read });
    expect(items.status).toBe(200);
    expect(items.body).toMatchObject({ object: 'list', hasMore: false, nextCursor: null });
    expect(items.body.data).toHaveLength(20);
    expect(items.body.data[0]).toEqual({
      uid: payees[0],
      seq: 0,
      status: 'paid',
      amount: '12.34',
      requestedAmount: '12.34',
      providerRef: expect.any(String),
      attempts: 1,
      lastError: null,
      updatedAt: expect.stringMatching(ISO),
    });
    expect(items.body.data.map((i: { status: string }) => i.status)).toEqual(Array(20).fill('paid'));
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 20, duplicates: 0 });
    for (const uid of payees) expect(await available(uid)).toBe('87.66');
  });

  test('pays whole balances when given uids, and fails the user who has nothing with the reason', async () => {
    const [a, b, broke] = [...(await users(2, '30.50')), ...(await users(1))];
    const batchPayId = newBatchId();

    const res = await submit({ batchPayId, uids: [a, b, broke] });

    expect(res.status).toBe(202);
    expect(await batchOnceItIs(batchPayId, 'completed')).toMatchObject({ succeeded: 2, failed: 1, paidAmount: '61.00' });
    expect([await available(a), await available(b)]).toEqual(['0', '0']);
    const failed = await app.api(`/api/v1/batch-payouts/${batchPayId}/items?status=failed`, { key: TEST_KEYS.read });
    expect(failed.body.data).toEqual([expect.objectContaining({ uid: broke, status: 'failed', amount: null, requestedAmount: null, lastError: expect.stringContaining('nothing_to_pay') })]);
  });

  test('the same batchPayId and items twice is one batch: 200 the second time, nothing new stored or started', async () => {
    const payees = await users(3, '5');
    const batchPayId = newBatchId();
    const items = payees.map((uid) => ({ uid, amount: '1.5' }));
    const first = await submit({ batchPayId, items });
    const run = await app.client.workflow.getHandle(batchWorkflowId(batchPayId)).describe();
    const rows = await storedRows();

    // the same items in another order, amounts written differently, the Idempotency-Key equal to the batchPayId
    const second = await submit({ batchPayId, items: [...items].reverse().map((i) => ({ ...i, amount: '1.50' })) }, { headers: { 'idempotency-key': batchPayId } });

    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ object: 'batch_payout', batchPayId, total: 3, createdAt: first.body.createdAt });
    expect(await storedRows()).toEqual(rows);
    expect((await app.client.workflow.getHandle(batchWorkflowId(batchPayId)).describe()).runId).toBe(run.runId);
    await batchOnceItIs(batchPayId, 'completed');
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 3, duplicates: 0 });
  });

  test('the same batchPayId with other items is a 409 idempotency_conflict that changes nothing', async () => {
    const payees = await users(2, '5');
    const batchPayId = newBatchId();
    await submit({ batchPayId, items: payees.map((uid) => ({ uid, amount: '1' })) });
    const rows = await storedRows();

    const res = await submit({ batchPayId, items: payees.map((uid) => ({ uid, amount: '2' })) });

    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'idempotency_conflict', message: expect.stringContaining(batchPayId), requestId: res.headers.get('x-request-id') });
    expect(await storedRows()).toEqual(rows);
    await batchOnceItIs(batchPayId, 'completed');
    for (const uid of payees) expect(await available(uid)).toBe('4');
  });

  describe('rejects bad input with a clear 4xx, stores nothing and starts no workflow', () => {
    let payees: number[];
    beforeAll(async () => {
      payees = await users(2, '100');
    });

    const cases: [string, (id: string, p: number[]) => unknown, number, string][] = [
      ['malformed JSON', (id) => `{"batchPayId":"${id}","uids":[1,`, 400, 'invalid_json'],
      ['an empty body', () => '', 400, 'invalid_request'],
      ['no batchPayId', (_id, p) => ({ uids: p }), 400, 'invalid_request'],
      ['a batchPayId with spaces and slashes', (_id, p) => ({ batchPayId: 'batch 1/2', uids: p }), 400, 'invalid_request'],
      ['a batchPayId over 100 characters', (_id, p) => ({ batchPayId: 'b'.repeat(101), uids: p }), 400, 'invalid_request'],
      ['neither items nor uids', (id) => ({ batchPayId: id }), 400, 'invalid_request'],
      ['both items and uids', (id, p) => ({ batchPayId: id, uids: p, items: p.map((uid) => ({ uid, amount: '1' })) }), 400, 'invalid_request'],
      ['empty items', (id) => ({ batchPayId: id, items: [] }), 400, 'invalid_request'],
      ['empty uids', (id) => ({ batchPayId: id, uids: [] }), 400, 'invalid_request'],
      ['a uid twice', (id, p) => ({ batchPayId: id, uids: [p[0], p[1], p[0]] }), 400, 'invalid_request'],
      ['a uid twice among items', (id, p) => ({ batchPayId: id, items: [{ uid: p[0], amount: '1' }, { uid: p[0], amount: '2' }] }), 400, 'invalid_request'],
      ['an unknown uid', (id, p) => ({ batchPayId: id, uids: [p[0], freshUid()] }), 422, 'unknown_user'],
      ['a uid that is not a positive integer', (id, p) => ({ batchPayId: id, uids: [p[0], -4] }), 400, 'invalid_request'],
      ['an item without amount', (id, p) => ({ batchPayId: id, items: [{ uid: p[0] }] }), 400, 'invalid_request'],
      ['a zero amount', (id, p) => ({ batchPayId: id, items: [{ uid: p[0], amount: '1' }, { uid: p[1], amount: '0' }] }), 400, 'invalid_amount'],
      ['a negative amount', (id, p) => ({ batchPayId: id, items: [{ uid: p[0], amount: -5 }] }), 400, 'invalid_amount'],
      ['a non-numeric amount', (id, p) => ({ batchPayId: id, items: [{ uid: p[0], amount: 'ten' }] }), 400, 'invalid_amount'],
      ['more decimals than CNY allows', (id, p) => ({ batchPayId: id, items: [{ uid: p[0], amount: '1.001' }] }), 400, 'too_many_decimals'],
      ['an inexact JSON number', (id, p) => `{"batchPayId":"${id}","items":[{"uid":${p[0]},"amount":12345678901234567.89}]}`, 400, 'amount_not_exact'],
      ['an unsupported currency', (id, p) => ({ batchPayId: id, currency: 'XYZ', uids: p }), 400, 'unsupported_currency'],
    ];

    test.each(cases)('%s', async (_name, body, status, code) => {
      const batchPayId = newBatchId();
      const before = await storedRows();

      const res = await submit(body(batchPayId, payees));

      expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
      expect(res.body.error.message).toEqual(expect.any(String));
      expect(await storedRows()).toEqual(before);
      expect(await app.workflowExists(batchWorkflowId(batchPayId))).toBe(false);
    });

    test('more items than BATCH_MAX_ITEMS → 400 naming the limit (the body itself, about 1 MB, is accepted)', async () => {
      const batchPayId = newBatchId();
      const before = await storedRows();
      const uids = Array.from({ length: app.config.batch.maxItems + 1 }, (_, i) => 10_000_000 + i);

      const res = await submit(`{"batchPayId":"${batchPayId}","uids":[${uids.join(',')}]}`);

      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining(`at most ${app.config.batch.maxItems} items`) });
      expect(await storedRows()).toEqual(before);
      expect(await app.workflowExists(batchWorkflowId(batchPayId))).toBe(false);
    });

    test('an Idempotency-Key other than the batchPayId → 400 invalid_request', async () => {
      const batchPayId = newBatchId();
      const res = await submit({ batchPayId, uids: payees }, { headers: { 'idempotency-key': 'something-else' } });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('Idempotency-Key') });
      expect(await app.workflowExists(batchWorkflowId(batchPayId))).toBe(false);
    });

    test('a body larger than a batch may be, without a key → 401, with a transfers:read key → 403: the key is checked before the body is read', async () => {
      // Bigger than the batch routes' limit and not JSON: read, it would be a 413 or a 400
      const huge = 'x'.repeat(batchBodyLimit(app.config.batch.maxItems) + 1);
      const before = await storedRows();
      for (const [key, status, error] of [[null, 401, 'unauthorized'], [TEST_KEYS.read, 403, 'forbidden']] as const) {
        const resource = await submit(huge, { key });
        const onePass = await batchPay(huge, key);
        expect({ status: resource.status, code: resource.body.error.code }).toEqual({ status, code: error });
        expect({ status: onePass.status, data: onePass.body.data }).toEqual({ status, data: { error } });
      }
      expect(await storedRows()).toEqual(before);
    });

    test('no key → 401, a transfers:read key → 403; nothing stored', async () => {
      const batchPayId = newBatchId();
      const before = await storedRows();
      const none = await submit({ batchPayId, uids: payees }, { key: null });
      const readOnly = await submit({ batchPayId, uids: payees }, { key: TEST_KEYS.read });
      expect([none.status, none.body.error.code]).toEqual([401, 'unauthorized']);
      expect([readOnly.status, readOnly.body.error.code]).toEqual([403, 'forbidden']);
      expect(await storedRows()).toEqual(before);
      expect(await app.workflowExists(batchWorkflowId(batchPayId))).toBe(false);
    });
  });
});

describe('POST /onePass/batchPay', () => {
  test("answers the seed's envelope with data null, and pays each user his whole balance", async () => {
    const [a, b] = await users(2, '50.25');
    const batchPayId = newBatchId();

    const res = await batchPay(`{"batchPayId":"${batchPayId}","uids":[${a},"${b}"]}`);

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ code: 200, msg: 'ok', requestId: expect.stringMatching(UUID), data: null });
    expect(res.text).toBe(`{"code":200,"msg":"ok","requestId":"${res.body.requestId}","data":null}`);
    expect(res.body.requestId).toBe(res.headers.get('x-request-id'));
    expect(await batchOnceItIs(batchPayId, 'completed')).toMatchObject({ succeeded: 2, paidAmount: '100.50' });
    expect([await available(a), await available(b)]).toEqual(['0', '0']);
  });

  test('the same batchPayId again answers ok and starts nothing; with other uids, code 409', async () => {
    const [a, b] = await users(2, '1');
    const batchPayId = newBatchId();
    await batchPay({ batchPayId, uids: [a] });
    const run = await app.client.workflow.getHandle(batchWorkflowId(batchPayId)).describe();
    const rows = await storedRows();

    const again = await batchPay({ batchPayId, uids: [a] });
    const other = await batchPay({ batchPayId, uids: [a, b] });

    expect(again.body).toMatchObject({ code: 200, msg: 'ok', data: null });
    expect(other.status).toBe(409);
    expect(other.body).toEqual({ code: 409, msg: expect.stringContaining(batchPayId), requestId: expect.any(String), data: { error: 'idempotency_conflict' } });
    expect(await storedRows()).toEqual(rows);
    expect((await app.client.workflow.getHandle(batchWorkflowId(batchPayId)).describe()).runId).toBe(run.runId);
    await batchOnceItIs(batchPayId, 'completed');
  });

  test.each([
    ['empty uids', () => ({ uids: [] }), 400, 'invalid_request'],
    ['a uid twice', (a: number) => ({ uids: [a, a] }), 400, 'invalid_request'],
    ['an unknown uid', (a: number) => ({ uids: [a, freshUid()] }), 422, 'unknown_user'],
    ['uids that are not a list', (a: number) => ({ uids: a }), 400, 'invalid_request'],
  ])('%s → the error envelope, nothing stored', async (_name, body, status, error) => {
    const [a] = await users(1, '1');
    const batchPayId = newBatchId();
    const before = await storedRows();

    const res = await batchPay({ batchPayId, ...body(a) });

    expect(res.status).toBe(status);
    expect(res.body).toEqual({ code: status, msg: expect.any(String), requestId: expect.any(String), data: { error } });
    expect(await storedRows()).toEqual(before);
    expect(await app.workflowExists(batchWorkflowId(batchPayId))).toBe(false);
  });

  test('needs the transfers:write scope', async () => {
    const [a] = await users(1, '1');
    const res = await batchPay({ batchPayId: newBatchId(), uids: [a] }, TEST_KEYS.read);
    expect(res.status).toBe(403);
    expect(res.body.data).toEqual({ error: 'forbidden' });
  });
});

describe('GET /api/v1/batch-payouts/:batchPayId and its items', () => {
  let batchPayId: string;
  let payees: number[];
  beforeAll(async () => {
    payees = await users(4, '10');
    const broke = await givenUser(app.db);
    batchPayId = newBatchId();
    await submit({ batchPayId, items: [...payees, broke].map((uid) => ({ uid, amount: '10' })) });
    await batchOnceItIs(batchPayId, 'completed');
  });

  test('pages through the items in batch order with the nextCursor', async () => {
    const page = (query: string) => app.api(`/api/v1/batch-payouts/${batchPayId}/items${query}`, { key: TEST_KEYS.read });
    const first = await page('?limit=2');
    const second = await page(`?limit=2&after=${first.body.nextCursor}`);
    const last = await page(`?limit=2&after=${second.body.nextCursor}`);

    expect(first.body).toMatchObject({ object: 'list', hasMore: true, nextCursor: '1' });
    expect(first.body.data.map((i: { seq: number }) => i.seq)).toEqual([0, 1]);
    expect(second.body.data.map((i: { uid: number }) => i.uid)).toEqual(payees.slice(2, 4));
    expect(last.body).toMatchObject({ hasMore: false, nextCursor: null, data: [expect.objectContaining({ seq: 4, status: 'failed' })] });
  });

  test('filters by status', async () => {
    const paid = await app.api(`/api/v1/batch-payouts/${batchPayId}/items?status=paid`, { key: TEST_KEYS.read });
    expect(paid.body.data.map((i: { uid: number }) => i.uid)).toEqual(payees);
    expect(paid.body.data.every((i: { status: string }) => i.status === 'paid')).toBe(true);
  });

  test.each([['status=lost'], ['limit=0'], ['limit=1001'], ['limit=ten'], ['after=-1'], ['status=paid&status=failed']])('?%s → 400 invalid_request', async (query) => {
    const res = await app.api(`/api/v1/batch-payouts/${batchPayId}/items?${query}`, { key: TEST_KEYS.read });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  test('an unknown batch is a 404 not_found, for the batch and its items', async () => {
    const id = newBatchId();
    for (const path of [`/api/v1/batch-payouts/${id}`, `/api/v1/batch-payouts/${id}/items`, `/api/v1/batch-payouts/bad%20id`]) {
      const res = await app.api(path, { key: TEST_KEYS.read });
      expect([res.status, res.body.error.code]).toEqual([404, 'not_found']);
    }
  });
});

describe('pause, resume, cancel and limits (admin)', () => {
  test('pause stops new payouts, resume carries on, cancel voids what was not paid', async () => {
    // given a batch of 200 against a slow provider, narrowed to 2 payouts at a time
    const payees = await users(200, '3');
    await payoutSandbox.configure({ latencyMs: 300, jitterMs: 0 });
    const batchPayId = newBatchId();
    await submit({ batchPayId, items: payees.map((uid) => ({ uid, amount: '3' })) });
    const narrowed = await setLimits(batchPayId, { min: 1, max: 2 });
    expect(narrowed.status).toBe(200);
    expect(narrowed.body).toMatchObject({ object: 'batch_payout', batchPayId, limits: { min: 1, max: 2 } });
    expect(narrowed.body.concurrency).toBeLessThanOrEqual(2);

    // when paused: nothing new goes out
    const paused = await control(batchPayId, 'pause');
    expect([paused.status, paused.body.status]).toEqual([200, 'paused']);
    expect((await getBatch(batchPayId)).body.status).toBe('paused');
    await sleep(1500); // payouts in flight land
    const whilePaused = (await payoutSandbox.executions(batchPayId)).total;
    await sleep(1000);
    expect((await payoutSandbox.executions(batchPayId)).total).toBe(whilePaused);

    // when resumed: payouts go on; resuming a running batch is refused
    const resumed = await control(batchPayId, 'resume');
    expect([resumed.status, resumed.body.status]).toEqual([200, 'running']);
    await waitFor('payouts after resume', async () => (await payoutSandbox.executions(batchPayId)).total > whilePaused + 2);
    const again = await control(batchPayId, 'resume');
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: 'invalid_batch_state', message: expect.stringContaining('only a paused or failed batch can be resumed') });

    // when cancelled: in-flight payouts finish, the rest is cancelled and the holds voided
    await payoutSandbox.configure({ latencyMs: 10 });
    const cancelling = await control(batchPayId, 'cancel');
    expect([cancelling.status, cancelling.body.status]).toEqual([200, 'cancelling']);
    const cancelled = await batchOnceItIs(batchPayId, 'cancelled');
    const executed = (await payoutSandbox.executions(batchPayId)).total;
    expect(executed).toBeLessThan(200);
    expect(cancelled).toMatchObject({ phase: 'done', succeeded: executed, cancelled: 200 - executed, failed: 0, inFlight: 0, pending: 0 });
    const balances = await Promise.all(payees.map(available));
    expect(balances.filter((b) => b === '3')).toHaveLength(200 - executed);
    expect(balances.filter((b) => b === '0')).toHaveLength(executed);

    // and a finished batch refuses every control
    for (const action of ['pause', 'resume', 'cancel'] as const) {
      const res = await control(batchPayId, action);
      expect([res.status, res.body.error.code]).toEqual([409, 'invalid_batch_state']);
    }
  });

  test.each([
    ['min below 1', { min: 0, max: 5 }],
    ['max above 200', { min: 1, max: 201 }],
    ['min above max', { min: 6, max: 5 }],
    ['fractional bounds', { min: 1.5, max: 5 }],
    ['a missing max', { min: 1 }],
  ])('limits with %s → 400 invalid_request', async (_name, body) => {
    const res = await setLimits(newBatchId(), body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  test('controls on an unknown batch are 404 not_found', async () => {
    const id = newBatchId();
    for (const res of [await control(id, 'pause'), await control(id, 'resume'), await control(id, 'cancel'), await setLimits(id, { min: 1, max: 5 })]) {
      expect([res.status, res.body.error.code]).toEqual([404, 'not_found']);
    }
  });

  test('need the admin scope: a transfers:write key gets 403 and the batch goes on', async () => {
    const payees = await users(2, '1');
    const batchPayId = newBatchId();
    await submit({ batchPayId, items: payees.map((uid) => ({ uid, amount: '1' })) });
    for (const action of ['pause', 'resume', 'cancel'] as const) {
      const res = await control(batchPayId, action, TEST_KEYS.write);
      expect([res.status, res.body.error.code]).toEqual([403, 'forbidden']);
    }
    const limits = await app.api(`/api/v1/batch-payouts/${batchPayId}/limits`, { method: 'PUT', key: TEST_KEYS.write, body: { min: 1, max: 2 } });
    expect(limits.status).toBe(403);
    expect(await batchOnceItIs(batchPayId, 'completed')).toMatchObject({ succeeded: 2 });
  });
});

describe('a batch the payout provider refuses', () => {
  test('is failed with the reason and holds nothing; resumed once the credentials are fixed, it pays every item once', async () => {
    // given a provider that refuses the engine's credentials
    const payees = await users(3, '8');
    await payoutSandbox.configure({ credentialsRevoked: true });
    const batchPayId = newBatchId();

    // when a batch is submitted, it fails at batchPayBegin, with the provider's answer as the reason
    expect((await submit({ batchPayId, items: payees.map((uid) => ({ uid, amount: '8' })) })).status).toBe(202);
    const failed = await batchOnceItIs(batchPayId, 'failed');
    expect(failed).toMatchObject({ phase: 'begin', pending: 3, inFlight: 0, succeeded: 0, lastError: expect.stringMatching(/batchPayBegin: 401 credentials revoked/), finishedAt: null });
    expect(await Promise.all(payees.map(available))).toEqual(['8', '8', '8']);
    const paused = await control(batchPayId, 'pause');
    expect([paused.status, paused.body.error.code]).toEqual([409, 'invalid_batch_state']);

    // when the credentials are fixed and ops resume it, it is paid, once; the reason it failed stays on record
    await payoutSandbox.configure({ credentialsRevoked: false });
    const resumed = await control(batchPayId, 'resume');
    expect([resumed.status, resumed.body.status]).toEqual([200, 'running']);
    expect(await batchOnceItIs(batchPayId, 'completed')).toMatchObject({ succeeded: 3, paidAmount: '24.00', lastError: failed.lastError });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 3, duplicates: 0 });
    expect(await Promise.all(payees.map(available))).toEqual(['0', '0', '0']);
  });
});

describe('a batch no worker picks up', () => {
  test('GET answers from the read model within a couple of seconds; a control is a 503 workflow_unavailable', async () => {
    const idle = await startTestApp({ temporal: { taskQueue: `nobody-polls-${randomUUID()}` } });
    const [a] = await users(1, '1');
    const batchPayId = newBatchId();
    try {
      expect((await idle.api('/api/v1/batch-payouts', { body: { batchPayId, uids: [a] } })).status).toBe(202);

      const started = Date.now();
      const shown = await idle.api(`/api/v1/batch-payouts/${batchPayId}`);
      expect(Date.now() - started).toBeLessThan(3000);
      expect(shown.body).toMatchObject({ status: 'running', phase: 'begin', pending: 1, concurrency: 60 });

      const paused = await idle.api(`/api/v1/batch-payouts/${batchPayId}/pause`, { method: 'POST' });
      expect([paused.status, paused.body.error.code]).toEqual([503, 'workflow_unavailable']);
      expect(await available(a)).toBe('1');
    } finally {
      await idle.client.workflow.getHandle(batchWorkflowId(batchPayId)).terminate('test cleanup');
      await idle.close();
    }
  });
});
