// Test data and shortcuts for tests, benchmarks and chaos runs: many users funded through the ledger itself
// (holds posted from external:bank), and batches started the way the API starts them.
import type { Client } from '@temporalio/client';
import { loadConfig } from '../config';
import { createBatch } from '../db/batch-payouts';
import type { Db } from '../db/knex';
import { holdMany, settleMany } from '../db/ledger';
import { batchStartOptions, batchWorkflowId, type BatchItem, type ConcurrencyLimits } from '../domain/batch-payout';
import { userAccount } from '../domain/ledger';
import type { BatchPayoutWorkflow } from '../workflows/batch-payout';

export async function givenFundedUsers(db: Db, uids: number[], balance: string, currency = 'CNY'): Promise<void> {
  for (let i = 0; i < uids.length; i += 1000) {
    const slice = uids.slice(i, i + 1000);
    await db('users').insert(slice.map((uid) => ({ uid, name: `bench-${uid}` }))).onConflict('uid').ignore();
    await db('accounts').insert(slice.map((uid) => ({ code: userAccount(uid), currency, uid, may_go_negative: false }))).onConflict(['code', 'currency']).ignore();
    if (Number(balance) === 0) continue;
    const funding = slice.map((uid) => ({
      id: `fixture-fund-${uid}-${currency}`,
      debitAccount: 'external:bank',
      creditAccount: userAccount(uid),
      amount: balance,
      currency,
      kind: 'credit' as const,
      reference: 'fixture',
    }));
    await holdMany(db, funding);
    await settleMany(db, { post: funding.map((f) => f.id) });
  }
}

/** Stores a batch's items, then starts its workflow, as the API does once a request has passed validation. */
export async function startBatch(db: Db, client: Client, batch: { batchPayId: string; items: BatchItem[]; limits?: ConcurrencyLimits; fastPhaseMs?: number }) {
  const config = loadConfig();
  const limits = batch.limits ?? { min: config.batch.minConcurrency, max: config.batch.maxConcurrency };
  await createBatch(db, { batchPayId: batch.batchPayId, workflowId: batchWorkflowId(batch.batchPayId), currency: 'CNY', items: batch.items, limits });
  return client.workflow.start<typeof BatchPayoutWorkflow>(
    'BatchPayoutWorkflow',
    batchStartOptions(
      { batchPayId: batch.batchPayId, currency: 'CNY', itemCount: batch.items.length, limits, fastPhaseMs: batch.fastPhaseMs ?? config.batch.fastPhaseMs },
      config.temporal.taskQueue,
    ),
  );
}
