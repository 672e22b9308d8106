// WithdrawalWorkflow's and MerchantPaymentWorkflow's contracts (M2Pool withdraw / pay, seed 002), and the chain sends they
// make: ChainConfirmationWorkflow's input, observations and outcomes. Shared by the API, the workflows and the activities.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { NotificationChannel } from './notification';
import { PaymentKind, PaymentStatus, Uid } from './search-attributes';

/** A withdrawal pays a user's tokens out to an address of theirs; a merchant payment pays a merchant for an order. */
export type ChainPayoutKind = 'withdrawal' | 'payment';

/** Everything the workflow needs, fixed by the API when the request is accepted. */
export interface ChainPayoutRequest {
  /** The workflow ID (`withdrawal-{queueId}` / `payment-{queueId}`); also the ledger hold's id and the chain send's reference. */
  id: string;
  kind: ChainPayoutKind;
  /** M2Pool's queue_id: the caller's idempotency key. */
  queueId: string;
  /** M2Pool's order_id; payments only. */
  orderId: string | null;
  uid: number;
  /** M2Pool's from_address (the user's deposit address) when the caller named the user by it; lower case. */
  fromAddress: string | null;
  /** Lower case. */
  toAddress: string;
  /** In token units, canonical ("12.5"). */
  amount: string;
  /** The same amount in the token's base units, decimal. */
  units: string;
  network: string;
  chainId: number;
  /** What the notification calls the chain (M2Pool's `chain`): as the caller named it, else the network id. */
  chainName: string;
  token: { symbol: string; contract: string; decimals: number };
  /** The ledger currency the user's balance is held in: the token's symbol. */
  currency: string;
  /** Blocks on top of the transaction's own before it counts (the network's setting). */
  confirmations: number;
  /** sha256 of the canonical request: the same queue_id with another body is an idempotency_conflict. */
  requestDigest: string;
  follow: ChainTxFollowSettings;
}

/**
 * holding: the hold is being placed; refused: it could not be (insufficient funds), nothing was signed; held: the balance
 * is held; sent: a transaction is signed and persisted (and broadcast); confirmed: it has its confirmations and the hold is
 * posted; failed: it never will (both wallets short, reverted, dropped) and the hold is voided.
 */
export type ChainPayoutStatus = 'holding' | 'refused' | 'held' | 'sent' | 'confirmed' | 'failed';

export interface ChainPayoutFailure {
  code: string;
  message: string;
}

export interface ChainPayoutProgress {
  id: string;
  status: ChainPayoutStatus;
  wallet: { kind: 'hot' | 'collection'; address: string } | null;
  /** The first transaction's hash while it is followed; the one that was mined once final. */
  txHash: string | null;
  blockNumber: number | null;
  failure: ChainPayoutFailure | null;
}

export const chainPayoutStatusQuery = defineQuery<ChainPayoutProgress>('status');
/** Waits until the balance is held (or refused) and returns the progress; fails with insufficient_funds (or another refusal). */
export const awaitHoldUpdate = defineUpdate<ChainPayoutProgress>('awaitHold');
/** Asks for the pending transaction to be replaced with a higher fee now (forwarded to ChainConfirmationWorkflow). */
export const bumpFeeSignal = defineSignal('bumpFee');

export const withdrawalWorkflowId = (queueId: string): string => `withdrawal-${queueId}`;
export const merchantPaymentWorkflowId = (queueId: string): string => `payment-${queueId}`;
export const chainPayoutWorkflowId = (kind: ChainPayoutKind, queueId: string): string =>
  kind === 'withdrawal' ? withdrawalWorkflowId(queueId) : merchantPaymentWorkflowId(queueId);
export const chainPayoutWorkflowType = (kind: ChainPayoutKind): string => (kind === 'withdrawal' ? 'WithdrawalWorkflow' : 'MerchantPaymentWorkflow');

const QUEUE_ID = /^[A-Za-z0-9._:-]{1,100}$/;
export const isQueueId = (value: string): boolean => QUEUE_ID.test(value);

/** M2Pool's channel of the final notification. */
export const notificationChannelOf = (kind: ChainPayoutKind): NotificationChannel => (kind === 'withdrawal' ? 'withdraw' : 'pay');

