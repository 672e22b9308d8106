// /onePass/*: seed 001's request and response shapes, byte for byte where numbers are concerned.
import { randomUUID } from 'node:crypto';
import { countTransfers, getBalances } from '../../db/ledger';
import { userAccount } from '../../domain/ledger';
import { transferWorkflowId } from '../../domain/transfer';
import { startTestApp, TEST_KEYS, type TestApp } from '../support/app';
import { freshUid, givenUser } from '../support/ledger';
import { useWorkerAndApp } from '../support/suites';

let app: TestApp;
useWorkerAndApp((started) => (app = started));

async function available(uid: number): Promise<string> {
  const [balance] = await getBalances(app.db, [userAccount(uid)], 'CNY');
  return balance.available;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('POST /onePass/userTrade', () => {
  test('answers the seed envelope with the amount written as 100.50', async () => {
    const source = await givenUser(app.db, { balance: '50000' });
    const target = await givenUser(app.db);

    const res = await app.api('/onePass/userTrade', { key: TEST_KEYS.write, body: { sourceUid: source, targetUid: target, amount: '100.50' } });

    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['code', 'msg', 'requestId', 'data']);
    expect(res.body).toEqual({
      code: 200,
      msg: '交易成功',
      requestId: expect.stringMatching(UUID),
      data: { sourceUid: source, targetUid: target, amount: 100.5, timestamp: expect.any(Number) },
    });
    expect(Object.keys(res.body.data)).toEqual(['sourceUid', 'targetUid', 'amount', 'timestamp']);
    expect(res.text).toContain('"amount":100.50,');
    expect(Math.abs(res.body.data.timestamp - Date.now() / 1000)).toBeLessThan(60);
    expect(res.body.requestId).toBe(res.headers.get('x-request-id'));
    expect(await available(target)).toBe('100.5');
  });

  test('accepts the amount as a JSON number and uids as numeric strings', async () => {
    const source = await givenUser(app.db, { balance: '10' });
    const target = await givenUser(app.db);
    const res = await app.api('/onePass/userTrade', { body: `{"sourceUid":"${source}","targetUid":${target},"amount":3}` });
    expect(res.status).toBe(200);
    expect(res.text).toContain('"amount":3.00,');
    expect(res.body.data.sourceUid).toBe(source);
  });

  test('moves the money once when retried with the same Idempotency-Key', async () => {
    const source = await givenUser(app.db, { balance: '10' });
    const target = await givenUser(app.db);
    const headers = { 'idempotency-key': `onepass-${randomUUID()}` };
    const body = { sourceUid: source, targetUid: target, amount: '4' };
    const first = await app.api('/onePass/userTrade', { body, headers });
    const second = await app.api('/onePass/userTrade', { body, headers });
    expect([first.body.code, second.body.code]).toEqual([200, 200]);
    expect(await available(source)).toBe('6');
  });

  test('answers insufficient funds as HTTP 422 with code 422 and data.error, and changes nothing', async () => {
    const source = await givenUser(app.db, { balance: '1' });
    const target = await givenUser(app.db);
    const before = await countTransfers(app.db);

    const res = await app.api('/onePass/userTrade', { body: { sourceUid: source, targetUid: target, amount: '100.50' } });

    expect(res.status).toBe(422);
    expect(res.body).toEqual({ code: 422, msg: expect.any(String), requestId: expect.any(String), data: { error: 'insufficient_funds' } });
    expect(await countTransfers(app.db)).toBe(before);
    expect(await available(source)).toBe('1');
  });

  test.each([
    ['an inexact JSON number', (s: number, t: number) => `{"sourceUid":${s},"targetUid":${t},"amount":12345678901234567.89}`, 400, 'amount_not_exact'],
    ['malformed JSON', () => '{"sourceUid":', 400, 'invalid_json'],
    ['a missing amount', (s: number, t: number) => ({ sourceUid: s, targetUid: t }), 400, 'invalid_request'],
    ['too many decimals', (s: number, t: number) => ({ sourceUid: s, targetUid: t, amount: '0.001' }), 400, 'too_many_decimals'],
    ['an unknown uid', (s: number) => ({ sourceUid: s, targetUid: freshUid(), amount: '1' }), 422, 'unknown_user'],
    ['source equal to target', (s: number) => ({ sourceUid: s, targetUid: s, amount: '1' }), 400, 'same_account'],
  ])('rejects %s with the envelope and writes nothing', async (_name, body, status, error) => {
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const key = `onepass-${randomUUID()}`;
    const before = await countTransfers(app.db);

    const res = await app.api('/onePass/userTrade', { body: body(source, target), headers: { 'idempotency-key': key } });

    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ code: status, data: { error } });
    expect(await countTransfers(app.db)).toBe(before);
    expect(await app.workflowExists(transferWorkflowId(key))).toBe(false);
  });

  test('answers code 202 with the transfer id when no worker finishes it in time', async () => {
    const slow = await startTestApp({ api: { transferWaitMs: 200 }, temporal: { taskQueue: `nobody-polls-${randomUUID()}` } });
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const key = `onepass-${randomUUID()}`;
    try {
      const res = await slow.api('/onePass/userTrade', { body: { sourceUid: source, targetUid: target, amount: '1.5' }, headers: { 'idempotency-key': key } });
      expect(res.status).toBe(202);
      expect(res.body).toMatchObject({ code: 202, data: { sourceUid: source, targetUid: target, amount: 1.5, transferId: transferWorkflowId(key) } });
      expect(res.text).toContain('"amount":1.50,');
    } finally {
      await slow.client.workflow.getHandle(transferWorkflowId(key)).terminate('test cleanup');
      await slow.close();
    }
  });

  test('needs a key with transfers:write: 401 without, 403 with a read key, in the envelope', async () => {
    const none = await app.api('/onePass/userTrade', { key: null, body: { sourceUid: 1, targetUid: 2, amount: '1' } });
    const readOnly = await app.api('/onePass/userTrade', { key: TEST_KEYS.read, body: { sourceUid: 1, targetUid: 2, amount: '1' } });
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 401, data: { error: 'unauthorized' } });
    expect(readOnly.status).toBe(403);
    expect(readOnly.body).toMatchObject({ code: 403, data: { error: 'forbidden' } });
  });
});

