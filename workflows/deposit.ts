// DepositWorkflow (`deposit-{chainId}-{txHash}-{logIndex}`, M2Pool topup): a Transfer log to a user's deposit address →
// recorded pending, pending notification (status 2) → the network's confirmations on the canonical chain → credited
// once, final notification (1); a log that left the chain and did not come back by then → reorged, notification 0, no
// credit. Started (or woken) by the chain scanner's signal-with-start; a log re-included elsewhere is followed there.
import {
  ChildWorkflowFailure,
  condition,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  upsertSearchAttributes,
  type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { depositActivities } from '../activities/deposits';
import {
  chainReorgedSignal,
  confirmationsAt,
  depositSeenSignal,
  depositStatusQuery,
  TOPUP_STATUS,
  type DepositInput,
  type DepositProgress,
  type DepositResult,
  type DepositSighting,
  type DepositStatus,
} from '../domain/deposit';
import { notificationWorkflowId, type NotificationRequest, type NotificationStatus } from '../domain/notification';
import { PaymentStatus } from '../domain/search-attributes';
import { deliverHereFirst } from './first-delivery';
import type { NotificationWorkflow } from './notification';
import { DEPOSIT_NOTIFIES_ITSELF, LOCAL_CHAIN_READS, since } from './patches';

type Activities = ReturnType<typeof depositActivities>;

// DB writes as local activities, retried until they succeed: each is idempotent and the deposit must reach its end.
const { recordDeposit, moveDeposit, creditDeposit, markDepositReorged } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
// A look at the chain: an RPC outage is waited out by its retries, however long.
const CHAIN_READ = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } } as const;
const tasks = proxyActivities<Activities>(CHAIN_READ);
// Since LOCAL_CHAIN_READS, the look is a local activity: no activity task and no workflow task of its own on the server,
// which on a busy chain (a thousand deposits in a block) is what the server's throughput is spent on.
const locals = proxyLocalActivities<Activities>(CHAIN_READ);
const checkDepositLog = since(LOCAL_CHAIN_READS, locals.checkDepositLog, tasks.checkDepositLog);

/** Looks at a chain that does not move are spaced out, up to this many check intervals: a halted chain keeps a short history. */
const MAX_BACKOFF = 16;

export async function DepositWorkflow(deposit: DepositInput): Promise<DepositResult> {
  const current = patched(DEPOSIT_NOTIFIES_ITSELF);
  let progress: DepositProgress = {
    id: deposit.id,
    status: 'pending',
    blockNumber: deposit.blockNumber,
    blockHash: deposit.blockHash,
    confirmations: 0,
    requiredConfirmations: deposit.confirmations,
    transferId: null,
  };
  let wake = false;
  setHandler(depositStatusQuery, () => progress);
  setHandler(depositSeenSignal, (seen: DepositSighting) => {
    if (seen.blockHash !== progress.blockHash) wake = true;
  });
  setHandler(chainReorgedSignal, () => {
    wake = true;
  });
  const setStatus = (status: DepositStatus, changes: Partial<DepositProgress> = {}) => {
    progress = { ...progress, ...changes, status };
    upsertSearchAttributes([{ key: PaymentStatus, value: status }]);
  };

  const stored = await recordDeposit(deposit);
  progress = { ...progress, blockNumber: stored.blockNumber, blockHash: stored.blockHash, transferId: stored.transferId };
  // A run started again for a deposit that is already final (its first run's history gone): nothing more to do.
  if (stored.status === 'confirmed') {
    setStatus('confirmed');
    return progress;
  }

  const pendingNotice = await notify(deposit, TOPUP_STATUS.pending, current);
  const outcome = await followToConfirmation();
  if (outcome === 'confirmed') {
    const { transferId } = await creditDeposit({ ...deposit, blockNumber: progress.blockNumber, blockHash: progress.blockHash });
    setStatus('confirmed', { transferId });
  } else {
    await markDepositReorged(deposit.id);
    setStatus('reorged', { confirmations: 0 });
  }
  // M2Pool's consumer must see "detected" before the outcome: the final notice waits until the pending one is delivered.
  await delivered(pendingNotice);
  await notify(deposit, outcome === 'confirmed' ? TOPUP_STATUS.confirmed : TOPUP_STATUS.reorged, current);
  return progress;

  /**
   * Looks at the chain until the log's block has the confirmations (confirmed) or the log has been gone from the
   * canonical chain until the head passed the height at which it would have been confirmed, with a new block since
   * it was found gone (reorged). A log found in another block (its transaction re-included) is followed there.
   */
  async function followToConfirmation(): Promise<'confirmed' | 'reorged'> {
    let goneAtHead: number | null = null;
    let lastHead = -1;
    let backoff = 1;
    for (;;) {
      wake = false; // a signal that comes while the chain is being looked at calls for another look
      const { head, log } = await checkDepositLog(deposit);
      if (log) {
        goneAtHead = null;
        if (log.blockHash !== progress.blockHash) {
          await moveDeposit(deposit.id, log);
          progress = { ...progress, blockNumber: log.blockNumber, blockHash: log.blockHash };
        }
        progress = { ...progress, confirmations: confirmationsAt(log.blockNumber, head) };
        if (progress.confirmations >= deposit.confirmations) return 'confirmed';
      } else {
        progress = { ...progress, confirmations: 0 };
        goneAtHead ??= head;
        if (head > goneAtHead && head >= progress.blockNumber + deposit.confirmations) return 'reorged';
      }
      backoff = head === lastHead ? Math.min(backoff * 2, MAX_BACKOFF) : 1;
      lastHead = head;
      // A log that needs k more blocks is looked at again in k intervals (an interval is at most a block's time): a deposit
      // costs a few looks however many confirmations its network asks for.
      const blocksToGo = log ? deposit.confirmations - progress.confirmations : 1;
      await condition(() => wake, deposit.checkIntervalMs * Math.max(backoff, blocksToGo));
    }
  }
}

type Notice = ChildWorkflowHandle<typeof NotificationWorkflow>;

/**
 * The notification of `status`. Since DEPOSIT_NOTIFIES_ITSELF the deposit records it and makes the first delivery attempt;
 * only when that fails is NotificationWorkflow started, as a child that outlives this run, to retry it (its attempts
 * numbered after this one). Before, that child was always started. Null when nothing is left in flight: delivered here,
 * finished before, or started before (a re-run).
 */
async function notify(deposit: DepositInput, status: NotificationStatus, current: boolean): Promise<Notice | null> {
  let request: NotificationRequest = {
    id: `${deposit.id}:${status}`,
    channel: 'topup',
    payload: { address: deposit.to, status, chain: deposit.chain, symbol: deposit.token.symbol, amount: deposit.amount, tx_hash: deposit.txHash },
  };
  if (current) {
    const handOver = await deliverHereFirst(request);
    if (!handOver) return null;
    request = handOver;
  }
  try {
    return await startChild<typeof NotificationWorkflow>('NotificationWorkflow', {
      workflowId: notificationWorkflowId(request.id),
      args: [request],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return null;
    throw err;
  }
}

/** Until the notification is delivered or given up (it retries on its own for a day): either way no longer in flight. */
async function delivered(notice: Notice | null): Promise<void> {
  try {
    await notice?.result();
  } catch (err) {
    // Terminated or failed by an operator: the next notice need not wait for it.
    if (!(err instanceof ChildWorkflowFailure)) throw err;
  }
}
