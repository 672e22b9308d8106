// WithdrawalWorkflow (`withdrawal-{queueId}`) and MerchantPaymentWorkflow (`payment-{queueId}`), M2Pool's withdraw and pay:
// hold the user's balance → sign a token transfer from the hot wallet (the collection wallet when the hot one is short of
// tokens or gas), persisted before it is broadcast → broadcast → follow it to its confirmations (one look by the payout
// when they may be there; ChainConfirmationWorkflow when that look does not find them) → post the hold, or void it → one
// final notification, sent only once the outcome is final (seed 002's lesson: never a failure notice followed by a success).
import {
  ActivityFailure,
  ApplicationFailure,
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
import type { chainSendActivities, SignedSend } from '../activities/chain-sends';
import type { chainPayoutActivities, ChainPayoutSettlement } from '../activities/chain-withdrawals';
import type { notifyActivities } from '../activities/notify';
import { notificationWorkflowId, type NotificationRequest } from '../domain/notification';
import { PaymentKind, PaymentStatus } from '../domain/search-attributes';
import {
  awaitHoldUpdate,
  bumpFeeSignal,
  chainPayoutStatusQuery,
  finalNotificationId,
  notificationChannelOf,
  notificationPayload,
  type ChainPayoutFailure,
  type ChainPayoutProgress,
  type ChainPayoutRequest,
  type ChainPayoutStatus,
  type ChainTxOutcome,
  type FollowChainTx,
} from '../domain/withdrawal';
import { ChainConfirmationWorkflow, firstLookAt, lookFirst, type FollowState } from './chain-confirmation';
import { deliverHereFirst } from './first-delivery';
import { LOCAL_SEND, NOTIFY_BY_ACTIVITY, ONE_SEND_ACTIVITY, PAYOUT_LOOKS_FIRST, PAYOUT_NOTIFIES_ITSELF } from './patches';

type PayoutActivities = ReturnType<typeof chainPayoutActivities>;
type SendActivities = ReturnType<typeof chainSendActivities>;
type NotifyActivities = ReturnType<typeof notifyActivities>;

// DB writes and the notification's start, as local activities, retried until they succeed: they are idempotent and the
// payout must reach its end.
const { holdChainPayout, settleChainPayout, startNotification } = proxyLocalActivities<PayoutActivities & NotifyActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
// Chain reads and the persisted bytes' broadcast: an RPC outage is waited out. A domain error (no such network or wallet) is final.
const SEND = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' } } as const;
const { signTokenTransfer, sendTokenTransfer, broadcastChainTx } = proxyActivities<SendActivities>(SEND);
const { sendTokenTransfer: sendTokenTransferHere } = proxyLocalActivities<SendActivities>(SEND);

export async function WithdrawalWorkflow(request: ChainPayoutRequest): Promise<ChainPayoutProgress> {
  return payOut(request);
}

export async function MerchantPaymentWorkflow(request: ChainPayoutRequest): Promise<ChainPayoutProgress> {
  return payOut(request);
}

async function payOut(request: ChainPayoutRequest): Promise<ChainPayoutProgress> {
  const looksFirst = patched(PAYOUT_LOOKS_FIRST);
  const current = looksFirst || patched(PAYOUT_NOTIFIES_ITSELF);
  let progress: ChainPayoutProgress = { id: request.id, status: 'holding', wallet: null, txHash: null, blockNumber: null, failure: null };
  let follower: ChildWorkflowHandle<typeof ChainConfirmationWorkflow> | undefined;
  let bumpAsked = false;
  let followed = false;

  setHandler(chainPayoutStatusQuery, () => progress);
  setHandler(awaitHoldUpdate, async () => {
    await condition(() => progress.status !== 'holding');
    if (progress.status === 'refused') throw ApplicationFailure.create({ message: progress.failure!.message, type: progress.failure!.code, nonRetryable: true });
    return progress;
  });
  // Only a transaction being followed can be bumped: a request that comes before the child's start (it cuts the payout's
  // own first look short) waits for the child, instead of being lost; one that comes when the outcome is known is moot.
  setHandler(bumpFeeSignal, async () => {
    bumpAsked = true;
    await condition(() => follower !== undefined || followed);
    await follower?.signal(bumpFeeSignal).catch(() => undefined);
  });

  const setStatus = (status: ChainPayoutStatus, changes: Partial<ChainPayoutProgress> = {}) => {
    progress = { ...progress, ...changes, status };
    upsertSearchAttributes([{ key: PaymentStatus, value: status }]);
  };

  async function finish(settlement: ChainPayoutSettlement): Promise<ChainPayoutProgress> {
    await settleChainPayout(request, settlement);
    const failure = settlement.status === 'failed' ? settlement.failure : null;
    setStatus(settlement.status, { txHash: settlement.txHash, blockNumber: settlement.blockNumber, failure });
    await notifyOnce(request, settlement.status === 'confirmed' ? 1 : 0, settlement.txHash, current);
    return progress;
  }

  const hold = await holdChainPayout(request);
  if ('refused' in hold) {
    setStatus('refused', { failure: hold.refused });
    await notifyOnce(request, 0, null, current);
    throw ApplicationFailure.create({ message: hold.refused.message, type: hold.refused.code, nonRetryable: true });
  }
  if (!current) setStatus('held');

  // Since ONE_SEND_ACTIVITY the broadcast is the signing activity's last step; before it, an activity of its own. Since
  // LOCAL_SEND that activity is a local one, run in the workflow task that took the hold: no task of its own to wait for,
  // and the API, which waits for the hold, hears of it when the transfer is broadcast.
  const together = current || patched(ONE_SEND_ACTIVITY);
  const signed = await sign(request, !together ? signTokenTransfer : current || patched(LOCAL_SEND) ? sendTokenTransferHere : sendTokenTransfer);
  if ('failure' in signed) return finish({ status: 'failed', failure: signed.failure, txHash: null, blockNumber: null });
  setStatus('sent', { wallet: signed.wallet, txHash: signed.hash });
  if (!together) await broadcastChainTx(request.chainId, signed.hash);

  const follow: FollowChainTx = {
    chainId: request.chainId,
    hash: signed.hash,
    confirmations: request.confirmations,
    ...request.follow,
    ...(current && { broadcastAt: signed.broadcastAt }),
  };
  // Since PAYOUT_LOOKS_FIRST the payout looks once itself, when the confirmations may be there: most transactions are
  // final then, and need no workflow of their own. A fee bump asked for meanwhile cuts the wait short.
  let outcome: ChainTxOutcome | undefined;
  let carried: FollowState | undefined;
  if (looksFirst) {
    const sentAt = Date.now();
    const lookAt = firstLookAt(follow, sentAt);
    if (lookAt > sentAt) await condition(() => bumpAsked, lookAt - sentAt);
    if (!bumpAsked) {
      const look = await lookFirst(follow, sentAt);
      if ('outcome' in look) outcome = look.outcome;
      else carried = look.carried;
    }
  }
  if (!outcome) {
    follower = await startChild(ChainConfirmationWorkflow, {
      workflowId: signed.confirmWorkflowId,
      args: carried ? [follow, carried] : [follow],
      typedSearchAttributes: [
        { key: PaymentKind, value: 'chain_tx' },
        { key: PaymentStatus, value: carried?.mined ? 'mined' : 'pending' },
      ],
    });
    outcome = await follower.result();
  }
  followed = true;
  if (outcome.outcome === 'confirmed') return finish({ status: 'confirmed', txHash: outcome.hash, blockNumber: outcome.blockNumber });
  return finish({ status: 'failed', failure: failureOf(outcome), txHash: outcome.hash ?? signed.hash, blockNumber: outcome.blockNumber });
}

/** The transfer signed and persisted (and broadcast, by sendTokenTransfer), or why no wallet could make it (nothing was signed then). */
async function sign(request: ChainPayoutRequest, activity: SendActivities['signTokenTransfer']): Promise<SignedSend | { failure: ChainPayoutFailure }> {
  try {
    const result = await activity({
      chainId: request.chainId,
      network: request.network,
      reference: request.id,
      purpose: request.kind,
      token: request.token.contract,
      tokenSymbol: request.token.symbol,
      tokenDecimals: request.token.decimals,
      recipient: request.toAddress,
      units: request.units,
    });
    return 'sent' in result ? result.sent : { failure: result.short };
  } catch (err) {
    // A domain error (the network or its wallets are gone): final, and the hold is given back.
    const cause = err instanceof ActivityFailure ? err.cause : err;
    if (cause instanceof ApplicationFailure && cause.nonRetryable) return { failure: { code: cause.type ?? 'internal_error', message: cause.message } };
    throw err;
  }
}

function failureOf(outcome: ChainTxOutcome): ChainPayoutFailure {
  if (outcome.outcome === 'failed') return { code: 'chain_tx_reverted', message: `transaction ${outcome.hash} reverted in block ${outcome.blockNumber}` };
  return { code: 'chain_tx_dropped', message: `nonce of ${outcome.hashes.join(', ')} was used by another transaction: none of them can be mined` };
}

/**
 * The payout's one final notification. Since PAYOUT_NOTIFIES_ITSELF the payout records it and makes the first delivery
 * attempt; only when that fails does NotificationWorkflow (which retries on its own, left running when this run closes)
 * take it over, its attempts numbered after this one. Before, NotificationWorkflow was always started: by a local activity
 * since NOTIFY_BY_ACTIVITY, as a child before that. Its ID is the notification's: a start made already is not repeated.
 */
async function notifyOnce(request: ChainPayoutRequest, status: 0 | 1, txHash: string | null, current: boolean): Promise<void> {
  const id = finalNotificationId(request.id);
  const notification: NotificationRequest = { id, channel: notificationChannelOf(request.kind), payload: notificationPayload(request, status, txHash) };
  if (current) {
    const handOver = await deliverHereFirst(notification);
    if (handOver) await startNotification(handOver);
    return;
  }
  if (patched(NOTIFY_BY_ACTIVITY)) return startNotification(notification);
  try {
    await startChild('NotificationWorkflow', {
      workflowId: notificationWorkflowId(id),
      args: [notification],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
