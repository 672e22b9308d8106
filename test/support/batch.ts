// Starting batch payouts in tests the way the API does: store the items, then start the workflow.
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../config';
import { createBatch } from '../../db/batch-payouts';
import type { Db } from '../../db/knex';
import { batchStartOptions, batchWorkflowId, type BatchItem, type ConcurrencyLimits } from '../../domain/batch-payout';
import type { BatchPayoutWorkflow } from '../../workflows/batch-payout';

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
