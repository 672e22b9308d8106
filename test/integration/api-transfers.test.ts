// POST /api/v1/transfers, /api/v1/credits, GET /api/v1/transfers/:id, balances, users and workflows, through real HTTP.
import { randomUUID } from 'node:crypto';
import { checkInvariants, countTransfers, getBalances } from '../../db/ledger';
import { userAccount } from '../../domain/ledger';
import { transferWorkflowId } from '../../domain/transfer';
import { startTestApp, TEST_KEYS, type TestApp } from '../support/app';
import { freshUid, givenUser } from '../support/ledger';
import { useWorkerAndApp } from '../support/suites';

let app: TestApp;
useWorkerAndApp((started) => (app = started));

const newKey = () => `test-${randomUUID()}`;

async function available(uid: number): Promise<string> {
  const [balance] = await getBalances(app.db, [userAccount(uid)], 'CNY');
  return balance.available;
}

function transfer(key: string | undefined, body: unknown) {
  return app.api('/api/v1/transfers', { body, headers: key === undefined ? {} : { 'idempotency-key': key } });
}

describe('POST /api/v1/transfers', () => {
  test('moves the amount from source to target and answers the posted transfer', async () => {
    // given
    const source = await givenUser(app.db, { balance: '500' });
    const target = await givenUser(app.db);
    const key = newKey();
    // when
    const res = await transfer(key, { sourceUid: source, targetUid: target, amount: '100.50' });
    // then
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: transferWorkflowId(key),
      object: 'transfer',
      kind: 'transfer',
      sourceUid: source,
      targetUid: target,
      amount: '100.50',
      currency: 'CNY',
      status: 'posted',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      workflowId: transferWorkflowId(key),
    });
    expect(await available(source)).toBe('399.5');
    expect(await available(target)).toBe('100.5');
  });

  test('lets exactly the covered half of 200 concurrent requests out of one account through, never below zero', async () => {
    // given an account that covers 100 of 200 transfers of 1.00
    const source = await givenUser(app.db, { balance: '100.00' });
    const targets = await Promise.all(Array.from({ length: 5 }, () => givenUser(app.db)));
    // when 200 requests arrive at once
    const responses = await Promise.all(
      Array.from({ length: 200 }, (_, i) => transfer(newKey(), { sourceUid: source, targetUid: targets[i % 5], amount: '1.00' })),
    );
    // then exactly the covered ones are posted and the rest are refused as insufficient_funds
    const outcomes = responses.map((r) => (r.status === 200 ? r.body.status : `${r.status} ${r.body.error?.code}`));
    const tally = outcomes.reduce<Record<string, number>>((acc, o) => ({ ...acc, [o]: (acc[o] ?? 0) + 1 }), {});
    expect(tally).toEqual({ posted: 100, '422 insufficient_funds': 100 });
    expect(await available(source)).toBe('0');
    expect((await checkInvariants(app.db)).violations).toEqual([]);
  });

  test('accepts an amount sent as a JSON number that a double holds exactly', async () => {
    const source = await givenUser(app.db, { balance: '10' });
    const target = await givenUser(app.db);
    const res = await transfer(newKey(), `{"sourceUid":${source},"targetUid":${target},"amount":2.50}`);
    expect(res.status).toBe(200);
    expect(res.body.amount).toBe('2.50');
    expect(await available(target)).toBe('2.5');
  });

  test('gives the same answer and moves the money once when the same key is sent twice', async () => {
    const source = await givenUser(app.db, { balance: '100' });
    const target = await givenUser(app.db);
    const key = newKey();
    const body = { sourceUid: source, targetUid: target, amount: '30' };

    const first = await transfer(key, body);
    const before = await countTransfers(app.db);
    const second = await transfer(key, { ...body, amount: 30 });

    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(await countTransfers(app.db)).toBe(before);
    expect(await available(source)).toBe('70');
  });

  test('refuses the same key with a different body with 409 idempotency_conflict and changes nothing', async () => {
    const source = await givenUser(app.db, { balance: '100' });
    const target = await givenUser(app.db);
    const key = newKey();
    await transfer(key, { sourceUid: source, targetUid: target, amount: '30' });
    const before = await countTransfers(app.db);

    const res = await transfer(key, { sourceUid: source, targetUid: target, amount: '31' });

    expect(res.status).toBe(409);
    expect(res.body.error).toMatchObject({ code: 'idempotency_conflict', requestId: res.headers.get('x-request-id') });
    expect(await countTransfers(app.db)).toBe(before);
    expect(await available(source)).toBe('70');
  });

  test('answers 422 insufficient_funds, changes no balance, and gives the same answer on a retry', async () => {
    const source = await givenUser(app.db, { balance: '10' });
    const target = await givenUser(app.db);
    const key = newKey();
    const before = await countTransfers(app.db);

    const res = await transfer(key, { sourceUid: source, targetUid: target, amount: '10.01' });
    const retry = await transfer(key, { sourceUid: source, targetUid: target, amount: '10.01' });

    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('insufficient_funds');
    expect(retry.status).toBe(422);
    expect(retry.body.error.code).toBe('insufficient_funds');
    expect(await countTransfers(app.db)).toBe(before);
    expect(await available(source)).toBe('10');
    expect(await available(target)).toBe('0');
  });

  describe('rejects bad input with a clear 4xx, writes nothing and starts no workflow', () => {
    let source: number;
    let target: number;
    beforeAll(async () => {
      source = await givenUser(app.db, { balance: '100' });
      target = await givenUser(app.db);
    });

    const cases: [string, (s: number, t: number) => unknown, number, string][] = [
      ['malformed JSON', (s, t) => `{"sourceUid":${s},"targetUid":${t},"amount":"1"`, 400, 'invalid_json'],
      ['an empty body', () => '', 400, 'invalid_request'],
      ['a missing amount', (s, t) => ({ sourceUid: s, targetUid: t }), 400, 'invalid_request'],
      ['a missing targetUid', (s) => ({ sourceUid: s, amount: '1' }), 400, 'invalid_request'],
      ['an unknown uid', (s) => ({ sourceUid: s, targetUid: freshUid(), amount: '1' }), 422, 'unknown_user'],
      ['a zero amount', (s, t) => ({ sourceUid: s, targetUid: t, amount: '0' }), 400, 'invalid_amount'],
      ['a negative amount', (s, t) => ({ sourceUid: s, targetUid: t, amount: -5 }), 400, 'invalid_amount'],
      ['a non-numeric amount', (s, t) => ({ sourceUid: s, targetUid: t, amount: 'ten' }), 400, 'invalid_amount'],
      ['an amount of the wrong type', (s, t) => ({ sourceUid: s, targetUid: t, amount: true }), 400, 'invalid_amount'],
      ['more decimals than CNY allows', (s, t) => ({ sourceUid: s, targetUid: t, amount: '1.001' }), 400, 'too_many_decimals'],
      ['source equal to target', (s) => ({ sourceUid: s, targetUid: s, amount: '1' }), 400, 'same_account'],
      ['an inexact JSON number', (s, t) => `{"sourceUid":${s},"targetUid":${t},"amount":12345678901234567.89}`, 400, 'amount_not_exact'],
      ['an inexact JSON number as uid', (s) => `{"sourceUid":${s},"targetUid":12345678901234567891,"amount":"1"}`, 400, 'invalid_request'],
      ['a fractional uid', (s) => ({ sourceUid: s, targetUid: 1.5, amount: '1' }), 400, 'invalid_request'],
      ['an unsupported currency', (s, t) => ({ sourceUid: s, targetUid: t, amount: '1', currency: 'XYZ' }), 400, 'unsupported_currency'],
    ];

    test.each(cases)('%s', async (_name, body, status, code) => {
      const key = newKey();
      const before = await countTransfers(app.db);

      const res = await transfer(key, body(source, target));

      expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
      expect(res.body.error.message).toEqual(expect.any(String));
      expect(await countTransfers(app.db)).toBe(before);
      expect(await app.workflowExists(transferWorkflowId(key))).toBe(false);
      expect(await available(source)).toBe('100');
    });

    test('no Idempotency-Key → 400 idempotency_key_missing', async () => {
      const before = await countTransfers(app.db);
      const res = await transfer(undefined, { sourceUid: source, targetUid: target, amount: '1' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('idempotency_key_missing');
      expect(await countTransfers(app.db)).toBe(before);
    });

    test('a malformed Idempotency-Key → 400 invalid_request', async () => {
      const res = await transfer('has spaces/and slashes', { sourceUid: source, targetUid: target, amount: '1' });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    });
  });
});