/** The id of the one final notification of a payout (`withdrawal-w_123:final`). */
export const finalNotificationId = (payoutId: string): string => `${payoutId}:final`;

/** M2Pool's withdraw_resp / pay_resp body: status 1 success, 0 failure. */
export function notificationPayload(request: ChainPayoutRequest, status: 0 | 1, txHash: string | null): Record<string, string | number | null> {
  return {
    queue_id: request.queueId,
    status,
    amount: request.amount,
    chain: request.chainName,
    symbol: request.token.symbol,
    tx_hash: txHash,
    ...(request.kind === 'payment' && { order_id: request.orderId }),
  };
}

export function chainPayoutStartOptions(request: ChainPayoutRequest, taskQueue: string) {
  return {
    taskQueue,
    workflowId: request.id,
    args: [request] as [ChainPayoutRequest],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    // What was asked, readable from the run's description before any worker has recorded it.
    memo: { request },
    typedSearchAttributes: [
      { key: PaymentKind, value: request.kind },
      { key: PaymentStatus, value: 'holding' },
      { key: Uid, value: [String(request.uid)] },
    ],
  };
}

// ——— Chain sends: ChainConfirmationWorkflow (`confirm-{chainId}-{txHash}`) ———

export interface ChainTxFollowSettings {
  /** Time between two looks at the chain. */
  pollMs: number;
  /** A transaction not mined this long after it was sent, while the fee market asks more than it pays, is replaced. */
  stuckAfterMs: number;
  /** Most replacements of one transaction (each pays at least 12.5% more). */
  maxFeeBumps: number;
}

export interface FollowChainTx extends ChainTxFollowSettings {
  chainId: number;
  /** The first signature's hash; the workflow's ID is made of it, and replacements join it in its state. */
  hash: string;
  /** Blocks on top of the transaction's own before it is final. */
  confirmations: number;
  /** When the payout gave a node the transaction (ms since the epoch), if it knows: the first look is timed from it. */
  broadcastAt?: number;
}

/** What one look at the chain found of a transaction and its replacements (one nonce, several hashes). */
export interface ChainTxObservation {
  /** The latest block number. */
  head: number;
  /** The attempt with a receipt on the canonical chain, if any (they share a nonce: at most one). */
  mined: { hash: string; blockNumber: number; blockHash: string; status: 0 | 1 } | null;
  /** Whether a node knows any attempt (in its pool or mined): false means it must be broadcast again. */
  known: boolean;
  /** The sender's transactions in mined blocks: above the nonce means the nonce is used. */
  minedNonces: number;
  nonce: number;
  /** The fee market asks more than the latest attempt pays. */
  marketAbove: boolean;
}

export type ChainTxEventKind = 'broadcast' | 'rebroadcast' | 'mined' | 'reorged-out' | 'replaced' | 'nonce-used' | 'predecessors-rebroadcast';

export interface ChainTxEvent {
  kind: ChainTxEventKind;
  hash: string;
  /** Workflow time, ISO. */
  at: string;
  blockNumber?: number;
  /** replaced: the hash that replaces `hash`. */
  by?: string;
}

/**
 * confirmed: an attempt has its confirmations and succeeded; failed: it has them and reverted; dropped: the nonce was used
 * by a transaction that is none of ours, with the confirmations. `replaced` and `reorged-out` are events along the way: the
 * workflow keeps following (a reorged-out transaction may come back).
 */
export type ChainTxOutcome =
  | { outcome: 'confirmed' | 'failed'; hash: string; blockNumber: number; blockHash: string; receiptStatus: 0 | 1; hashes: string[]; events: ChainTxEvent[] }
  | { outcome: 'dropped'; hash: null; blockNumber: null; blockHash: null; receiptStatus: null; hashes: string[]; events: ChainTxEvent[] };

export interface ChainTxProgress {
  chainId: number;
  hashes: string[];
  status: 'pending' | 'mined' | ChainTxOutcome['outcome'];
  /** Blocks on top of the mined attempt's block at the last look; 0 while none is mined. */
  confirmations: number;
  events: ChainTxEvent[];
}

export const chainTxStatusQuery = defineQuery<ChainTxProgress>('status');
