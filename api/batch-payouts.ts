// The API's side of BatchPayoutWorkflow: validate a batch, store its items (the claim check), start its run, read its progress, send it controls.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Config } from '../config';
import { batchCounts, createBatch, getBatch, listItems, type BatchRow, type ItemRow } from '../db/batch-payouts';
import { isoTime, type Db } from '../db/knex';
import { assertUsersExist } from './users';
import {
  batchProgressQuery,
  batchStartOptions,
  batchWorkflowId,
  cancelBatchUpdate,
  isBatchPayId,
  pauseBatchUpdate,
  resumeBatchUpdate,
  setBatchLimitsUpdate,
  type BatchItem,
  type BatchItemStatus,
  type BatchPayoutInput,
  type BatchPhase,
  type BatchProgress,
  type BatchStatus,
  type ConcurrencyLimits,
} from '../domain/batch-payout';
import { DomainError } from '../domain/errors';
import { formatAmount, parseAmount } from '../domain/money';
import type { BatchPayoutWorkflow } from '../workflows/batch-payout';
import type { Metrics } from './metrics';

export interface BatchDeps {
  client: Client;
  db: Db;
  config: Config;
  metrics: Pick<Metrics, 'workflowsStarted'>;
}

/** What a caller asked for: items with amounts, or uids each paid his whole available balance. */
export interface BatchCommand {
  batchPayId: string;
  currency: string;
  items?: { uid: number; amount: string | number }[];
  uids?: number[];
}

/** A batch as the API shows it: counts from the read model, state from the workflow when it answers. */
export interface BatchView {
  batchPayId: string;
  workflowId: string;
  status: BatchStatus;
  phase: BatchPhase;
  total: number;
  succeeded: number;
  /** Items that could not be held (insufficient funds…) or that the provider rejected for good. */
  failed: number;
  /** Items the batch's cancellation stopped before they were paid. */
  cancelled: number;
  inFlight: number;
  pending: number;
  concurrency: number;
  limits: ConcurrencyLimits;
  paidAmount: string;
  currency: string;
  /** Why the provider last refused the batch (it is `failed` until ops resume it); kept after a resume. */
  lastError: string | null;
  createdAt: string;
  finishedAt: string | null;
}

export interface BatchItemView {
  uid: number;
  seq: number;
  status: BatchItemStatus;
  amount: string | null;
  requestedAmount: string | null;
  providerRef: string | null;
  attempts: number;
  lastError: string | null;
  updatedAt: string;
}

export type BatchControl = { action: 'pause' | 'resume' | 'cancel' } | { action: 'setLimits'; limits: ConcurrencyLimits };

/** How long to wait for the `status` query: a run no worker polls must not hold a GET. */
const QUERY_WAIT_MS = 1000;
/** How long a control waits for the workflow to accept it: it needs a worker. */
const CONTROL_WAIT_MS = 10_000;

const FINISHED: readonly BatchStatus[] = ['completed', 'cancelled'];

/**
 * Validates a batch, stores it with its items, and starts (or finds) its workflow. Bad input stores and
 * starts nothing. The batchPayId is the idempotency key: the same items again give the same batch and start
 * nothing new; other items under a used batchPayId are an idempotency_conflict.
 */
export async function submitBatch(deps: BatchDeps, command: BatchCommand): Promise<{ batch: BatchView; created: boolean }> {
  const items = validatedItems(deps.config, command);
  await assertUsersExist(deps.db, items.map((i) => i.uid));
  const { batchPayId, currency } = command;
  const limits = { min: deps.config.batch.minConcurrency, max: deps.config.batch.maxConcurrency };
  const { created, sameItems } = await createBatch(deps.db, { batchPayId, workflowId: batchWorkflowId(batchPayId), currency, items, limits });
  if (!sameItems) throw new DomainError('idempotency_conflict', `batchPayId ${batchPayId} was already used for other items`);
  const row = (await getBatch(deps.db, batchPayId))!;
  // Also when the batch existed: a first call may have stored it and failed before the start.
  await startRun(deps, row);
  return { batch: present(row, await batchCounts(deps.db, batchPayId)), created };
}

function validatedItems(config: Config, command: BatchCommand): BatchItem[] {
  if (!isBatchPayId(command.batchPayId)) throw new DomainError('invalid_request', 'batchPayId must be 1-100 characters of A-Z a-z 0-9 . _ : -');
  const field = command.items ? 'items' : 'uids';
  const count = (command.items ?? command.uids ?? []).length;
  if (count === 0) throw new DomainError('invalid_request', `${field} must not be empty`);
  if (count > config.batch.maxItems) {
    throw new DomainError('invalid_request', `a batch holds at most ${config.batch.maxItems} items; this one has ${count}`);
  }
  const items: BatchItem[] = command.items
    ? command.items.map((item, i) => ({ uid: item.uid, amount: formatAmount(parseAmount(item.amount, command.currency, `items.${i}.amount`), command.currency) }))
    : command.uids!.map((uid) => ({ uid }));
  const seen = new Set<number>();
  for (const { uid } of items) {
    if (seen.has(uid)) throw new DomainError('invalid_request', `uid ${uid} appears more than once in ${field}: a batch pays each user once`);
    seen.add(uid);
  }
  return items;
}

