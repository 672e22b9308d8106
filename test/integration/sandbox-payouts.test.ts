// The payout provider emulator spoken to through the engine's own client, over real HTTP, as the batch payout activities will.
import { randomBytes } from 'node:crypto';
import { PayoutApiError, signPayoutRequest } from '../../activities/providers/payout-api-client';
import type { PayRequest } from '../../activities/providers/payout-api';
import { loadConfig } from '../../config';
import { freePorts } from '../../scripts/stack/ports';
import { payoutClient, payoutSandbox } from '../support/sandbox';

const { payouts: credentials } = loadConfig(process.env);
let batchSeq = 0;

/** A batch opened at the provider, and pay requests in it. */
async function openBatch(total = 10) {
  const batchPayId = `sbx-${process.pid}-${++batchSeq}`;
  await payoutClient().batchPayBegin(batchPayId, total);
  const item = (uid: number, amount = '10.00', requestId = `${batchPayId}-${uid}`): PayRequest => ({ batchPayId, requestId, uid, amount, currency: 'CNY' });
  return { batchPayId, item };
}

/** A request signed by hand, for the cases the client never makes (a forged or stale signature, a replayed nonce). */
async function signedPost(route: string, body: unknown, sign: { token?: string; timestamp?: number; nonce?: string } = {}) {
  const url = new URL(`${payoutSandbox.apiUrl}${route}`);
  const text = JSON.stringify(body);
  const timestamp = String(sign.timestamp ?? Date.now());
  const nonce = sign.nonce ?? randomBytes(12).toString('base64url');
  const signature = signPayoutRequest(sign.token ?? credentials.token, { appId: credentials.appId, timestamp, nonce, method: 'POST', path: url.pathname, body: text });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-app-id': credentials.appId, 'x-timestamp': timestamp, 'x-nonce': nonce, 'x-signature': signature },
    body: text,
  });
  return { status: res.status, body: (await res.json()) as { code: number; msg: string; data: unknown } };
}

beforeEach(async () => {
  await payoutSandbox.reset();
  await payoutSandbox.configure({ latencyMs: 5, jitterMs: 2, seed: 42 });
});

