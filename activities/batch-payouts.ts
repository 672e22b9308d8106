// Batch payout activities: each pays a chunk of a batch through the payout API with adaptive concurrency,
// holding, posting and voiding in the ledger in bulk. A chunk can be run again at any time: the DB says what
// is done, and the provider executes a request id at most once. When the provider refuses the engine itself, a chunk gives
// back the holds of what it never sent and fails for good (payout_provider_refused): the workflow fails the batch.
import { Context } from '@temporalio/activity';
import {
  batchCounts,
  cancelUnsent,
  getBatch,
  holdItems,
  openItems,
  openItemsOfChunk,
  recordOutcomes,
  releaseHolds,
  setBatchState,
  type ItemOutcome,
  type OpenItem,
} from '../db/batch-payouts';
import type { Db } from '../db/knex';
import { AdaptiveConcurrency } from '../domain/adaptive-concurrency';
import type { BatchItemStatus, BatchPhase, BatchStatus, ConcurrencyLimits } from '../domain/batch-payout';
import { payoutRequestId } from '../domain/batch-payout';
import { formatAmount } from '../domain/money';
import { failingOnProviderRefusal, isProviderRefusal } from './failures';
import type { PayoutApi } from './providers/payout-api';
import { PayoutApiError, type PayoutApiErrorCode } from './providers/payout-api-client';

export interface ChunkArgs {
  batchPayId: string;
  currency: string;
  /** A seq range for the first pass; absent for a sweep over what is left (the slow phase). */
  range?: { from: number; to: number };
  phase: Extract<BatchPhase, 'fast' | 'slow'>;
  concurrency: number;
  limits: ConcurrencyLimits;
  /** Attempts per item in this call before it is left for the slow phase. */
  maxAttempts: number;
}

export interface BatchSnapshot {
  byStatus: Record<BatchItemStatus, number>;
  paidAmount: string;
}

export interface ChunkResult {
  concurrency: number;
  /** Set when ops paused or cancelled the batch while the chunk ran: the chunk is not finished. */
  interrupted?: 'pause' | 'cancel';
  /** Items of this call that ended final (paid, failed, rejected). */
  settled: number;
  snapshot: BatchSnapshot;
}

// Items per hold transaction: the first slice covers the payouts sent while the second is held; later slices are kept small,
// since a hold's CPU time in the worker delays the answers of the payouts in flight.
const FIRST_HOLD_BATCH = 200;
const HOLD_BATCH = 300;
/** Held items waiting to be sent, beyond which no more holds are taken for now (about half a second of payouts). */
const HOLD_AHEAD = 600;
const FLUSH_EVERY_MS = 100;
const FLUSH_AT = 250;
const CONTROL_EVERY_MS = 250;

interface Work {
  item: OpenItem;
  uid: number;
  amount: string;
  /** All attempts so far, across calls (kept in the item row). */
  attempts: number;
  /** Attempts in this call, bounded by maxAttempts. */
  tries: number;
  notBefore: number;
  /** A request for it may have been executed without our knowing (always so for an item held before this call): only the provider's record can say. */
  uncertain: boolean;
}

/** Refusals that say the provider did nothing with the request. */
const REFUSED_UNDONE: ReadonlySet<PayoutApiErrorCode> = new Set(['unauthorized', 'invalid_request']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// 50–100 ms before the first retry, about one provider round trip, doubling from there. It spares an item the provider
// just failed; the load as a whole is bounded by the concurrency, which backs off on 429s and failures.
const backoffMs = (attempt: number) => Math.min(5000, 50 * 2 ** attempt) * (0.5 + Math.random() / 2);

/** Tries of begin and finish within one activity attempt. */
const QUICK_TRIES = 3;

/**
 * Calls begin or finish, both idempotent by batchPayId, trying again at once (after the backoff above) when the provider
 * answers 429 or 5xx or not at all: a transient failure costs a round trip, not a failed activity and Temporal's retry
 * interval. Past QUICK_TRIES, the activity fails and Temporal's retry policy takes over.
 */
async function withQuickRetries<T>(call: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof PayoutApiError && err.retryable) || tries >= QUICK_TRIES) throw err;
      await sleep(backoffMs(tries));
    }
  }
}