async function startRun(deps: BatchDeps, row: BatchRow): Promise<void> {
  // A finished batch is never run again, even once Temporal has forgotten its run.
  if (FINISHED.includes(row.status)) return;
  const input: BatchPayoutInput = {
    batchPayId: row.batch_pay_id,
    currency: row.currency,
    itemCount: row.item_count,
    limits: { min: row.min_concurrency, max: row.max_concurrency },
    fastPhaseMs: deps.config.batch.fastPhaseMs,
  };
  try {
    // A running run with this ID is joined; a closed one is never run again.
    await deps.client.workflow.start<typeof BatchPayoutWorkflow>('BatchPayoutWorkflow', batchStartOptions(input, deps.config.temporal.taskQueue));
    deps.metrics.workflowsStarted.inc({ type: 'BatchPayoutWorkflow' });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}

/** A batch by id: counts from the read model, status, phase and concurrency from its run while it answers. */
export async function findBatch(deps: Pick<BatchDeps, 'client' | 'db'>, batchPayId: string): Promise<BatchView | undefined> {
  const row = isBatchPayId(batchPayId) ? await getBatch(deps.db, batchPayId) : undefined;
  if (!row) return undefined;
  const [counts, live] = await Promise.all([batchCounts(deps.db, batchPayId), FINISHED.includes(row.status) ? undefined : queryProgress(deps.client, row)]);
  return present(row, counts, live);
}

async function queryProgress(client: Client, row: BatchRow): Promise<BatchProgress | undefined> {
  try {
    return await client.withDeadline(Date.now() + QUERY_WAIT_MS, () => handleOf(client, row).query(batchProgressQuery));
  } catch {
    return undefined; // no worker answered in time, or the run is gone: the read model says the rest
  }
}

/** A page of a batch's items in batch order, after the seq cursor; undefined when there is no such batch. */
export async function listBatchItems(
  db: Db,
  batchPayId: string,
  page: { status?: BatchItemStatus; after?: number; limit: number },
): Promise<{ data: BatchItemView[]; hasMore: boolean; nextCursor: string | null } | undefined> {
  const row = isBatchPayId(batchPayId) ? await getBatch(db, batchPayId) : undefined;
  if (!row) return undefined;
  const rows = await listItems(db, batchPayId, { status: page.status, afterSeq: page.after, limit: page.limit + 1 });
  const data = rows.slice(0, page.limit).map((item) => presentItem(item, row.currency));
  const hasMore = rows.length > page.limit;
  return { data, hasMore, nextCursor: hasMore ? String(data[data.length - 1].seq) : null };
}

/**
 * Sends a control to the batch's run and answers the batch as the run then sees it. A control the run
 * refuses (resume a cancelled batch…) or a batch already finished is an invalid_batch_state.
 */
export async function controlBatch(deps: Pick<BatchDeps, 'client' | 'db'>, batchPayId: string, control: BatchControl): Promise<BatchView> {
  const row = isBatchPayId(batchPayId) ? await getBatch(deps.db, batchPayId) : undefined;
  if (!row) throw new DomainError('not_found', `no batch ${batchPayId}`);
  const handle = handleOf(deps.client, row);
  let progress: BatchProgress;
  try {
    progress = await deps.client.withDeadline(Date.now() + CONTROL_WAIT_MS, () => {
      switch (control.action) {
        case 'pause':
          return handle.executeUpdate(pauseBatchUpdate);
        case 'resume':
          return handle.executeUpdate(resumeBatchUpdate);
        case 'cancel':
          return handle.executeUpdate(cancelBatchUpdate);
        case 'setLimits':
          return handle.executeUpdate(setBatchLimitsUpdate, { args: [control.limits] });
      }
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new DomainError('invalid_batch_state', `batch ${batchPayId} refused ${control.action}: ${err.cause?.message ?? err.message}`);
    }
    if (err instanceof WorkflowNotFoundError) {
      const now = (await getBatch(deps.db, batchPayId))!;
      const why = FINISHED.includes(now.status) ? `is ${now.status}` : 'has no running workflow';
      throw new DomainError('invalid_batch_state', `batch ${batchPayId} ${why}: it cannot be told to ${control.action}`);
    }
    if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) {
      throw new DomainError('workflow_unavailable', `batch ${batchPayId} did not take ${control.action} within ${CONTROL_WAIT_MS / 1000}s (is a worker running?); send it again`);
    }
    throw err;
  }
  return present((await getBatch(deps.db, batchPayId))!, await batchCounts(deps.db, batchPayId), progress);
}

const handleOf = (client: Client, row: BatchRow): WorkflowHandle<typeof BatchPayoutWorkflow> =>
  client.workflow.getHandle<typeof BatchPayoutWorkflow>(row.workflow_id);

/** MySQL's `2024-07-23 10:00:00.000` (UTC) as ISO 8601. */

function present(row: BatchRow, counts: Awaited<ReturnType<typeof batchCounts>>, live?: BatchProgress): BatchView {
  const n = counts.byStatus;
  return {
    batchPayId: row.batch_pay_id,
    workflowId: row.workflow_id,
    status: live?.status ?? row.status,
    phase: live?.phase ?? row.phase,
    total: row.item_count,
    succeeded: n.paid,
    failed: n.failed + n.rejected,
    cancelled: n.cancelled,
    inFlight: n.held + n.retry,
    pending: n.pending,
    concurrency: live?.concurrency ?? row.concurrency,
    limits: live?.limits ?? { min: row.min_concurrency, max: row.max_concurrency },
    paidAmount: formatAmount(counts.paidAmount, row.currency),
    currency: row.currency,
    lastError: live?.lastError ?? row.last_error,
    createdAt: isoTime(row.created_at),
    finishedAt: row.finished_at ? isoTime(row.finished_at) : null,
  };
}

function presentItem(item: ItemRow, currency: string): BatchItemView {
  return {
    uid: Number(item.uid),
    seq: item.seq,
    status: item.status,
    amount: item.amount === null ? null : formatAmount(item.amount, currency),
    requestedAmount: item.requested_amount === null ? null : formatAmount(item.requested_amount, currency),
    providerRef: item.provider_ref,
    attempts: item.attempts,
    lastError: item.last_error,
    updatedAt: isoTime(item.updated_at),
  };
}
