// Outgoing notifications (M2Pool's topup / withdraw / pay results, seed 002): what a workflow asks to be delivered.
// NotificationWorkflow (`notify-{id}`) delivers it as a signed webhook, retried durably, and records each attempt; a payout
// makes the first attempt itself and starts NotificationWorkflow only when that attempt fails.

export type NotificationChannel = 'topup' | 'withdraw' | 'pay';

/** M2Pool's statuses: 2 detected and waiting for confirmations (deposits only), 1 final success, 0 final failure. */
export type NotificationStatus = 0 | 1 | 2;

export interface NotificationRequest {
  /** Unique per notification and its idempotency key, e.g. `deposit-31337-0xabc…-0:2` or `withdrawal-w_123:final`. */
  id: string;
  channel: NotificationChannel;
  /**
   * The body in M2Pool's response shape for the channel (address / queue_id / order_id, status, chain, symbol, amount,
   * tx_hash). Amounts are decimal strings here; the wire writes them as exact JSON numbers, as M2Pool's consumers expect.
   */
  payload: Record<string, string | number | null>;
  /**
   * Attempts at delivery run `run` made before NotificationWorkflow took the notification over (by the workflow that sent it
   * first, e.g. a payout): the workflow makes no immediate attempt of its own and numbers its attempts after these.
   */
  attemptsMade?: { run: number; attempts: number };
}

export const notificationWorkflowId = (id: string): string => `notify-${id}`;
