// CheckoutSessionWorkflow's contract (seed 003's stablecoin checkout): the session, the transfers it is paid with, its
// statuses, signals, queries, updates, ledger names and start options. Pure: workflows import it (no ethers here).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { PaymentKind, PaymentStatus, Uid } from './search-attributes';

/**
 * As BTCPay names them. new: nothing seen; processing: a transfer is on chain, waiting for the network's confirmations;
 * underpaid: confirmed but short of the amount (a top-up before expiry makes it paid); paid: the amount exactly, confirmed;
 * overpaid: more (the excess is recorded); expired: nothing by expiry; paid_late: the amount was reached only by money
 * that came after expiry.
 */
export const CHECKOUT_STATUSES = ['new', 'processing', 'underpaid', 'paid', 'overpaid', 'expired', 'paid_late'] as const;
export type CheckoutStatus = (typeof CHECKOUT_STATUSES)[number];

/** The statuses in which the amount asked for has come and is confirmed. */
export const CHECKOUT_PAID_STATUSES: readonly CheckoutStatus[] = ['paid', 'overpaid', 'paid_late'];

export interface CheckoutToken {
  symbol: string;
  /** Lower case. */
  address: string;
  decimals: number;
}

/** Everything the workflow needs, fixed by the API when the session is created. */
export interface CheckoutSessionInput {
  /** `pay_…`; the workflow ID is `checkout-{id}`. */
  id: string;
  networkId: string;
  chainId: number;
  token: CheckoutToken;
  /** Token units ("10.5") and the same in base units ("10500000"). */
  amount: string;
  amountUnits: string;
  /** The product it was made for (its name, description and price became the session's); absent before products. */
  productId?: string | null;
  productName: string | null;
  description: string | null;
  /** sha256 of the canonical request: the same Idempotency-Key with another body is a conflict. */
  requestDigest: string;
  /** Blocks on top of a transfer's block before it counts (the network's, when the session was made). */
  confirmations: number;
  /** ISO, UTC: money seen after this is late. */
  expiresAt: string;
  /** After expiry, how long the address is still watched: what comes then is recorded as late. */
  lateWindowMs: number;
  /** Between two looks at the chain while a transfer waits for confirmations; a scanner's signal wakes it sooner. */
  checkIntervalMs: number;
}

/** A Transfer log of the session's token to its address, as the scanner or a receipt showed it. Lower-case hex. */
export interface CheckoutSighting {
  txHash: string;
  logIndex: number;
  from: string;
  /** Base units, decimal. */
  valueUnits: string;
  blockNumber: number;
  blockHash: string;
}

/** seen: on chain (or gone for now), waiting for confirmations; confirmed: final and credited; reorged: left the chain for good. */
export type CheckoutTransferState = 'seen' | 'confirmed' | 'reorged';

export interface CheckoutTransfer extends CheckoutSighting {
  state: CheckoutTransferState;
  /** Whether the canonical chain held the log at the last look. */
  onChain: boolean;
  confirmations: number;
  /** First seen after the session expired. */
  late: boolean;
  /** The ledger credit, once confirmed. */
  transferId: string | null;
}

/** What the workflow shows of a session, and what it writes to the read model. */
export interface CheckoutProgress {
  id: string;
  status: CheckoutStatus;
  /** Lower case; null until the session is recorded. */
  address: string | null;
  /** Base units: confirmed, on chain waiting for confirmations, and confirmed beyond the amount. */
  receivedUnits: string;
  pendingUnits: string;
  excessUnits: string;
  /** When the amount was first reached (ISO). */
  paidAt: string | null;
  transfers: CheckoutTransfer[];
}

/** What the chain says of the transfers a session waits on: the head, and where each one's log is now (null: not on the canonical chain). */
export interface CheckoutChainCheck {
  head: number;
  found: ({ blockNumber: number; blockHash: string } | null)[];
}

/** The scanner found Transfer logs to the session's address: the workflow records them and looks at the chain at once. */
export const checkoutTransfersSeenSignal = defineSignal<[CheckoutSighting[]]>('checkoutTransfersSeen');
export const checkoutStatusQuery = defineQuery<CheckoutProgress>('status');
/** Waits until the session is recorded with its address (the API answers with it). */
export const awaitCheckoutAddressUpdate = defineUpdate<{ address: string }>('awaitAddress');
/** A transaction a payer names (POST /api/v1/payments/:id/process): its transfers to the address are taken as seen. */
export const verifyCheckoutTxUpdate = defineUpdate<CheckoutProgress, [string]>('verifyTransaction');

export const checkoutWorkflowId = (paymentId: string): string => `checkout-${paymentId}`;
/** The ledger: each confirmed transfer moves its amount from the chain's account of the token to the merchant, once. */
export const checkoutTransferId = (chainId: number, txHash: string, logIndex: number): string => `checkout:${chainId}:${txHash}:${logIndex}`;
/** One merchant account per currency: durapay's checkout has one merchant, the operator (see README "Checkout"). */
export const CHECKOUT_MERCHANT_ACCOUNT = 'merchant:checkout';

const sum = (values: string[]): bigint => values.reduce((total, v) => total + BigInt(v), 0n);

/**
 * The session's status and sums from its transfers (pure, so the workflow and the tests agree). Money on time is what
 * was first seen before expiry; a transfer that is off the canonical chain counts for nothing until it is back.
 */
export function checkoutTotals(amountUnits: string, transfers: CheckoutTransfer[], expired: boolean): Pick<CheckoutProgress, 'status' | 'receivedUnits' | 'pendingUnits' | 'excessUnits'> {
  const amount = BigInt(amountUnits);
  const confirmed = transfers.filter((t) => t.state === 'confirmed');
  const received = sum(confirmed.map((t) => t.valueUnits));
  const onTime = sum(confirmed.filter((t) => !t.late).map((t) => t.valueUnits));
  const pending = sum(transfers.filter((t) => t.state === 'seen' && t.onChain).map((t) => t.valueUnits));
  const excess = received > amount ? received - amount : 0n;
  let status: CheckoutStatus;
  if (onTime >= amount) status = received > amount ? 'overpaid' : 'paid';
  else if (received >= amount) status = 'paid_late';
  else if (pending > 0n) status = 'processing';
  else if (received > 0n) status = 'underpaid';
  else status = expired ? 'expired' : 'new';
  return { status, receivedUnits: received.toString(), pendingUnits: pending.toString(), excessUnits: excess.toString() };
}

/** A session is its own workflow: a retried create joins the running one; a closed one is never run again. */
export function checkoutStartOptions(input: CheckoutSessionInput, taskQueue: string) {
  return {
    taskQueue,
    workflowId: checkoutWorkflowId(input.id),
    args: [input] as [CheckoutSessionInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: PaymentKind, value: 'checkout' },
      { key: PaymentStatus, value: 'new' },
      { key: Uid, value: [] as string[] },
    ],
  };
}