describe('POST /api/v1/credits', () => {
  test('credits a user from the system account with an admin key', async () => {
    const uid = await givenUser(app.db);
    const key = newKey();
    const res = await app.api('/api/v1/credits', { body: { uid, amount: '250.00' }, headers: { 'idempotency-key': key } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ id: transferWorkflowId(key), kind: 'credit', sourceAccount: 'external:bank', targetUid: uid, amount: '250.00', status: 'posted' });
    expect(await available(uid)).toBe('250');
  });

  test('credits once when the same key is sent twice, answering the same credit', async () => {
    const uid = await givenUser(app.db);
    const key = newKey();
    const first = await app.api('/api/v1/credits', { body: { uid, amount: '40.00' }, headers: { 'idempotency-key': key } });
    const before = await countTransfers(app.db);
    const second = await app.api('/api/v1/credits', { body: { uid, amount: '40.00' }, headers: { 'idempotency-key': key } });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
    expect(await countTransfers(app.db)).toBe(before);
    expect(await available(uid)).toBe('40');
  });

  test('reusing a transfer key for a credit is an idempotency_conflict', async () => {
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const key = newKey();
    await transfer(key, { sourceUid: source, targetUid: target, amount: '1' });
    const res = await app.api('/api/v1/credits', { body: { uid: target, amount: '1' }, headers: { 'idempotency-key': key } });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('idempotency_conflict');
  });

  test('needs the admin scope: a transfers:write key gets 403 and nothing is started', async () => {
    const uid = await givenUser(app.db);
    const key = newKey();
    const res = await app.api('/api/v1/credits', { key: TEST_KEYS.write, body: { uid, amount: '1' }, headers: { 'idempotency-key': key } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect(await app.workflowExists(transferWorkflowId(key))).toBe(false);
  });
});

describe('GET /api/v1/transfers/:id', () => {
  test('shows a posted transfer from the ledger', async () => {
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const key = newKey();
    const posted = await transfer(key, { sourceUid: source, targetUid: target, amount: '1.25' });

    const res = await app.api(`/api/v1/transfers/${transferWorkflowId(key)}`, { key: TEST_KEYS.read });

    expect(res.status).toBe(200);
    expect(res.body).toEqual(posted.body);
  });

  test('shows a failed transfer, which never reached the ledger, with its error', async () => {
    const source = await givenUser(app.db);
    const target = await givenUser(app.db);
    const key = newKey();
    await transfer(key, { sourceUid: source, targetUid: target, amount: '1' });

    const res = await app.api(`/api/v1/transfers/${transferWorkflowId(key)}`, { key: TEST_KEYS.read });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'failed', sourceUid: source, targetUid: target, amount: '1.00', error: { code: 'insufficient_funds' } });
  });

  test('answers 404 not_found for an id nobody used', async () => {
    const res = await app.api(`/api/v1/transfers/transfer-${randomUUID()}`, { key: TEST_KEYS.read });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('a transfer no worker picks up in time', () => {
  test('answers 202 processing, and GET shows it processing', async () => {
    const slow = await startTestApp({ api: { transferWaitMs: 300 }, temporal: { taskQueue: `nobody-polls-${randomUUID()}` } });
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const key = newKey();
    try {
      const res = await slow.api('/api/v1/transfers', { body: { sourceUid: source, targetUid: target, amount: '1' }, headers: { 'idempotency-key': key } });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ id: transferWorkflowId(key), status: 'processing', amount: '1.00' });

      const shown = await slow.api(`/api/v1/transfers/${transferWorkflowId(key)}`);
      expect(shown.body.status).toBe('processing');
      expect(await available(source)).toBe('5');
    } finally {
      await slow.client.workflow.getHandle(transferWorkflowId(key)).terminate('test cleanup');
      await slow.close();
    }
  });
});

describe('a transfer whose workflow an operator terminated', () => {
  test('answers a retry with 409 workflow_ended, not a 5xx, and starts nothing new', async () => {
    const idle = await startTestApp({ api: { transferWaitMs: 0 }, temporal: { taskQueue: `nobody-polls-${randomUUID()}` } });
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const key = newKey();
    const body = { sourceUid: source, targetUid: target, amount: '1' };
    try {
      expect((await idle.api('/api/v1/transfers', { body, headers: { 'idempotency-key': key } })).status).toBe(202);
      const handle = idle.client.workflow.getHandle(transferWorkflowId(key));
      await handle.terminate('an operator stopped it');
      const retry = await idle.api('/api/v1/transfers', { body, headers: { 'idempotency-key': key } });
      expect(retry.status).toBe(409);
      expect(retry.body.error).toMatchObject({ code: 'workflow_ended', message: expect.stringContaining('an operator stopped it') });
      expect((await handle.describe()).status.name).toBe('TERMINATED'); // REJECT_DUPLICATE: no new run was started
      expect(await available(source)).toBe('5');
    } finally {
      await idle.close();
    }
  });
});

describe('GET /api/v1/balances', () => {
  test('lists balance, held and available of each user in the order asked', async () => {
    const a = await givenUser(app.db, { balance: '12.3' });
    const b = await givenUser(app.db);
    const res = await app.api(`/api/v1/balances?uids=${a},${b}&currency=CNY`, { key: TEST_KEYS.read });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      object: 'list',
      data: [
        { uid: a, currency: 'CNY', balance: '12.30', held: '0.00', available: '12.30' },
        { uid: b, currency: 'CNY', balance: '0.00', held: '0.00', available: '0.00' },
      ],
    });
  });

  test('answers 422 unknown_user when a uid is not registered', async () => {
    const a = await givenUser(app.db);
    const res = await app.api(`/api/v1/balances?uids=${a},${freshUid()}`, { key: TEST_KEYS.read });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('unknown_user');
  });

  test('answers 400 for malformed uids or an unsupported currency', async () => {
    expect((await app.api('/api/v1/balances?uids=1,abc')).body.error.code).toBe('invalid_request');
    expect((await app.api('/api/v1/balances')).body.error.code).toBe('invalid_request');
    expect((await app.api('/api/v1/balances?uids=1&currency=XYZ')).body.error.code).toBe('unsupported_currency');
  });
});

