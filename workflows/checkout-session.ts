// CheckoutSessionWorkflow (`checkout-{paymentId}`, seed 003): a session with its own receiving address → transfers of its
// token to it, from the scanner's signals or a payer's tx hash → each followed to the network's confirmations on the
// canonical chain and credited to the merchant once → the status (new, processing, underpaid, paid, overpaid, expired,
// paid_late) written to the read model on every change, where the API's WebSocket subscribers see it. The address is
// watched until the late window after expiry has passed and no transfer is still waiting.
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { checkoutActivities } from '../activities/checkout';
import {
  awaitCheckoutAddressUpdate,
  CHECKOUT_PAID_STATUSES,
  checkoutStatusQuery,
  checkoutTotals,
  checkoutTransfersSeenSignal,
  verifyCheckoutTxUpdate,
  type CheckoutProgress,
  type CheckoutSessionInput,
  type CheckoutSighting,
  type CheckoutTransfer,
} from '../domain/checkout';
import { chainReorgedSignal, confirmationsAt } from '../domain/deposit';
import { PaymentStatus } from '../domain/search-attributes';
import { LOCAL_CHAIN_READS, since } from './patches';

type Activities = ReturnType<typeof checkoutActivities>;

// DB writes as local activities, retried until they succeed: each is idempotent and the session must reach its end.
const { openCheckoutSession, saveCheckoutProgress, creditCheckoutTransfer, closeCheckoutSession } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
// A look at the chain: an RPC outage is waited out by its retries, however long.
const CHAIN_READ = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' } } as const;
const { checkCheckoutTransfers: checkTask } = proxyActivities<Activities>(CHAIN_READ);
// Since LOCAL_CHAIN_READS, a local activity: no task of its own on the server, and a look cut short by a worker's death is
// made again by the next worker within its workflow task, not after the activity's 30 s timeout.
const { checkCheckoutTransfers: checkLocal } = proxyLocalActivities<Activities>(CHAIN_READ);
const checkCheckoutTransfers = since(LOCAL_CHAIN_READS, checkLocal, checkTask);
// A payer waits on this one (POST …/process): a node that stays down is a clear failure within seconds.
const { findCheckoutTransfers } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '4s', maximumAttempts: 3, nonRetryableErrorTypes: ['tx_not_found', 'tx_not_for_payment', 'chain_tx_reverted'] },
});

/** Looks at a chain that does not move are spaced out, up to this many check intervals: a halted chain keeps a short history. */
const MAX_BACKOFF = 16;

interface Tracked extends CheckoutTransfer {
  /** The head at which the log was first found missing from the canonical chain; null while it is there. */
  goneAtHead: number | null;
}

/** What a run hands the next when it continues as new (a long watch over a chain that keeps a transfer waiting). */
export interface CheckoutCarried {
  progress: CheckoutProgress;
  transfers: Tracked[];
}

const keyOf = (t: CheckoutSighting): string => `${t.txHash}:${t.logIndex}`;

