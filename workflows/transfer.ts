// TransferWorkflow: one ledger transfer between two users, or a credit to a user from a system account.
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import { ActivityFailure, ApplicationFailure, proxyLocalActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ledgerActivities } from '../activities/ledger';
import { userAccount } from '../domain/ledger';
import type { TransferRecord, TransferRequest } from '../domain/ledger';
import { PaymentKind, PaymentStatus, Uid } from '../domain/search-attributes';
import { transferStatusQuery, transferUids } from '../domain/transfer';
import type { TransferInput, TransferResult, TransferStatus } from '../domain/transfer';

// A local activity: one short DB transaction, no extra round trip through the task queue.
// Domain errors arrive as non-retryable failures; anything else (DB down, deadlock) retries with backoff.
const { applyTransfer } = proxyLocalActivities<ReturnType<typeof ledgerActivities>>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

export async function TransferWorkflow(input: TransferInput): Promise<TransferResult> {
  let status: TransferStatus = { transferId: input.transferId, status: 'started', request: input };
  setHandler(transferStatusQuery, () => status);
  tagRun(input);

  try {
    const record = await applyTransfer(ledgerRequest(input));
    status = { ...status, status: 'posted', ledgerState: record.state, completedAt: record.updatedAt };
    upsertSearchAttributes([{ key: PaymentStatus, value: 'posted' }]);
    return result(input, record);
  } catch (err) {
    const failure = domainFailure(err);
    if (!failure) throw err;
    status = { ...status, status: 'failed', failure: { code: failure.type ?? 'internal_error', message: failure.message } };
    upsertSearchAttributes([{ key: PaymentStatus, value: 'failed' }]);
    // The request travels with the failure so that a retried API call can tell it is the same request.
    throw ApplicationFailure.create({ message: failure.message, type: failure.type ?? undefined, nonRetryable: true, details: [{ request: input }] });
  }
}

function ledgerRequest(input: TransferInput): TransferRequest {
  return {
    id: input.transferId,
    debitAccount: input.kind === 'credit' ? input.sourceAccount! : userAccount(input.sourceUid!),
    creditAccount: userAccount(input.targetUid),
    amount: input.amount,
    currency: input.currency,
    kind: input.kind,
    reference: input.transferId,
  };
}

function result(input: TransferInput, record: TransferRecord): TransferResult {
  return {
    transferId: input.transferId,
    kind: input.kind,
    ...(input.kind === 'credit' ? { sourceAccount: input.sourceAccount } : { sourceUid: input.sourceUid }),
    targetUid: input.targetUid,
    amount: record.amount,
    currency: record.currency,
    state: record.state,
    createdAt: record.createdAt,
  };
}

/** Tags the run for the Temporal UI, unless its starter already did (transferStartOptions does, saving a write). */
function tagRun(input: TransferInput): void {
  const given = workflowInfo().typedSearchAttributes;
  const tags = [
    { key: PaymentKind, value: input.kind },
    { key: PaymentStatus, value: 'started' },
    { key: Uid, value: transferUids(input) },
  ].filter(({ key }) => given.get(key) === undefined);
  if (tags.length) upsertSearchAttributes(tags as SearchAttributeUpdatePair[]);
}

/** The non-retryable domain failure an activity reported, if that is what ended the attempt. */
function domainFailure(err: unknown): ApplicationFailure | undefined {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  return cause instanceof ApplicationFailure && cause.nonRetryable ? cause : undefined;
}
