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
