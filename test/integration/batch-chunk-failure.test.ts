// The payChunk activity when the provider refuses the engine itself: it stops, gives back the holds of what it never sent,
// keeps holding what may have been paid, and fails for good with payout_provider_refused.
import { MockActivityEnvironment } from '@temporalio/testing';
import { batchPayoutActivities, type ChunkArgs, type ChunkResult } from '../../activities/batch-payouts';
import type { PayoutApi } from '../../activities/providers/payout-api';
import { loadConfig } from '../../config';
import { batchCounts, createBatch, listItems } from '../../db/batch-payouts';
import { createDb, type Db } from '../../db/knex';
import { checkInvariants, getBalances, getTransfer } from '../../db/ledger';
import { batchWorkflowId, payoutRequestId, payoutTransferId } from '../../domain/batch-payout';
import { userAccount } from '../../domain/ledger';
import { freshUid, givenUser } from '../support/ledger';
import { payoutClient, payoutSandbox } from '../support/sandbox';

let db: Db;
beforeAll(() => {
  db = createDb(loadConfig().db.url);
});
afterAll(() => db.destroy());
beforeEach(() => payoutSandbox.reset());
afterEach(async () => expect((await checkInvariants(db)).violations).toEqual([]));

const WRONG_TOKEN = 'not-the-token-the-provider-knows';
const limits = { min: 2, max: 4 };

/** A batch paying each of `n` payees (funded with 10) 4, stored and begun at the provider, and its first chunk's arguments. */
async function givenBatch(n: number): Promise<{ batchPayId: string; payees: number[]; chunk: ChunkArgs }> {
  const payees = await Promise.all(Array.from({ length: n }, () => givenUser(db, { balance: '10' })));
  const batchPayId = `refused-${freshUid()}`;
  await createBatch(db, { batchPayId, workflowId: batchWorkflowId(batchPayId), currency: 'CNY', items: payees.map((uid) => ({ uid, amount: '4' })), limits });
  await payoutClient().batchPayBegin(batchPayId, n);
  return { batchPayId, payees, chunk: { batchPayId, currency: 'CNY', range: { from: 0, to: 10 }, phase: 'fast', concurrency: 4, limits, maxAttempts: 4 } };
}

const payChunk = (payouts: PayoutApi, chunk: ChunkArgs): Promise<ChunkResult> => new MockActivityEnvironment().run(batchPayoutActivities(db, payouts).payChunk, chunk);
const balanceOf = async (uid: number) => (await getBalances(db, [userAccount(uid)], 'CNY'))[0];

describe('payChunk, when the provider refuses the engine', () => {
  it('fails for good on bad credentials, giving back every hold it took and paying nothing', async () => {
    // Given a batch of 5 funded payees and a client whose token the provider does not know
    const { batchPayId, payees, chunk } = await givenBatch(5);

    // When a chunk runs
    const attempt = payChunk(payoutClient({ token: WRONG_TOKEN }), chunk);

    // Then it fails with a non-retryable provider refusal, nothing was paid, and every payee has his money back
    await expect(attempt).rejects.toMatchObject({ type: 'payout_provider_refused', nonRetryable: true, message: expect.stringContaining('401') });
    expect((await payoutSandbox.executions(batchPayId)).total).toBe(0);
    expect((await batchCounts(db, batchPayId)).byStatus).toMatchObject({ pending: 5, held: 0, paid: 0 });
    for (const uid of payees) expect(await balanceOf(uid)).toMatchObject({ balance: '10', held: '0' });
    const items = await listItems(db, batchPayId, { limit: 10 });
    expect(items.map((i) => ({ round: i.hold_round, error: i.last_error }))).toEqual(Array(5).fill({ round: 1, error: expect.stringContaining('hold given back') }));
  });

  it('keeps holding what may have been paid, and once run again with the fix pays every item exactly once', async () => {
    // Given 6 payees, a provider that executes every payout but loses its answers, and a client whose queries it refuses
    const { batchPayId, payees, chunk } = await givenBatch(6);
    await payoutSandbox.configure({ lostResponseRate: 1, lostResponseMode: 'drop' });
    const good = payoutClient();
    const refusedQueries: PayoutApi = { ...good, queryPayout: payoutClient({ token: WRONG_TOKEN }).queryPayout };

    // When a chunk runs: the payouts sent are executed, but asking what became of them is refused
    await expect(payChunk(refusedQueries, chunk)).rejects.toMatchObject({ type: 'payout_provider_refused' });

    // Then each item the provider executed is still held, and each it never saw has its hold given back
    const executed = (await payoutSandbox.executions(batchPayId)).total;
    expect(executed).toBeGreaterThan(0);
    expect(executed).toBeLessThan(6);
    for (const uid of payees) {
      const atProvider = (await good.queryPayout(payoutRequestId(batchPayId, uid))).status;
      const balance = await balanceOf(uid);
      expect({ uid, atProvider, held: balance.held }).toEqual({ uid, atProvider, held: atProvider === 'paid' ? '4' : '0' });
    }
    expect((await batchCounts(db, batchPayId)).byStatus).toMatchObject({ held: executed, pending: 6 - executed, paid: 0 });

    // When the chunk runs again with the credentials fixed and the answers no longer lost
    await payoutSandbox.configure({ lostResponseRate: 0 });
    const result = await payChunk(good, chunk);

    // Then every item is paid once: the held ones by the provider's record of their request id, the others from a new hold
    expect(result.snapshot.byStatus).toMatchObject({ paid: 6, held: 0, pending: 0 });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 6, distinctItems: 6, duplicates: 0 });
    for (const uid of payees) expect(await balanceOf(uid)).toMatchObject({ balance: '6', held: '0' });
    const released = (await listItems(db, batchPayId, { limit: 10 })).filter((i) => i.hold_round === 1);
    expect(released).toHaveLength(6 - executed);
    for (const item of released) {
      const uid = Number(item.uid);
      expect([(await getTransfer(db, payoutTransferId(batchPayId, uid, 0)))?.state, (await getTransfer(db, payoutTransferId(batchPayId, uid, 1)))?.state]).toEqual(['voided', 'posted']);
    }
  });
});
