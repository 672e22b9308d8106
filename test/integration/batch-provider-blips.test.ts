// beginBatch and finishBatch when the provider fails for a moment (a 503): they send again within the activity, so a blip
// costs a round trip rather than a failed activity and Temporal's retry interval; a provider that stays down still fails it.
import { MockActivityEnvironment } from '@temporalio/testing';
import { batchPayoutActivities } from '../../activities/batch-payouts';
import type { PayoutApi } from '../../activities/providers/payout-api';
import { PayoutApiError } from '../../activities/providers/payout-api-client';
import { loadConfig } from '../../config';
import { createBatch } from '../../db/batch-payouts';
import { createDb, type Db } from '../../db/knex';
import { batchWorkflowId } from '../../domain/batch-payout';
import { freshUid, givenUser } from '../support/ledger';
import { payoutClient, payoutSandbox } from '../support/sandbox';

let db: Db;
beforeAll(() => {
  db = createDb(loadConfig().db.url);
});
afterAll(() => db.destroy());
beforeEach(() => payoutSandbox.reset());

/** A stored batch of one payee, not yet begun at the provider. */
async function givenBatch(): Promise<string> {
  const uid = await givenUser(db, { balance: '10' });
  const batchPayId = `blip-${freshUid()}`;
  await createBatch(db, { batchPayId, workflowId: batchWorkflowId(batchPayId), currency: 'CNY', items: [{ uid, amount: '4' }], limits: { min: 1, max: 2 } });
  return batchPayId;
}

/** The real client, except that its first `failures` begin and finish calls are answered 503 without reaching the provider. */
function blipping(failures: number): { api: PayoutApi; calls: () => number } {
  const real = payoutClient();
  let calls = 0;
  const blip = <A extends unknown[]>(call: (...args: A) => Promise<void>) => async (...args: A) => {
    if (++calls <= failures) throw new PayoutApiError('unavailable', '503 system busy, try again later', true, 503);
    return call(...args);
  };
  return { api: { ...real, batchPayBegin: blip(real.batchPayBegin), batchPayFinish: blip(real.batchPayFinish) }, calls: () => calls };
}

const activities = (api: PayoutApi) => batchPayoutActivities(db, api);
const run = <A extends unknown[], R>(fn: (...args: A) => Promise<R>, ...args: A) => new MockActivityEnvironment().run(fn, ...args);

describe('begin and finish, when the provider fails for a moment', () => {
  it('opens the batch through two 503s in one activity attempt', async () => {
    // Given a stored batch and a provider that answers the first two begin requests 503
    const batchPayId = await givenBatch();
    const { api, calls } = blipping(2);

    // When the batch is begun
    await run(activities(api).beginBatch, batchPayId, 1);

    // Then the third request opened it, without the activity failing
    expect(calls()).toBe(3);
    expect(await payoutSandbox.batch(batchPayId)).toMatchObject({ status: 'open', total: 1 });
  });

  it('closes the batch through a 503 in one activity attempt', async () => {
    // Given a batch begun at the provider, and a provider that answers the first finish request 503
    const batchPayId = await givenBatch();
    await payoutClient().batchPayBegin(batchPayId, 1);
    const { api, calls } = blipping(1);

    // When the batch is finished
    await run(activities(api).finishBatch, batchPayId, 'CNY', 'completed');

    // Then the second request closed it
    expect(calls()).toBe(2);
    expect(await payoutSandbox.batch(batchPayId)).toMatchObject({ status: 'finished', declared: { paid: 0, failed: 0 } });
  });

  it('fails the activity, for Temporal to retry, when the provider stays unavailable', async () => {
    // Given a provider that answers every begin request 503
    const batchPayId = await givenBatch();
    const { api } = blipping(Number.POSITIVE_INFINITY);

    // When the batch is begun, then the activity fails with a retryable error and the batch is not open at the provider
    await expect(run(activities(api).beginBatch, batchPayId, 1)).rejects.toMatchObject({ code: 'unavailable', retryable: true });
    expect(await payoutSandbox.batch(batchPayId).catch((err: Error) => err.message)).toContain('404');
  });
});
