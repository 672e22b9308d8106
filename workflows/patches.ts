// Patch ids (`patched()`) of changes to workflows that runs started before them, and recorded histories, replay without.
import { patched } from '@temporalio/workflow';

/** Calls `after` in a run that reaches the call since `patch`, `before` in runs (and recorded histories) from before it. */
export const since =
  <F extends (...args: never[]) => Promise<unknown>>(patch: string, after: F, before: F): F =>
  ((...args: Parameters<F>) => (patched(patch) ? after : before)(...args)) as F;

/** Chain reads (a deposit's log, a transaction's receipt, a checkout session's transfers) as local activities instead of activity tasks. */
export const LOCAL_CHAIN_READS = 'local-chain-reads';
/** A notification's first delivery attempt as a local activity, before the retried activity. */
export const FIRST_DELIVERY_LOCAL = 'first-delivery-local';
/** A followed transaction's outcome recorded by a local activity. */
export const LOCAL_CHAIN_OUTCOME = 'local-chain-outcome';
/** A withdrawal's transfer signed, persisted and broadcast by one activity (sendTokenTransfer) instead of two. */
export const ONE_SEND_ACTIVITY = 'one-send-activity';
/** A payout's final notification started by a local activity, not as a child whose start the payout waits to hear of. */
export const NOTIFY_BY_ACTIVITY = 'notify-by-activity';
/** A withdrawal's send (sendTokenTransfer) as a local activity, in the workflow task that took the hold. */
export const LOCAL_SEND = 'local-send';
/**
 * A payout as it runs since this patch, under one marker (each patch also costs an upsert of TemporalChangeVersion): the
 * send a local activity (as LOCAL_SEND), no 'held' status of its own (the send's 'sent' comes in the same workflow task),
 * and the final notification's first delivery attempt made by the payout itself, NotificationWorkflow started only when
 * that attempt fails. Runs from before it take the patches above, in their order.
 */
export const PAYOUT_NOTIFIES_ITSELF = 'payout-notifies-itself';
/**
 * A followed transaction as it runs since this patch, under one marker: its reads and its outcome as local activities (as
 * LOCAL_CHAIN_READS and LOCAL_CHAIN_OUTCOME), a first look only once its confirmations may be there, and no 'mined'
 * status of its own when the look that sees it mined also sees it final.
 */
export const FOLLOW_FROM_CONFIRMATIONS = 'follow-from-confirmations';
/**
 * A deposit's notifications (pending, then final) recorded and first attempted by the deposit itself, NotificationWorkflow
 * started as a child only when that attempt fails (as PAYOUT_NOTIFIES_ITSELF for a payout's final one).
 */
export const DEPOSIT_NOTIFIES_ITSELF = 'deposit-notifies-itself';
/**
 * A payout as it runs since this patch, under one marker: as PAYOUT_NOTIFIES_ITSELF, and the payout takes the first look
 * at its transaction itself, when its confirmations may be there; ChainConfirmationWorkflow is started only when that look
 * does not find it final (or a fee bump is asked for before it). One workflow and two workflow tasks for most payouts.
 */
export const PAYOUT_LOOKS_FIRST = 'payout-looks-first';
