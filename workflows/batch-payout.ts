// BatchPayoutWorkflow (seed 001's batchPay): begin at the provider → pay every item, chunk by chunk, with adaptive
// concurrency (a fast first pass, then a slow phase for what is left) → finish. Ops can pause, resume, cancel
// and change the concurrency limits while it runs; big batches continue as new to keep the history bounded.
// A provider that refuses the engine itself (credentials…) fails the batch until ops fix the cause and resume it.
import {
  ActivityFailure,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  ApplicationFailure,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { batchPayoutActivities, BatchSnapshot } from '../activities/batch-payouts';
import {
  batchProgressQuery,
  cancelBatchUpdate,
  pauseBatchUpdate,
  resumeBatchUpdate,
  setBatchLimitsUpdate,
  type BatchPayoutInput,
  type BatchPhase,
  type BatchProgress,
  type BatchStatus,
  type ConcurrencyLimits,
  CONCURRENCY_CEILING,
  validLimits,
} from '../domain/batch-payout';
import { PaymentStatus } from '../domain/search-attributes';

type Activities = ReturnType<typeof batchPayoutActivities>;

// payout_provider_refused (thrown by the activities that call the provider) is never retried: it fails the batch instead.
const { beginBatch, finishBatch, setBatchControl, cancelRemaining, failBatch } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '1 minute' },
});
// A chunk heartbeats at every flush; a worker that dies mid-chunk is noticed within the heartbeat timeout
// and the chunk runs again from what the DB says is done.
const { payChunk } = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '20s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** Items per chunk activity. */
export const CHUNK_SIZE = 10_000;
/** Chunks per run before continuing as new. */
const CHUNKS_PER_RUN = 50;
/** Attempts per item within the fast pass, and per sweep of the slow phase. */
const FAST_ATTEMPTS = 4;
const SLOW_ATTEMPTS = 8;

interface State {
  status: BatchStatus;
  phase: BatchPhase;
  nextChunk: number;
  limits: ConcurrencyLimits;
  concurrency: number;
  startedAt: number;
  snapshot?: BatchSnapshot;
  /** Why the provider last refused the batch. */
  lastError?: string;
  /** What a failed batch goes back to when resumed. */
  failedWhile?: 'running' | 'cancelling';
}

