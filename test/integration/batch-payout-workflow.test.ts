// BatchPayoutWorkflow against the real worker, ledger and the sandbox's payout provider (real signed HTTP).
import type { Client } from '@temporalio/client';
import { getBatch, listItems, PAYOUT_ACCOUNT } from '../../db/batch-payouts';
import type { Db } from '../../db/knex';
import { checkInvariants, getBalances } from '../../db/ledger';
import { batchProgressQuery, cancelBatchUpdate, pauseBatchUpdate, resumeBatchUpdate } from '../../domain/batch-payout';
import { userAccount } from '../../domain/ledger';
import { PaymentStatus } from '../../domain/search-attributes';
import { startBatch } from '../../scripts/fixtures';
import { freshUid, givenUser } from '../support/ledger';
import { waitFor } from '../support/processes';
import { payoutSandbox } from '../support/sandbox';
import { useWorkerAndClient } from '../support/suites';

let db: Db;
let client: Client;
useWorkerAndClient((deps) => ({ db, client } = deps));
beforeEach(() => payoutSandbox.reset());
afterEach(async () => expect((await checkInvariants(db)).violations).toEqual([]));

const available = async (uid: number) => (await getBalances(db, [userAccount(uid)], 'CNY'))[0].available;
const users = (n: number, balance: string) => Promise.all(Array.from({ length: n }, () => givenUser(db, { balance })));
const statuses = async (batchPayId: string) => {
  const items = await listItems(db, batchPayId, { limit: 100_000 });
  return items.reduce<Record<string, number>>((acc, i) => ({ ...acc, [i.status]: (acc[i.status] ?? 0) + 1 }), {});
};