describe('payout sandbox, through the payout API client', () => {
  it('pays a request id once even when it is sent three times, and answers each time with the same providerRef', async () => {
    const { batchPayId, item } = await openBatch();
    const request = item(1001);

    const concurrent = await Promise.all([payoutClient().pay(request), payoutClient().pay(request)]);
    const again = await payoutClient().pay(request);

    const outcomes = [...concurrent, again];
    expect(outcomes.map((o) => o.status)).toEqual(['paid', 'paid', 'paid']);
    const refs = new Set(outcomes.map((o) => (o.status === 'paid' ? o.providerRef : undefined)));
    expect(refs.size).toBe(1);
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1, distinctItems: 1, duplicates: 0, amount: '10' });
    expect(await payoutSandbox.stats()).toMatchObject({ paid: 1, replayed: 2 });
  });

  it('counts a second execution of the same (batchPayId, uid) under another request id as a duplicate', async () => {
    const { batchPayId, item } = await openBatch();
    await payoutClient().pay(item(1001, '10.00', 'first-attempt'));
    await payoutClient().pay(item(1001, '10.00', 'second-attempt'));

    const executions = await payoutSandbox.executions(batchPayId);
    expect(executions).toMatchObject({ total: 2, distinctItems: 1, duplicates: 1 });
    expect(executions.duplicateItems).toEqual([{ batchPayId, uid: 1001, executions: 2 }]);
  });

  it('a response cut after the payout was made comes back unknown; queryPayout then says paid, and paying again does not pay twice', async () => {
    const { batchPayId, item } = await openBatch();
    await payoutSandbox.configure({ lostResponseRate: 1, lostResponseMode: 'drop' });

    const lost = await payoutClient().pay(item(2001));
    expect(lost.status).toBe('unknown');
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1 });

    await payoutSandbox.configure({ lostResponseRate: 0 });
    const queried = await payoutClient().queryPayout(`${batchPayId}-2001`);
    expect(queried).toEqual({ status: 'paid', providerRef: expect.stringMatching(/^opr_/) });
    expect(await payoutClient().pay(item(2001))).toEqual(queried);
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1, duplicates: 0 });
  });

  it('a response held past the client timeout comes back unknown, and the payout was made', async () => {
    const { batchPayId, item } = await openBatch();
    await payoutSandbox.configure({ lostResponseRate: 1, lostResponseMode: 'delay', lostResponseDelayMs: 5_000 });

    const started = Date.now();
    const outcome = await payoutClient({ timeoutMs: 300 }).pay(item(2002));
    expect(outcome).toEqual({ status: 'unknown', reason: expect.stringContaining('no answer within 300 ms') });
    expect(Date.now() - started).toBeLessThan(2_000);

    await payoutSandbox.configure({ lostResponseRate: 0 });
    expect(await payoutClient().queryPayout(`${batchPayId}-2002`)).toMatchObject({ status: 'paid' });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1 });
  });

  it('answers 429 at once to requests beyond its capacity and executes none of them', async () => {
    const { batchPayId, item } = await openBatch();
    await payoutSandbox.configure({ capacity: 2, latencyMs: 400, jitterMs: 0 });

    const started = Date.now();
    const timed = (request: PayRequest) => payoutClient().pay(request).then((outcome) => ({ outcome, ms: Date.now() - started }));
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => timed(item(3000 + n))));

    const paid = results.filter((r) => r.outcome.status === 'paid');
    const limited = results.filter((r) => r.outcome.status === 'retry');
    expect({ paid: paid.length, limited: limited.length }).toEqual({ paid: 2, limited: 4 });
    for (const { outcome, ms } of limited) {
      expect(outcome).toMatchObject({ status: 'retry', rateLimited: true });
      expect(ms).toBeLessThan(300); // refused at once, not after the latency
    }
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 2 });
    expect(await payoutSandbox.stats()).toMatchObject({ rateLimited: 4, peakInFlight: 2 });
  });

  it('a transient 5xx says retry, executes nothing, and the same request id is paid once sent again', async () => {
    const { batchPayId, item } = await openBatch();
    await payoutSandbox.configure({ failureRate: 1 });

    expect(await payoutClient().pay(item(4001))).toMatchObject({ status: 'retry', rateLimited: false, reason: expect.stringContaining('503') });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 0 });

    await payoutSandbox.configure({ failureRate: 0 });
    expect(await payoutClient().queryPayout(`${batchPayId}-4001`)).toEqual({ status: 'not_found' });
    expect(await payoutClient().pay(item(4001))).toMatchObject({ status: 'paid' });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1 });
  });

  it('takes longer during a slow spell', async () => {
    const { item } = await openBatch();
    await payoutSandbox.configure({ latencyMs: 0, jitterMs: 0, slowSpell: { everyMs: 60_000, durationMs: 60_000, extraLatencyMs: 300 } });

    const started = Date.now();
    expect(await payoutClient().pay(item(4501))).toMatchObject({ status: 'paid' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('a 5xx on batchPayBegin is thrown as a retryable error', async () => {
    await payoutSandbox.configure({ failureRate: 1 });
    const error = await payoutClient().batchPayBegin('sbx-begin-5xx', 3).catch((err) => err);
    expect(error).toBeInstanceOf(PayoutApiError);
    expect(error).toMatchObject({ code: 'unavailable', retryable: true, httpStatus: 503 });
  });

  it('refuses an invalid account for good: rejected, nothing paid, and the same answer on a query and on a retry', async () => {
    const { batchPayId, item } = await openBatch();
    await payoutSandbox.configure({ rejectUids: [666] });

    expect(await payoutClient().pay(item(666))).toEqual({ status: 'rejected', reason: 'account invalid (4001)' });
    expect(await payoutClient().queryPayout(`${batchPayId}-666`)).toEqual({ status: 'rejected', reason: 'account invalid (4001)' });
    expect(await payoutClient().pay(item(666))).toEqual({ status: 'rejected', reason: 'account invalid (4001)' });
    expect(await payoutClient().pay(item(667))).toMatchObject({ status: 'paid' });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1, perItem: [{ batchPayId, uid: 667, executions: 1 }] });
  });

  it('refuses a payout into a batch that was never begun, or that is finished', async () => {
    const unopened: PayRequest = { batchPayId: 'sbx-never-begun', requestId: 'sbx-never-begun-1', uid: 1, amount: '1.00', currency: 'CNY' };
    expect(await payoutClient().pay(unopened)).toEqual({ status: 'rejected', reason: expect.stringContaining('(4004)') });

    const { batchPayId, item } = await openBatch(1);
    await payoutClient().pay(item(5001, '12.50'));
    await payoutClient().batchPayFinish(batchPayId, { paid: 1, failed: 0, amount: '12.50' });
    await payoutClient().batchPayFinish(batchPayId, { paid: 1, failed: 0, amount: '12.5' }); // idempotent
    expect(await payoutClient().pay(item(5002))).toEqual({ status: 'rejected', reason: expect.stringContaining('(4005)') });
    expect(await payoutSandbox.batch(batchPayId)).toMatchObject({
      status: 'finished',
      executed: { count: 1, amount: '12.5' },
      declared: { paid: 1, failed: 0, amount: '12.50' },
    });
  });

  it('refuses the same request id with another amount (409) without paying it again', async () => {
    const { batchPayId, item } = await openBatch();
    await payoutClient().pay(item(6001, '10.00'));

    const error = await payoutClient().pay(item(6001, '99.00')).catch((err) => err);
    expect(error).toMatchObject({ name: 'PayoutApiError', code: 'request_conflict', retryable: false, httpStatus: 409 });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1, amount: '10' });
  });

  it('refuses a bad signature with 401 and pays nothing', async () => {
    const { batchPayId, item } = await openBatch();

    const error = await payoutClient({ token: 'not-the-token-of-this-app' }).pay(item(7001)).catch((err) => err);
    expect(error).toMatchObject({ code: 'unauthorized', retryable: false, httpStatus: 401 });
    expect(String(error.message)).not.toContain(credentials.token);

    const tampered = await signedPost('/pay', item(7002), { token: 'forged-forged-forged' });
    expect(tampered).toMatchObject({ status: 401, body: { code: 401, msg: 'signature mismatch' } });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 0 });
  });

  it('refuses a timestamp older than five minutes, and a nonce used twice', async () => {
    const { batchPayId, item } = await openBatch();

    const stale = await signedPost('/pay', item(8001), { timestamp: Date.now() - 6 * 60_000 });
    expect(stale).toMatchObject({ status: 401, body: { msg: expect.stringContaining('timestamp') } });

    const nonce = randomBytes(12).toString('base64url');
    expect(await signedPost('/pay', item(8002), { nonce })).toMatchObject({ status: 200, body: { code: 200 } });
    expect(await signedPost('/pay', item(8002), { nonce })).toMatchObject({ status: 401, body: { msg: 'nonce already used' } });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1, perItem: [{ batchPayId, uid: 8002, executions: 1 }] });
  });

  it('a provider that cannot be reached says retry: the request never left', async () => {
    const [closedPort] = await freePorts(1);
    const unreachable = payoutClient({ apiUrl: `http://127.0.0.1:${closedPort}/thirdpart/onePass` });
    expect(await unreachable.pay({ batchPayId: 'x', requestId: 'x-1', uid: 1, amount: '1.00', currency: 'CNY' })).toMatchObject({ status: 'retry', rateLimited: false });
  });
});
