// The payChunk activity when the provider refuses the engine itself: it stops and fails the attempt, losing no hold.
import { MockActivityEnvironment } from '@temporalio/testing';
import { batchPayoutActivities } from '../../activities/batch-payouts';
import { loadConfig } from '../../config';
import { batchCounts, createBatch } from '../../db/batch-payouts';
import { createDb, type Db } from '../../db/knex';
import { checkInvariants, getBalances } from '../../db/ledger';
import { batchWorkflowId } from '../../domain/batch-payout';
import { userAccount } from '../../domain/ledger';
import { freshUid, givenUser } from '../support/ledger';
import { payoutClient, payoutSandbox } from '../support/sandbox';

let db: Db;
beforeAll(() => {
  db = createDb(loadConfig().db.url);
});
afterAll(() => db.destroy());

describe('payChunk', () => {
  it('fails the attempt on bad credentials, keeping every hold and paying nothing', async () => {
    // Given a batch of 5 funded payees and a client whose token the provider does not know
    await payoutSandbox.reset();
    const payees = await Promise.all(Array.from({ length: 5 }, () => givenUser(db, { balance: '10' })));
    const batchPayId = `bad-creds-${freshUid()}`;
    const limits = { min: 2, max: 4 };
    await createBatch(db, { batchPayId, workflowId: batchWorkflowId(batchPayId), currency: 'CNY', items: payees.map((uid) => ({ uid, amount: '4' })), limits });
    const activities = batchPayoutActivities(db, payoutClient({ token: 'not-the-token-the-provider-knows' }));

    // When a chunk runs
    const attempt = new MockActivityEnvironment().run(activities.payChunk, { batchPayId, currency: 'CNY', range: { from: 0, to: 10 }, phase: 'fast' as const, concurrency: 4, limits, maxAttempts: 4 });

    // Then it fails with the provider's refusal, nothing was paid, and the holds wait for the next attempt
    await expect(attempt).rejects.toMatchObject({ code: 'unauthorized', retryable: false });
    expect((await payoutSandbox.executions(batchPayId)).total).toBe(0);
    expect((await batchCounts(db, batchPayId)).byStatus).toMatchObject({ held: 5, paid: 0 });
    expect((await getBalances(db, [userAccount(payees[0])], 'CNY'))[0]).toMatchObject({ balance: '10', held: '4' });
    expect((await checkInvariants(db)).violations).toEqual([]);
  });
});