describe('POST /api/v1/users', () => {
  test('creates a user with 201, and answers 200 with the stored user the second time', async () => {
    const uid = freshUid();
    const first = await app.api('/api/v1/users', { body: { uid, name: 'Ada' } });
    const second = await app.api('/api/v1/users', { body: { uid, name: 'Someone else' } });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ object: 'user', uid, name: 'Ada', createdAt: expect.any(String) });
    expect(second.status).toBe(200);
    expect(second.body).toEqual(first.body);
  });

  test('needs the admin scope', async () => {
    const res = await app.api('/api/v1/users', { key: TEST_KEYS.write, body: { uid: freshUid() } });
    expect(res.status).toBe(403);
  });

  test('rejects a uid that is not a positive integer', async () => {
    const res = await app.api('/api/v1/users', { body: { uid: -3 } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });
});

describe('GET /api/v1/workflows/:workflowId', () => {
  test("shows a completed transfer's run, its result, its status query and a link to its history", async () => {
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const key = newKey();
    await transfer(key, { sourceUid: source, targetUid: target, amount: '2' });
    const workflowId = transferWorkflowId(key);

    const res = await app.api(`/api/v1/workflows/${workflowId}`, { key: TEST_KEYS.read });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      workflowId,
      runId: expect.any(String),
      type: 'TransferWorkflow',
      status: 'COMPLETED',
      startTime: expect.any(String),
      closeTime: expect.any(String),
      result: { transferId: workflowId, targetUid: target, state: 'posted' },
      query: { transferId: workflowId, status: 'posted' },
    });
    expect(res.body.temporalUiUrl).toBe(`${app.config.temporal.uiUrl}/namespaces/${app.config.temporal.namespace}/workflows/${workflowId}/${res.body.runId}/history`);
  });

  test('shows the failure of a failed run', async () => {
    const source = await givenUser(app.db);
    const target = await givenUser(app.db);
    const key = newKey();
    await transfer(key, { sourceUid: source, targetUid: target, amount: '2' });
    const res = await app.api(`/api/v1/workflows/${transferWorkflowId(key)}`, { key: TEST_KEYS.read });
    expect(res.body).toMatchObject({ status: 'FAILED', failure: { type: 'insufficient_funds' } });
  });

  test('answers 404 for an unknown workflow', async () => {
    const res = await app.api(`/api/v1/workflows/nothing-${randomUUID()}`, { key: TEST_KEYS.read });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});