describe('BatchPayoutWorkflow', () => {
  it('pays every item exactly once, posts each hold and finishes the batch at the provider', async () => {
    const payees = await users(50, '100.00');
    const batchPayId = `b-${freshUid()}`;
    const handle = await startBatch(db, client, { batchPayId, items: payees.map((uid) => ({ uid, amount: '12.34' })) });

    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', phase: 'done', total: 50, succeeded: 50, failed: 0, inFlight: 0, paidAmount: '617' });
    expect(await statuses(batchPayId)).toEqual({ paid: 50 });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 50, distinctItems: 50, duplicates: 0 });
    expect(await payoutSandbox.batch(batchPayId)).toMatchObject({ status: 'finished', executed: { count: 50 }, declared: { paid: 50, failed: 0, amount: '617.00' } });
    for (const uid of payees.slice(0, 3)) expect(await available(uid)).toBe('87.66');
  });

  it('pays whole balances when given only uids, and fails the users who have nothing, with the reason', async () => {
    const rich = await users(5, '250.50');
    const [broke] = await users(1, '0');
    const batchPayId = `b-${freshUid()}`;
    const handle = await startBatch(db, client, { batchPayId, items: [...rich, broke].map((uid) => ({ uid })) });
    expect(await handle.result()).toMatchObject({ status: 'completed', succeeded: 5, failed: 1 });
    for (const uid of rich) expect(await available(uid)).toBe('0');
    const [failed] = await listItems(db, batchPayId, { status: 'failed', limit: 10 });
    expect({ uid: Number(failed.uid), error: failed.last_error }).toEqual({ uid: broke, error: expect.stringContaining('nothing_to_pay') });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 5, duplicates: 0 });
  });

  it('fails an item that lacks the balance with insufficient_funds and pays the rest', async () => {
    const [poor, ...others] = await users(4, '10.00');
    const batchPayId = `b-${freshUid()}`;
    const handle = await startBatch(db, client, { batchPayId, items: [{ uid: poor, amount: '10.01' }, ...others.map((uid) => ({ uid, amount: '10.00' }))] });
    expect(await handle.result()).toMatchObject({ succeeded: 3, failed: 1 });
    expect(await available(poor)).toBe('10');
    const [failed] = await listItems(db, batchPayId, { status: 'failed', limit: 10 });
    expect(failed.last_error).toContain('insufficient_funds');
  });

  it('voids the hold of an item the provider refuses for good', async () => {
    const payees = await users(6, '50');
    await payoutSandbox.configure({ rejectUids: [payees[0], payees[1]] });
    const batchPayId = `b-${freshUid()}`;
    const handle = await startBatch(db, client, { batchPayId, items: payees.map((uid) => ({ uid, amount: '20' })) });
    expect(await handle.result()).toMatchObject({ succeeded: 4, failed: 2 });
    expect(await statuses(batchPayId)).toEqual({ paid: 4, rejected: 2 });
    expect(await available(payees[0])).toBe('50');
    expect(await available(payees[2])).toBe('30');
  });

  it('pays every payable item exactly once through 5xx, 429 and lost responses', async () => {
    const payees = await users(300, '5');
    await payoutSandbox.configure({ failureRate: 0.2, lostResponseRate: 0.05, lostResponseMode: 'drop', capacity: 16, latencyMs: 20, jitterMs: 10, seed: 7 });
    const batchPayId = `b-${freshUid()}`;
    const before = (await getBalances(db, [PAYOUT_ACCOUNT], 'CNY'))[0].balance;
    const handle = await startBatch(db, client, { batchPayId, items: payees.map((uid) => ({ uid, amount: '5' })) });
    expect(await handle.result()).toMatchObject({ status: 'completed', succeeded: 300, failed: 0 });
    const executions = await payoutSandbox.executions(batchPayId);
    expect(executions).toMatchObject({ total: 300, distinctItems: 300, duplicates: 0 });
    const after = (await getBalances(db, [PAYOUT_ACCOUNT], 'CNY'))[0].balance;
    expect(Number(after) - Number(before)).toBe(1500);
    const stats = await payoutSandbox.stats();
    expect(stats.transientFailures).toBeGreaterThan(0);
    expect(stats.lostResponses).toBeGreaterThan(0);
    expect(stats.rateLimited).toBeGreaterThan(0);
  });

  it('stops paying when paused, carries on when resumed, and on cancel voids what was not paid', async () => {
    const payees = await users(400, '3');
    await payoutSandbox.configure({ latencyMs: 100, jitterMs: 0 });
    const batchPayId = `b-${freshUid()}`;
    const handle = await startBatch(db, client, { batchPayId, items: payees.map((uid) => ({ uid, amount: '3' })), limits: { min: 2, max: 4 } });

    await waitFor('a few payouts', async () => (await payoutSandbox.executions(batchPayId)).total >= 10);
    expect(await handle.executeUpdate(pauseBatchUpdate)).toMatchObject({ status: 'paused' });
    await new Promise((r) => setTimeout(r, 1000)); // in-flight payouts land
    const whilePaused = (await payoutSandbox.executions(batchPayId)).total;
    await new Promise((r) => setTimeout(r, 1000));
    expect((await payoutSandbox.executions(batchPayId)).total).toBe(whilePaused);
    expect((await handle.query(batchProgressQuery)).status).toBe('paused');

    await handle.executeUpdate(resumeBatchUpdate);
    await waitFor('more payouts after resume', async () => (await payoutSandbox.executions(batchPayId)).total > whilePaused + 5);
    await expect(handle.executeUpdate(resumeBatchUpdate)).rejects.toMatchObject({ cause: { type: 'invalid_batch_state', message: expect.stringMatching(/only a paused or failed batch can be resumed/) } });
    await handle.executeUpdate(cancelBatchUpdate);

    const result = await handle.result();
    const executed = (await payoutSandbox.executions(batchPayId)).total;
    expect(result).toMatchObject({ status: 'cancelled', succeeded: executed });
    expect(executed).toBeLessThan(400);
    const counts = await statuses(batchPayId);
    expect(counts).toEqual({ paid: executed, cancelled: 400 - executed });
    const restored = await Promise.all(payees.map(available));
    expect(restored.filter((a) => a === '3').length).toBe(400 - executed);
  });

  it('runs once for a batchPayId started twice', async () => {
    const payees = await users(3, '1');
    const batchPayId = `b-${freshUid()}`;
    const items = payees.map((uid) => ({ uid, amount: '1' }));
    const [h1, h2] = await Promise.all([startBatch(db, client, { batchPayId, items }), startBatch(db, client, { batchPayId, items })]);
    expect(h2.firstExecutionRunId).toBe(h1.firstExecutionRunId);
    await h1.result();
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 3, duplicates: 0 });
  });
});