export async function BatchPayoutWorkflow(input: BatchPayoutInput, carried?: State): Promise<BatchProgress> {
  const state: State = carried ?? {
    status: 'running',
    phase: 'begin',
    nextChunk: 0,
    limits: input.limits,
    concurrency: input.limits.max,
    startedAt: Date.now(),
  };
  const chunks = Math.ceil(input.itemCount / CHUNK_SIZE);
  const progress = (): BatchProgress => {
    const s = state.snapshot?.byStatus;
    return {
      batchPayId: input.batchPayId,
      status: state.status,
      phase: state.phase,
      total: input.itemCount,
      succeeded: s?.paid ?? 0,
      failed: s ? s.failed + s.rejected + s.cancelled : 0,
      inFlight: s ? s.held + s.retry : 0,
      pending: s ? s.pending : input.itemCount,
      concurrency: state.concurrency,
      limits: state.limits,
      paidAmount: state.snapshot?.paidAmount ?? '0',
      lastError: state.lastError ?? null,
    };
  };
  const isOver = () => state.status === 'cancelling' || state.status === 'completed' || state.status === 'cancelled';
  const control = async (status: BatchStatus, control: 'run' | 'pause' | 'cancel') => {
    state.status = status;
    upsertSearchAttributes([{ key: PaymentStatus, value: status }]);
    await setBatchControl(input.batchPayId, { control, status });
    return progress();
  };

  setHandler(batchProgressQuery, progress);
  setHandler(pauseBatchUpdate, () => control('paused', 'pause'), {
    validator: () => refuseUnless(state.status === 'running', `batch is ${state.status}, only a running batch can be paused`),
  });
  // A failed batch goes back to what it was doing when the provider refused it: paying, or cancelling.
  const resumed = () => (state.status === 'failed' && state.failedWhile === 'cancelling' ? control('cancelling', 'cancel') : control('running', 'run'));
  setHandler(resumeBatchUpdate, resumed, {
    validator: () =>
      refuseUnless(state.status === 'paused' || state.status === 'failed', `batch is ${state.status}, only a paused or failed batch can be resumed`),
  });
  setHandler(cancelBatchUpdate, () => control('cancelling', 'cancel'), {
    validator: () => {
      refuseUnless(!isOver(), `batch is already ${state.status}`);
      refuseUnless(state.phase !== 'finish', 'batch is finishing: every item is settled, nothing is left to cancel');
    },
  });
  setHandler(
    setBatchLimitsUpdate,
    async (limits) => {
      state.limits = limits;
      state.concurrency = Math.max(limits.min, Math.min(limits.max, state.concurrency));
      await setBatchControl(input.batchPayId, { limits });
      return progress();
    },
    {
      validator: (limits) => refuseUnless(validLimits(limits), `limits need 1 ≤ min ≤ max ≤ ${CONCURRENCY_CEILING}`),
    },
  );

  /**
   * Runs a step that calls the provider. When the provider refuses the engine itself, the batch fails: nothing more is
   * sent until ops resume it (the step then runs again) or cancel it (the step runs again, and finds the batch cancelled).
   */
  const needingProvider = async <T>(step: () => Promise<T>): Promise<T> => {
    for (;;) {
      try {
        return await step();
      } catch (err) {
        if (!(err instanceof ActivityFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'payout_provider_refused')) throw err;
        state.failedWhile = state.status === 'cancelling' ? 'cancelling' : 'running';
        state.status = 'failed';
        state.lastError = err.cause.message;
        upsertSearchAttributes([{ key: PaymentStatus, value: 'failed' }]);
        state.snapshot = await failBatch(input.batchPayId, err.cause.message);
        // Once the resume or cancel is written to the batch row, which the step run next obeys.
        await condition(() => state.status !== 'failed' && allHandlersFinished());
      }
    }
  };

  // A batch cancelled before the provider opened it is never opened there.
  await needingProvider(async () => {
    if (state.phase !== 'begin' || isOver()) return;
    await beginBatch(input.batchPayId, input.itemCount);
    state.phase = 'fast';
  });
  const begun = state.phase !== 'begin';

  // The first pass: every chunk in order, at adaptive concurrency; failures past the fast phase's time box are left for the slow phase.
  let chunksThisRun = 0;
  while (state.nextChunk < chunks && !isOver()) {
    await condition(() => state.status !== 'paused');
    if (isOver()) break;
    const fast = Date.now() - state.startedAt < input.fastPhaseMs;
    const result = await needingProvider(() =>
      payChunk({
        batchPayId: input.batchPayId,
        currency: input.currency,
        range: { from: state.nextChunk * CHUNK_SIZE, to: (state.nextChunk + 1) * CHUNK_SIZE },
        phase: 'fast',
        concurrency: state.concurrency,
        limits: state.limits,
        maxAttempts: fast ? FAST_ATTEMPTS : 1,
      }),
    );
    // Limits may have changed while the chunk ran.
    state.concurrency = Math.max(state.limits.min, Math.min(state.limits.max, result.concurrency));
    state.snapshot = result.snapshot;
    if (result.interrupted) continue;
    state.nextChunk++;
    if (++chunksThisRun >= CHUNKS_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished); // updates that are mid-way finish before the run ends
      await continueAsNew<typeof BatchPayoutWorkflow>(input, state);
    }
  }

  // The slow phase: what is left (held or to retry), at the lowest concurrency, with longer pauses between sweeps.
  let idleSweeps = 0;
  while (!isOver() && state.snapshot && state.snapshot.byStatus.held + state.snapshot.byStatus.retry > 0) {
    await condition(() => state.status !== 'paused');
    if (isOver()) break;
    state.phase = 'slow';
    const result = await needingProvider(() =>
      payChunk({
        batchPayId: input.batchPayId,
        currency: input.currency,
        phase: 'slow',
        concurrency: state.limits.min,
        limits: { min: state.limits.min, max: state.limits.min },
        maxAttempts: SLOW_ATTEMPTS,
      }),
    );
    state.snapshot = result.snapshot;
    if (result.interrupted) continue;
    idleSweeps = result.settled === 0 ? idleSweeps + 1 : 0;
    if (idleSweeps > 0) await sleep(Math.min(60_000, 1000 * 2 ** idleSweeps));
  }

  if (state.status === 'cancelling') {
    // Never-sent items are voided; those that may have reached the provider are settled by its answer.
    for (let round = 0; (await needingProvider(() => cancelRemaining(input.batchPayId))) > 0; round++) await sleep(Math.min(60_000, 1000 * 2 ** round));
  }
  state.phase = 'finish';
  const final: BatchStatus = state.status === 'cancelling' ? 'cancelled' : 'completed';
  state.snapshot = await needingProvider(() => finishBatch(input.batchPayId, input.currency, final, begun));
  state.status = final;
  state.phase = 'done';
  upsertSearchAttributes([{ key: PaymentStatus, value: final }]);
  return progress();
}

function refuseUnless(ok: boolean, message: string): void {
  if (!ok) throw ApplicationFailure.create({ type: 'invalid_batch_state', message, nonRetryable: true });
}