describe('POST /onePass/queryUserAmount', () => {
  test('answers each known user with its available amount as a scaled number, leaving out unknown uids', async () => {
    const rich = await givenUser(app.db, { balance: '50000' });
    const poor = await givenUser(app.db);
    const res = await app.api('/onePass/queryUserAmount', { key: TEST_KEYS.read, body: [rich, poor, freshUid()] });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      code: 200,
      msg: 'ok',
      requestId: expect.any(String),
      data: [
        { uid: rich, amount: 50000 },
        { uid: poor, amount: 0 },
      ],
    });
    expect(res.text).toContain(`{"uid":${rich},"amount":50000.00}`);
    expect(res.text).toContain(`{"uid":${poor},"amount":0.00}`);
  });

  test('writes a large amount without losing a digit', async () => {
    const whale = await givenUser(app.db, { balance: '12345678901234567.89' });
    const res = await app.api('/onePass/queryUserAmount', { body: [String(whale)] });
    expect(res.text).toContain(`{"uid":${whale},"amount":12345678901234567.89}`);
  });

  test('rejects a body that is not an array of uids', async () => {
    const res = await app.api('/onePass/queryUserAmount', { body: { uids: [1] } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 400, data: { error: 'invalid_request' } });
  });
});

describe('POST /onePass/validateBalance', () => {
  test('says whether the available balance matches, and that the account agrees with its journal', async () => {
    const uid = await givenUser(app.db, { balance: '50000' });
    const yes = await app.api('/onePass/validateBalance', { key: TEST_KEYS.read, body: { uid, expectedAmount: 50000.0 } });
    const no = await app.api('/onePass/validateBalance', { key: TEST_KEYS.read, body: { uid, expectedAmount: '49999.99' } });
    expect(yes.status).toBe(200);
    expect(yes.body.data).toEqual({ uid, expectedAmount: 50000, actualAmount: 50000, matches: true, ledgerConsistent: true });
    expect(yes.text).toContain('"actualAmount":50000.00');
    expect(no.body.data).toMatchObject({ matches: false, ledgerConsistent: true });
    expect(no.text).toContain('"expectedAmount":49999.99');
  });

  test('accepts an expected amount of zero for an empty account', async () => {
    const uid = await givenUser(app.db);
    const res = await app.api('/onePass/validateBalance', { body: { uid, expectedAmount: 0 } });
    expect(res.body.data).toMatchObject({ matches: true, actualAmount: 0 });
  });

  test('answers an unknown uid with 422 unknown_user in the envelope', async () => {
    const res = await app.api('/onePass/validateBalance', { body: { uid: freshUid(), expectedAmount: '1' } });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 422, data: { error: 'unknown_user' } });
  });
});