describe('BatchPayoutWorkflow, when the provider revokes the engine\'s credentials mid-batch', () => {
  /**
   * Given 100 payees of 5 each and a provider that takes a second per request, executes every payout and loses its answer
   * (so each must be settled by a query), when the provider revokes the engine's credentials as the first payouts reach
   * it, the batch ends up failed: those payouts are executed, but the queries about them are refused.
   */
  async function givenBatchFailedMidway() {
    const payees = await users(100, '5');
    await payoutSandbox.configure({ latencyMs: 1000, jitterMs: 0, lostResponseRate: 1, lostResponseMode: 'drop' });
    const batchPayId = `b-${freshUid()}`;
    const handle = await startBatch(db, client, { batchPayId, items: payees.map((uid) => ({ uid, amount: '5' })), limits: { min: 2, max: 4 } });
    await waitFor('batchPayBegin and a first payout to reach the provider', async () => (await payoutSandbox.stats()).requests >= 2, 30_000, 50);
    await payoutSandbox.configure({ credentialsRevoked: true });
    await waitFor('the batch to fail', async () => (await handle.query(batchProgressQuery)).status === 'failed');
    // The workflow says failed as it schedules the activity that writes the batch's row: the read model follows it.
    await waitFor('the batch row to say failed', async () => (await getBatch(db, batchPayId))?.status === 'failed');
    return { payees, batchPayId, handle };
  }
  const fixCredentials = () => payoutSandbox.configure({ credentialsRevoked: false, lostResponseRate: 0, latencyMs: 20 });

  it('fails with the reason, gives back the holds of what was never sent, keeps what may have been paid, and pays each item once when resumed', async () => {
    const { payees, batchPayId, handle } = await givenBatchFailedMidway();

    // The batch says why, in its status query, its read model and the Temporal UI's search attribute
    const failed = await handle.query(batchProgressQuery);
    expect(failed).toMatchObject({ status: 'failed', lastError: expect.stringMatching(/401 credentials revoked/) });
    expect(await getBatch(db, batchPayId)).toMatchObject({ status: 'failed', last_error: failed.lastError });
    expect((await handle.describe()).typedSearchAttributes.get(PaymentStatus)).toBe('failed');

    // Nothing more is sent; what the provider executed is paid or still held (its answer was lost and the query refused),
    // and everything else has its money back
    const executed = (await payoutSandbox.executions(batchPayId)).total;
    await new Promise((r) => setTimeout(r, 500));
    expect((await payoutSandbox.executions(batchPayId)).total).toBe(executed);
    const counts = await statuses(batchPayId);
    expect(counts.held).toBeGreaterThan(0);
    expect((counts.paid ?? 0) + counts.held).toBe(executed);
    expect(counts.pending).toBe(100 - executed);
    const balances = await getBalances(db, payees.map(userAccount), 'CNY');
    expect(balances.filter((b) => b.balance === '5' && b.held === '0')).toHaveLength(100 - executed);

    // When the credentials are fixed and ops resume the batch, every item is paid exactly once
    await fixCredentials();
    expect(await handle.executeUpdate(resumeBatchUpdate)).toMatchObject({ status: 'running' });
    expect(await handle.result()).toMatchObject({ status: 'completed', succeeded: 100, failed: 0, lastError: failed.lastError });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 100, distinctItems: 100, duplicates: 0 });
    expect(await statuses(batchPayId)).toEqual({ paid: 100 });
    for (const uid of payees.slice(0, 5)) expect(await available(uid)).toBe('0');
    expect((await handle.describe()).typedSearchAttributes.get(PaymentStatus)).toBe('completed');
  });

  it('cancelled while failed, cancels what was never sent at once and the rest once the provider can say what it paid', async () => {
    const { payees, batchPayId, handle } = await givenBatchFailedMidway();
    const executed = (await payoutSandbox.executions(batchPayId)).total;

    // When ops cancel it while the provider still refuses: the unsent items are cancelled, but the batch cannot learn what
    // became of the uncertain ones, so it is failed again, this time while cancelling
    expect(await handle.executeUpdate(cancelBatchUpdate)).toMatchObject({ status: 'cancelling' });
    await waitFor('the cancel to be refused by the provider too', async () => (await statuses(batchPayId)).cancelled === 100 - executed && (await handle.query(batchProgressQuery)).status === 'failed');
    const unsent = (await listItems(db, batchPayId, { status: 'cancelled', limit: 100 })).map((i) => Number(i.uid));
    for (const uid of unsent.slice(0, 5)) expect(await available(uid)).toBe('5');

    // When the credentials are fixed and ops resume it, the cancel finishes: what the provider executed is paid, once
    await fixCredentials();
    expect(await handle.executeUpdate(resumeBatchUpdate)).toMatchObject({ status: 'cancelling' });
    expect(await handle.result()).toMatchObject({ status: 'cancelled', succeeded: executed, failed: 100 - executed });
    expect(await statuses(batchPayId)).toEqual({ paid: executed, cancelled: 100 - executed });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: executed, duplicates: 0 });
    const restored = await Promise.all(payees.map(available));
    expect(restored.filter((a) => a === '5')).toHaveLength(100 - executed);
  });
});