export async function CheckoutSessionWorkflow(session: CheckoutSessionInput, carried?: CheckoutCarried): Promise<CheckoutProgress> {
  const expiresAt = Date.parse(session.expiresAt);
  const watchUntil = expiresAt + session.lateWindowMs;
  const transfers = new Map<string, Tracked>(carried?.transfers.map((t) => [keyOf(t), t]));
  let progress: CheckoutProgress = carried?.progress ?? { id: session.id, status: 'new', address: null, receivedUnits: '0', pendingUnits: '0', excessUnits: '0', paidAt: null, transfers: [] };
  let wake = false;
  // Changes to the transfers, and how many of them the read model has: an update answers once its change is published.
  let changes = 0;
  let published = 0;
  let closing = false;

  setHandler(checkoutStatusQuery, () => progress);
  setHandler(awaitCheckoutAddressUpdate, async () => {
    await condition(() => progress.address !== null);
    return { address: progress.address! };
  });
  setHandler(checkoutTransfersSeenSignal, (sightings) => sightings.forEach(see));
  setHandler(chainReorgedSignal, () => {
    wake = true;
  });
  setHandler(
    verifyCheckoutTxUpdate,
    async (txHash) => {
      await condition(() => progress.address !== null);
      const found = await findTransfers(txHash);
      if (closing) throw ApplicationFailure.create({ message: `payment ${session.id} is closed: its address is no longer watched`, type: 'payment_closed', nonRetryable: true });
      found.forEach(see);
      const target = changes;
      await condition(() => published >= target);
      return progress;
    },
    {
      validator: (txHash) => {
        if (!/^0x[0-9a-f]{64}$/.test(txHash)) throw new Error('txHash must be 0x followed by 64 lower-case hex digits');
      },
    },
  );

  if (progress.address === null) progress = { ...progress, address: (await openCheckoutSession(session)).address };
  let backoff = 1;
  let lastHead = -1;
  for (;;) {
    if (workflowInfo().continueAsNewSuggested) {
      await settleHandlers();
      await continueAsNew<typeof CheckoutSessionWorkflow>(session, { progress, transfers: [...transfers.values()] });
    }
    wake = false; // a signal that comes while the chain is being looked at calls for another look
    const seenBefore = changes;
    if (waiting().length > 0) {
      const head = await followTransfers();
      backoff = head === lastHead ? Math.min(backoff * 2, MAX_BACKOFF) : 1;
      lastHead = head;
    }
    await publish(seenBefore);
    if (Date.now() >= watchUntil && waiting().length === 0) break;
    const untilNext = waiting().length > 0 ? session.checkIntervalMs * backoff : (Date.now() < expiresAt ? expiresAt : watchUntil) - Date.now();
    await condition(() => wake, Math.max(untilNext, 1));
  }
  // A payer's update still in flight is answered (payment_closed) before the run ends.
  closing = true;
  await settleHandlers();
  await closeCheckoutSession(session.id);
  return progress;

  /** Until no update is in flight: those that wait for their transfers to be published get them published. */
  async function settleHandlers(): Promise<void> {
    while (!allHandlersFinished()) {
      await condition(() => allHandlersFinished() || wake);
      wake = false;
      await publish(changes);
    }
  }

  /** A sighting of a log: new, or one that was off the chain (or in another block) and is back. */
  function see(sighting: CheckoutSighting): void {
    // Past the watch: the address is being closed, and what comes now is no longer this session's.
    if (closing) return;
    const key = keyOf(sighting);
    const known = transfers.get(key);
    if (known && (known.state === 'confirmed' || (known.onChain && known.blockHash === sighting.blockHash))) return;
    transfers.set(key, {
      ...sighting,
      state: 'seen',
      onChain: true,
      confirmations: 0,
      // A transfer first seen on time stays on time when a reorg moves it past expiry: the payer paid in time.
      late: known ? known.late : Date.now() >= expiresAt,
      transferId: null,
      goneAtHead: null,
    });
    changes++;
    wake = true;
  }

  function waiting(): Tracked[] {
    return [...transfers.values()].filter((t) => t.state === 'seen');
  }

  /**
   * One look at the chain for every transfer waiting: a log in its block (or moved to another) counts the blocks on top;
   * one with the confirmations is credited; one gone from the canonical chain counts for nothing, and is given up once
   * the head has passed the height at which it would have been confirmed, with a new block since it was found gone.
   */
  async function followTransfers(): Promise<number> {
    const pending = waiting();
    const { head, found } = await checkCheckoutTransfers({
      chainId: session.chainId,
      tokenAddress: session.token.address,
      address: progress.address!,
      transfers: pending.map(({ txHash, logIndex, valueUnits }) => ({ txHash, logIndex, valueUnits })),
    });
    for (const [i, transfer] of pending.entries()) {
      const at = found[i];
      if (at) {
        Object.assign(transfer, { ...at, onChain: true, goneAtHead: null, confirmations: confirmationsAt(at.blockNumber, head) });
        if (transfer.confirmations >= session.confirmations) {
          const { transferId } = await creditCheckoutTransfer({ session, transfer });
          Object.assign(transfer, { state: 'confirmed', transferId });
        }
      } else {
        transfer.goneAtHead ??= head;
        Object.assign(transfer, { onChain: false, confirmations: 0 });
        if (head > transfer.goneAtHead && head >= transfer.blockNumber + session.confirmations) transfer.state = 'reorged';
      }
    }
    return head;
  }

  /** Recomputes the status and writes it to the read model when anything a payer sees has changed. */
  async function publish(seenBefore: number): Promise<void> {
    const totals = checkoutTotals(session.amountUnits, [...transfers.values()], Date.now() >= expiresAt);
    const paidAt = progress.paidAt ?? (CHECKOUT_PAID_STATUSES.includes(totals.status) ? new Date(Date.now()).toISOString() : null);
    const next: CheckoutProgress = { ...progress, ...totals, paidAt, transfers: [...transfers.values()].map(({ goneAtHead: _, ...t }) => t) };
    if (JSON.stringify(next) !== JSON.stringify(progress)) {
      if (next.status !== progress.status) upsertSearchAttributes([{ key: PaymentStatus, value: next.status }]);
      await saveCheckoutProgress(session, next);
      progress = next;
    }
    published = seenBefore;
  }

  /** The transfers of a payer's transaction to the address, or the update fails with why it pays nothing here. */
  async function findTransfers(txHash: string): Promise<CheckoutSighting[]> {
    try {
      return await findCheckoutTransfers({ chainId: session.chainId, tokenAddress: session.token.address, address: progress.address! }, txHash);
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      if (cause instanceof ApplicationFailure && cause.nonRetryable && cause.type) throw ApplicationFailure.create({ message: cause.message, type: cause.type, nonRetryable: true });
      throw ApplicationFailure.create({ message: `the chain could not be read: ${cause instanceof Error ? cause.message : String(cause)}`, type: 'workflow_unavailable', nonRetryable: true });
    }
  }
}