export function batchPayoutActivities(db: Db, payouts: PayoutApi) {
  return {
    /** Opens the batch at the provider; idempotent by batchPayId (there and here). */
    async beginBatch(batchPayId: string, total: number): Promise<void> {
      await failingOnProviderRefusal(() => withQuickRetries(() => payouts.batchPayBegin(batchPayId, total)));
      await setBatchState(db, batchPayId, { phase: 'fast' });
    },

    /** Records that the provider refused the batch (status failed, and why) and answers its counts; idempotent. */
    async failBatch(batchPayId: string, reason: string): Promise<BatchSnapshot> {
      await setBatchState(db, batchPayId, { status: 'failed', last_error: reason.slice(0, 255) });
      return batchCounts(db, batchPayId);
    },

    /** Writes what the running chunk must obey (pause, cancel, new limits); idempotent. */
    async setBatchControl(batchPayId: string, state: { control?: 'run' | 'pause' | 'cancel'; status?: BatchStatus; limits?: ConcurrencyLimits; phase?: BatchPhase }): Promise<void> {
      await setBatchState(db, batchPayId, {
        control: state.control,
        status: state.status,
        phase: state.phase,
        min_concurrency: state.limits?.min,
        max_concurrency: state.limits?.max,
      });
    },

    /**
     * Pays the open items of a chunk (or, in a sweep, what is left anywhere in the batch). Idempotent: held
     * items are sent again with the same request id, which the provider executes at most once.
     */
    async payChunk(args: ChunkArgs): Promise<ChunkResult> {
      return failingOnProviderRefusal(() => payChunk(db, payouts, args));
    },

    /**
     * Cancels what is left: never-sent items have their holds voided; items that may have reached the provider
     * are asked about, and settled by its answer. Returns how many are still unresolved (to ask again later).
     */
    async cancelRemaining(batchPayId: string): Promise<number> {
      return failingOnProviderRefusal(async () => {
        await cancelUnsent(db, batchPayId);
        const maybeSent = await openItems(db, batchPayId, 5000);
        const outcomes: ItemOutcome[] = [];
        let next = 0;
        let failure: unknown;
        const ask = async () => {
          while (next < maybeSent.length && failure === undefined) {
            const item = maybeSent[next++];
            const known = await payouts.queryPayout(payoutRequestId(batchPayId, Number(item.uid))).catch((err: unknown) => void (failure ??= err));
            if (!known) return;
            const base = { uid: Number(item.uid), seq: item.seq, attempts: item.attempts, maybeSent: true, holdRound: item.hold_round };
            if (known.status === 'paid') outcomes.push({ ...base, status: 'paid', providerRef: known.providerRef });
            else if (known.status === 'rejected') outcomes.push({ ...base, status: 'rejected', lastError: known.reason });
            else if (known.status === 'not_found') outcomes.push({ ...base, status: 'cancelled', lastError: 'batch cancelled' });
          }
        };
        await Promise.all(Array.from({ length: 10 }, ask));
        // What the provider did answer is kept, also when it then refused to answer more.
        await recordOutcomes(db, batchPayId, outcomes);
        if (failure !== undefined) throw failure;
        const { byStatus } = await batchCounts(db, batchPayId);
        return byStatus.pending + byStatus.held + byStatus.retry;
      });
    },

    /** Closes the batch at the provider (unless it was never opened there) and in the read model; idempotent. */
    async finishBatch(batchPayId: string, currency: string, status: Extract<BatchStatus, 'completed' | 'cancelled'>, begun = true): Promise<BatchSnapshot> {
      const counts = await batchCounts(db, batchPayId);
      const failed = counts.byStatus.failed + counts.byStatus.rejected + counts.byStatus.cancelled;
      if (begun) {
        const summary = { paid: counts.byStatus.paid, failed, amount: formatAmount(counts.paidAmount, currency) };
        await failingOnProviderRefusal(() => withQuickRetries(() => payouts.batchPayFinish(batchPayId, summary)));
      }
      await setBatchState(db, batchPayId, { status, phase: 'done', control: 'run', finished: true });
      return counts;
    },
  };
}

/**
 * Pays the open items of a chunk or a sweep. It stops at the first failure: a DB failure fails the attempt, which Temporal
 * retries; a refusal of the engine by the provider first gives back the holds of the items it never sent.
 */
