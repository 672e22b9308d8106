// TransferWorkflow's contract: its input, result, status query and workflow ID rule, shared by the API and the worker.
import { defineQuery } from '@temporalio/workflow';
import type { TransferState } from './ledger';
import { PaymentKind, PaymentStatus, Uid } from './search-attributes';

export interface TransferInput {
  /** The workflow ID; also the ledger transfer id. */
  transferId: string;
  kind: 'transfer' | 'credit';
  /** Absent for a credit, which comes from `sourceAccount`. */
  sourceUid?: number;
  /** The system account a credit comes from, e.g. `external:bank`. */
  sourceAccount?: string;
  targetUid: number;
  amount: string;
  currency: string;
}

export type TransferStatusName = 'started' | 'posted' | 'failed';

export interface TransferStatus {
  transferId: string;
  status: TransferStatusName;
  request: TransferInput;
  ledgerState?: TransferState;
  failure?: { code: string; message: string };
  completedAt?: string;
}

export interface TransferResult {
  transferId: string;
  kind: TransferInput['kind'];
  sourceUid?: number;
  sourceAccount?: string;
  targetUid: number;
  amount: string;
  currency: string;
  state: TransferState;
  createdAt: string;
}

export const transferStatusQuery = defineQuery<TransferStatus>('status');

const KEY = /^[A-Za-z0-9._:-]{1,100}$/;
export const isIdempotencyKey = (key: string): boolean => KEY.test(key);

export const transferWorkflowId = (idempotencyKey: string): string => `transfer-${idempotencyKey}`;

export const transferUids = (input: TransferInput): string[] =>
  [input.sourceUid, input.targetUid].filter((uid): uid is number => uid !== undefined).map(String);

/**
 * How every caller starts a TransferWorkflow: the ID is the business key; a running run with that ID is
 * joined (USE_EXISTING) and a closed one is never run again (REJECT_DUPLICATE), so no retry moves money twice.
 * The run is tagged for the Temporal UI from its start; the workflow upserts its final status.
 */
export function transferStartOptions(input: TransferInput, taskQueue: string) {
  return {
    taskQueue,
    workflowId: input.transferId,
    args: [input] as [TransferInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: PaymentKind, value: input.kind },
      { key: PaymentStatus, value: 'started' },
      { key: Uid, value: transferUids(input) },
    ],
  };
}
