// A worker process killed with SIGKILL in the middle of a batch payout: the batch completes, every item paid exactly once.
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../config';
import { batchCounts } from '../../db/batch-payouts';
import { createDb, type Db } from '../../db/knex';
import { checkInvariants } from '../../db/ledger';
import { givenFundedUsers, startBatch } from '../../scripts/fixtures';
import { freshUid } from '../support/ledger';
import { spawnEntry, waitFor, type Spawned } from '../support/processes';
import { payoutSandbox } from '../support/sandbox';
import { testClient } from '../support/temporal';

let db: Db;
let client: Client;
let closeClient: () => Promise<void>;
const workers: Spawned[] = [];

beforeAll(async () => {
  db = createDb(loadConfig().db.url);
  ({ client, close: closeClient } = await testClient());
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await closeClient?.();
  await db?.destroy();
});

const ITEMS = 2000;

describe('a worker killed in the middle of a batch payout', () => {
  it('pays every item exactly once after a new worker takes over', async () => {
    // Given funded payees, a provider that answers in 20-60 ms and loses 2% of its responses, and a worker process
    const base = freshUid();
    const uids = Array.from({ length: ITEMS }, (_, i) => base + i);
    await givenFundedUsers(db, uids, '2.00');
    await payoutSandbox.reset();
    await payoutSandbox.configure({ latencyMs: 40, jitterMs: 20, lostResponseRate: 0.02, seed: 11 });
    const first = spawnEntry('workers/main.ts', { LOG_LEVEL: 'info' });
    workers.push(first);
    await waitFor('the first worker to start', async () => first.output().includes('worker started'), 60_000);

    // When the batch runs and the worker is killed part-way
    const batchPayId = `crash-${base}`;
    const handle = await startBatch(db, client, { batchPayId, items: uids.map((uid) => ({ uid, amount: '2.00' })) });
    await waitFor('a few hundred payouts', async () => (await payoutSandbox.executions(batchPayId)).total >= 300, 60_000, 20);
    first.child.kill('SIGKILL');
    await first.exited;
    const paidAtKill = (await payoutSandbox.executions(batchPayId)).total;
    workers.push(spawnEntry('workers/main.ts'));

    // Then the batch completes with each item paid once, at the provider and in the ledger
    expect(await handle.result()).toMatchObject({ status: 'completed', succeeded: ITEMS, failed: 0 });
    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: ITEMS, distinctItems: ITEMS, duplicates: 0 });
    expect((await batchCounts(db, batchPayId)).byStatus.paid).toBe(ITEMS);
    expect((await checkInvariants(db)).violations).toEqual([]);
    expect(paidAtKill).toBeLessThan(ITEMS);
  });
});