async function payChunk(db: Db, payouts: PayoutApi, args: ChunkArgs): Promise<ChunkResult> {
  const ctx = Context.current();
  const controller = new AdaptiveConcurrency(args.concurrency, args.limits);
  /** Items to send, in batch order. */
  const queue: Work[] = [];
  /** Items waiting out a backoff, soonest first: each goes before the queue once its time has come, so that few are left for the end. */
  const retrying: Work[] = [];
  const retryLater = (work: Work) => {
    let at = retrying.length;
    while (at > 0 && retrying[at - 1].notBefore > work.notBefore) at--;
    retrying.splice(at, 0, work);
  };
  const buffered: ItemOutcome[] = [];
  /** Items of this call not paid or rejected yet: those certainly never executed are given back if the provider refuses us. */
  const unsettled = new Set<Work>();
  let settled = 0;
  let control: 'run' | 'pause' | 'cancel' = 'run';
  let lastFlush = Date.now();
  let lastControl = 0;
  let flushing: Promise<void> = Promise.resolve();
  let flushQueued = false;
  // A DB failure, or an answer that is neither a result nor a reason to retry (bad credentials…): stop sending and keep
  // what is known.
  let failure: unknown;
  const stopOn = (err: unknown) => {
    failure ??= err;
  };

  const flush = async () => {
    const outcomes = buffered.splice(0);
    lastFlush = Date.now();
    await recordOutcomes(db, args.batchPayId, outcomes);
    ctx.heartbeat({ settled });
  };
  // At most one flush waits behind the one running, and it takes all that is buffered when it starts.
  const flushSoon = () => {
    if (flushQueued || (buffered.length < FLUSH_AT && Date.now() - lastFlush < FLUSH_EVERY_MS)) return;
    flushQueued = true;
    flushing = flushing
      .then(() => {
        flushQueued = false;
        return flush();
      })
      .catch(stopOn);
  };
  const readControl = async () => {
    lastControl = Date.now();
    const batch = await getBatch(db, args.batchPayId);
    if (!batch) return;
    control = batch.control;
    controller.setLimits({ min: batch.min_concurrency, max: batch.max_concurrency });
  };
  const settle = (work: Work, outcome: Omit<ItemOutcome, 'uid' | 'seq' | 'attempts' | 'maybeSent' | 'holdRound'>) => {
    buffered.push({ uid: work.uid, seq: work.item.seq, attempts: work.attempts, maybeSent: true, holdRound: work.item.hold_round, ...outcome });
    if (outcome.status === 'paid' || outcome.status === 'rejected') {
      settled++;
      unsettled.delete(work);
    }
    flushSoon();
  };

  /** One attempt for one item; a definite answer settles it, anything else queues it again or leaves it for later. */
  const payOne = async (work: Work) => {
    work.attempts++;
    work.tries++;
    const requestId = payoutRequestId(args.batchPayId, work.uid);
    let outcome = await payouts.pay({ batchPayId: args.batchPayId, requestId, uid: work.uid, amount: work.amount, currency: args.currency }).catch((err: unknown) => {
      if (!(err instanceof PayoutApiError && REFUSED_UNDONE.has(err.code))) work.uncertain = true;
      throw err;
    });
    if (outcome.status === 'unknown') {
      // The payout may have been executed with the response lost: the provider's record decides.
      work.uncertain = true;
      const known = await payouts.queryPayout(requestId);
      if (known.status === 'not_found') work.uncertain = false;
      outcome = known.status === 'not_found' ? { status: 'retry', reason: `${outcome.reason}; not found at the provider`, rateLimited: false } : known;
    }
    switch (outcome.status) {
      case 'paid':
        controller.observe('ok');
        return settle(work, { status: 'paid', providerRef: outcome.providerRef });
      case 'rejected':
        controller.observe('ok');
        return settle(work, { status: 'rejected', lastError: outcome.reason });
      default:
        controller.observe(outcome.status === 'retry' && outcome.rateLimited ? 'rate_limited' : 'failed');
        if (work.tries < args.maxAttempts) {
          work.notBefore = Date.now() + backoffMs(work.tries);
          retryLater(work);
        } else {
          settle(work, { status: 'retry', lastError: outcome.reason });
        }
    }
  };

  const going = () => control === 'run' && failure === undefined;
  // The dispatch loop below sleeps until something changes (a payout ends, holds add work) or until a given time.
  let wake = () => {};
  const idle = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  // A chunk run again after a pause or a cancel takes no hold before it knows.
  await readControl();
  const toWork = (item: OpenItem, uncertain: boolean): Work => {
    const work = { item, uid: Number(item.uid), amount: formatAmount(item.amount!, args.currency), attempts: item.attempts, tries: 0, notBefore: 0, uncertain };
    unsettled.add(work);
    return work;
  };
  /** Queues the items held before this call (maybe sent), and takes the holds of the pending ones. */
  const take = async (open: OpenItem[]) => {
    queue.push(...open.filter((i) => i.status !== 'pending').map((item) => toWork(item, true)));
    const pending = open.filter((i) => i.status === 'pending');
    if (pending.length === 0) return;
    const results = await holdItems(db, { batchPayId: args.batchPayId, currency: args.currency }, pending);
    results.forEach((r, k) => {
      if (r.ok && r.state === 'pending') queue.push(toWork({ ...pending[k], amount: r.amount, status: 'held' }, false));
      else settled++;
    });
  };
  let holdsDone = false;
  const holding = (async () => {
    const { range } = args;
    if (!range) return take(await openItems(db, args.batchPayId, 10_000));
    // The chunk is read and held a slice of seq at a time, a little ahead of the payouts rather than all at once: holds need
    // the same CPU and DB time as the payouts' own posts. The first slice is small, so that the first payouts go out at once.
    for (let from = range.from, size = FIRST_HOLD_BATCH; from < range.to && going(); from += size, size = HOLD_BATCH) {
      while (queue.length >= HOLD_AHEAD && going()) await sleep(10);
      if (!going()) break;
      await take(await openItemsOfChunk(db, args.batchPayId, from, Math.min(from + size, range.to)));
      wake();
    }
  })()
    .catch(stopOn)
    .finally(() => {
      holdsDone = true;
      wake();
    });

  const inFlight = new Set<Promise<void>>();
  for (;;) {
    if (failure) break;
    if (Date.now() - lastControl >= CONTROL_EVERY_MS) await readControl();
    if (control !== 'run') break;
    const now = Date.now();
    // Until the next control read at the latest, so that a pause or a cancel is seen while payouts hang.
    let until = lastControl + CONTROL_EVERY_MS;
    let work: Work | undefined;
    if (inFlight.size < controller.current) {
      work = retrying.length > 0 && retrying[0].notBefore <= now ? retrying.shift() : queue.shift();
      if (!work && retrying.length === 0 && inFlight.size === 0 && holdsDone) break;
      if (retrying.length > 0) until = Math.min(until, retrying[0].notBefore);
    }
    if (!work) {
      await idle(Math.max(1, until - now));
      continue;
    }
    const running: Promise<void> = payOne(work)
      .catch(stopOn)
      .finally(() => {
        inFlight.delete(running);
        wake();
      });
    inFlight.add(running);
  }
  await Promise.all(inFlight);
  await holding;
  flushing = flushing.then(flush).catch(stopOn);
  await flushing;
  if (isProviderRefusal(failure)) {
    // Nothing more goes out until ops act: the holds of items certainly never executed are given back. Items that may
    // have been executed stay held, to be settled by the provider's answer to the same request id.
    const unsent = [...unsettled].filter((w) => !w.uncertain);
    const reason = `not sent, hold given back: ${failure.message}`;
    await releaseHolds(db, args.batchPayId, unsent.map((w) => ({ uid: w.uid, seq: w.item.seq, attempts: w.attempts, holdRound: w.item.hold_round })), reason);
  }
  // Outcomes not yet written are found again on the next attempt: their items are still held, and are sent
  // again with the same request id, which the provider answers from its record.
  if (failure !== undefined) throw failure;

  const counts = await batchCounts(db, args.batchPayId);
  await setBatchState(db, args.batchPayId, { concurrency: controller.current });
  return {
    concurrency: controller.current,
    interrupted: control === 'run' ? undefined : control,
    settled,
    snapshot: { byStatus: counts.byStatus, paidAmount: counts.paidAmount },
  };
}
