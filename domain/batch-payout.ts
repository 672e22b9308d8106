// BatchPayoutWorkflow's contract: input, controls, progress query and workflow ID rule, shared by the API and the worker.
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import { PaymentKind, PaymentStatus } from './search-attributes';

/** One payee: an amount, or none to pay the user's whole available balance when the hold is taken. */
export interface BatchItem {
  uid: number;
  amount?: string;
}

export type BatchItemStatus =
  /** Not reached yet, or its hold was given back unsent when the provider refused the batch. */
  | 'pending'
  /** The amount is held on the user's account; the payout is being sent. */
  | 'held'
  /** The provider did not answer for sure yet (5xx, 429, lost response): to be sent again with the same request id. */
  | 'retry'
  | 'paid'
  /** Never sent: the hold could not be taken (insufficient funds, nothing to pay, unknown user). */
  | 'failed'
  /** Refused by the provider for good; the hold was voided. */
  | 'rejected'
  /** The batch was cancelled before this item was paid; the hold (if any) was voided. */
  | 'cancelled';

export const FINAL_ITEM_STATUSES: readonly BatchItemStatus[] = ['paid', 'failed', 'rejected', 'cancelled'];

/**
 * `failed`: the provider refused the engine itself (bad credentials or signature, a conflicting or malformed request), which
 * no retry can fix. Nothing more is sent; holds of items never sent are given back; items that may have been paid stay held
 * until the provider says. Ops fix the cause, then resume the batch (it goes on where it stopped) or cancel it.
 */
export type BatchStatus = 'running' | 'paused' | 'cancelling' | 'failed' | 'completed' | 'cancelled';
export type BatchPhase = 'begin' | 'fast' | 'slow' | 'finish' | 'done';

export interface ConcurrencyLimits {
  min: number;
  max: number;
}

/** The highest concurrency ops may set for a batch. */
export const CONCURRENCY_CEILING = 200;

export const validLimits = ({ min, max }: ConcurrencyLimits): boolean =>
  Number.isInteger(min) && Number.isInteger(max) && min >= 1 && max <= CONCURRENCY_CEILING && min <= max;

/**
 * The workflow's input. The items themselves are stored by the API in `batch_payout_items` before the
 * start (a batch of 100,000 would not fit a Temporal payload); the workflow reads them through activities.
 */
export interface BatchPayoutInput {
  batchPayId: string;
  currency: string;
  itemCount: number;
  limits: ConcurrencyLimits;
  fastPhaseMs: number;
}

export interface BatchProgress {
  batchPayId: string;
  status: BatchStatus;
  phase: BatchPhase;
  total: number;
  succeeded: number;
  failed: number;
  /** Items between a hold and a final outcome. */
  inFlight: number;
  pending: number;
  concurrency: number;
  limits: ConcurrencyLimits;
  paidAmount: string;
  /** Why the provider last refused the batch; kept after a resume. */
  lastError: string | null;
}

export const batchProgressQuery = defineQuery<BatchProgress>('status');
export const pauseBatchUpdate = defineUpdate<BatchProgress>('pause');
export const resumeBatchUpdate = defineUpdate<BatchProgress>('resume');
export const cancelBatchUpdate = defineUpdate<BatchProgress>('cancel');
export const setBatchLimitsUpdate = defineUpdate<BatchProgress, [ConcurrencyLimits]>('setLimits');

export const batchWorkflowId = (batchPayId: string): string => `batchpay-${batchPayId}`;

const BATCH_PAY_ID = /^[A-Za-z0-9._:-]{1,100}$/;
export const isBatchPayId = (id: string): boolean => BATCH_PAY_ID.test(id);

/** The provider's idempotency key of one item: the same (batch, uid) is sent with the same request id, always. */
export const payoutRequestId = (batchPayId: string, uid: number): string => `${batchPayId}:${uid}`;
/**
 * The ledger transfer that holds, then posts or voids, one item's amount. A hold given back unsent (the batch failed) is
 * taken again under the next round's id: a transfer id is never used twice.
 */
export const payoutTransferId = (batchPayId: string, uid: number, holdRound: number): string =>
  holdRound === 0 ? `payout-${batchPayId}-${uid}` : `payout-${batchPayId}-${uid}.${holdRound}`;

/** How every caller starts a BatchPayoutWorkflow: one run per batchPayId, ever (see transferStartOptions). */
export function batchStartOptions(input: BatchPayoutInput, taskQueue: string) {
  return {
    taskQueue,
    workflowId: batchWorkflowId(input.batchPayId),
    args: [input] as [BatchPayoutInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: PaymentKind, value: 'batch_payout' },
      { key: PaymentStatus, value: 'running' },
    ],
  };
}
