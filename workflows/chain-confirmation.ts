// ChainConfirmationWorkflow (`confirm-{chainId}-{txHash}`, a child): follows one nonce of ours until an attempt at it has
// its confirmations on the canonical chain (blocks on top of its own, as the networks table counts them), or until another
// transaction's use of the nonce has them. On the way it broadcasts the persisted bytes again when no node knows them,
// replaces a stuck attempt with a dearer one (past a threshold, or when asked), and keeps following through reorgs: a
// transaction reorged out may come back.
import { condition, continueAsNew, patched, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { chainSendActivities } from '../activities/chain-sends';
import { PaymentStatus } from '../domain/search-attributes';
import { FOLLOW_FROM_CONFIRMATIONS, LOCAL_CHAIN_OUTCOME, LOCAL_CHAIN_READS, since } from './patches';
import { bumpFeeSignal, chainTxStatusQuery } from '../domain/withdrawal';
import type { ChainTxEvent, ChainTxEventKind, ChainTxObservation, ChainTxOutcome, ChainTxProgress, FollowChainTx } from '../domain/withdrawal';

type Activities = ReturnType<typeof chainSendActivities>;

// Reads and re-sends of persisted bytes: retried until the node answers (an RPC outage is waited out, not failed).
const CHAIN_CALL = { startToCloseTimeout: '30s', retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s' } } as const;
const tasks = proxyActivities<Activities>(CHAIN_CALL);
const { rebroadcastChainTx, rebroadcastPredecessors, replaceChainTx } = tasks;
// Since LOCAL_CHAIN_READS (see deposit.ts), the look at the chain is a local activity: no task of its own on the server;
// since LOCAL_CHAIN_OUTCOME, the outcome (a DB write) is recorded by a local activity too. Both since
// FOLLOW_FROM_CONFIRMATIONS, without patches of their own.
const locals = proxyLocalActivities<Activities>(CHAIN_CALL);
const observeEarlier = since(LOCAL_CHAIN_READS, locals.observeChainTx, tasks.observeChainTx);
const recordEarlier = since(LOCAL_CHAIN_OUTCOME, locals.recordChainTxOutcome, tasks.recordChainTxOutcome);

/** Looks at the chain per run before continuing as new, so the history stays small however long a transaction waits. */
const POLLS_PER_RUN = 500;
const EVENTS_KEPT = 100;
/**
 * The first look comes when the confirmations may be there (one interval to be mined, one per confirmation) from the
 * broadcast, or this many intervals after it.
 */
const FIRST_LOOK_MAX_INTERVALS = 4;

/** What a run hands to the next one when it continues as new. */
export interface FollowState {
  /** Every attempt at the nonce, first to last. */
  hashes: string[];
  /** When the latest attempt (or the sender's earlier ones) was last given to a node, workflow time in ms. */
  sentAt: number;
  mined: { hash: string; blockNumber: number; blockHash: string } | null;
  /** The head at which the nonce was first seen used by a transaction that is none of ours. */
  nonceUsedAt: number | null;
  bumps: number;
  bumpRequested: boolean;
  events: ChainTxEvent[];
}

export async function ChainConfirmationWorkflow(input: FollowChainTx, carried?: FollowState): Promise<ChainTxOutcome> {
  const current = patched(FOLLOW_FROM_CONFIRMATIONS);
  const observeChainTx = current ? locals.observeChainTx : observeEarlier;
  const recordChainTxOutcome = current ? locals.recordChainTxOutcome : recordEarlier;
  const state: FollowState = carried ?? freshState(input.hash, Date.now());
  let confirmations = 0;
  let status: ChainTxProgress['status'] = state.mined ? 'mined' : 'pending';
  setHandler(chainTxStatusQuery, () => ({ chainId: input.chainId, hashes: state.hashes, status, confirmations, events: state.events }));
  setHandler(bumpFeeSignal, () => void (state.bumpRequested = true));

  const record = (kind: ChainTxEventKind, hash: string, more: Partial<ChainTxEvent> = {}) => {
    state.events = [...state.events, { kind, hash, at: new Date().toISOString(), ...more }].slice(-EVENTS_KEPT);
  };
  const setStatus = (next: ChainTxProgress['status']) => {
    if (next === status) return;
    status = next;
    upsertSearchAttributes([{ key: PaymentStatus, value: next }]);
  };

  /** What one observation decides: an outcome, or what to do before the next look. */
  async function step(seen: ChainTxObservation): Promise<ChainTxOutcome | undefined> {
    const latest = state.hashes[state.hashes.length - 1];
    if (seen.mined) {
      if (state.mined?.blockHash !== seen.mined.blockHash) record('mined', seen.mined.hash, { blockNumber: seen.mined.blockNumber });
      state.mined = minedAt(seen.mined);
      state.nonceUsedAt = null;
      state.bumpRequested = false;
      confirmations = seen.head - seen.mined.blockNumber;
      const confirmed = confirmations >= input.confirmations;
      if (!(current && confirmed)) setStatus('mined');
      if (!confirmed) return undefined;
      const outcome = await recordFinal(recordChainTxOutcome, input.chainId, state.hashes, seen.mined, state.events);
      setStatus(outcome.outcome);
      return outcome;
    }

    confirmations = 0;
    if (state.mined) {
      record('reorged-out', state.mined.hash, { blockNumber: state.mined.blockNumber });
      state.mined = null;
      setStatus('pending');
    }
    if (seen.minedNonces > seen.nonce) {
      // Another transaction used the nonce: ours can only come back if that one leaves the chain, so wait for its depth.
      if (state.nonceUsedAt === null) {
        state.nonceUsedAt = seen.head;
        record('nonce-used', latest, { blockNumber: seen.head });
      }
      if (seen.head - state.nonceUsedAt < input.confirmations) return undefined;
      await recordChainTxOutcome(input.chainId, state.hashes, { dropped: true });
      setStatus('dropped');
      return { outcome: 'dropped', hash: null, blockNumber: null, blockHash: null, receiptStatus: null, hashes: state.hashes, events: state.events };
    }
    state.nonceUsedAt = null;

    const asked = state.bumpRequested;
    state.bumpRequested = false;
    const waited = Date.now() - state.sentAt;
    if (!seen.known) {
      // Dropped from the pools (a node restarted, a reorg took its block away): the same bytes again.
      const taken = await rebroadcastChainTx(input.chainId, state.hashes);
      if (taken) record('rebroadcast', taken);
      state.sentAt = Date.now();
    } else if (seen.minedNonces < seen.nonce) {
      // An earlier transaction of the sender holds this one back: a dearer fee would not help, giving the node that one may.
      if (waited >= input.stuckAfterMs) {
        if ((await rebroadcastPredecessors(input.chainId, latest)) > 0) record('predecessors-rebroadcast', latest);
        state.sentAt = Date.now();
      }
    } else if (state.bumps < input.maxFeeBumps && (asked || (waited >= input.stuckAfterMs && seen.marketAbove))) {
      const replacement = await replaceChainTx(input.chainId, latest);
      if (replacement) {
        state.hashes = [...state.hashes, replacement.hash];
        state.bumps++;
        record('replaced', latest, { by: replacement.hash });
      }
      state.sentAt = Date.now();
    }
    return undefined;
  }

  // Since FOLLOW_FROM_CONFIRMATIONS a new follow looks first when the confirmations may be there, not at once (the
  // transaction was broadcast just before): most transactions are then seen final at the first look. A fee bump asked for
  // meanwhile is not kept waiting.
  const lookAt = firstLookAt(input, state.sentAt);
  if (current && !carried && lookAt > Date.now()) await condition(() => state.bumpRequested, lookAt - Date.now());
  for (let polls = 0; ; polls++) {
    const outcome = await step(await observeChainTx(input.chainId, state.hashes));
    if (outcome) return outcome;
    if (polls + 1 >= POLLS_PER_RUN || workflowInfo().continueAsNewSuggested) await continueAsNew<typeof ChainConfirmationWorkflow>(input, state);
    // Mined with c of N confirmations: the next look in N - c intervals (an interval is about a block's time), not at every one.
    const blocksToGo = state.mined ? Math.max(1, input.confirmations - confirmations) : 1;
    await condition(() => state.bumpRequested, input.pollMs * blocksToGo);
  }
}

/** When a follow of a transaction sent at `sentAt` (workflow time; the payout's `broadcastAt` if it passed one) first looks at the chain. */
export function firstLookAt(input: FollowChainTx, sentAt: number): number {
  return (input.broadcastAt ?? sentAt) + input.pollMs * Math.min(input.confirmations + 1, FIRST_LOOK_MAX_INTERVALS);
}

/** An attempt seen with its confirmations: its outcome (confirmed, or failed when it reverted), recorded in the DB. */
async function recordFinal(
  record: Activities['recordChainTxOutcome'],
  chainId: number,
  hashes: string[],
  mined: NonNullable<ChainTxObservation['mined']>,
  events: ChainTxEvent[],
): Promise<ChainTxOutcome> {
  const final = mined.status === 1 ? 'confirmed' : 'failed';
  const at = minedAt(mined);
  await record(chainId, hashes, { winner: mined.hash, status: final, ...at });
  return { outcome: final, ...at, receiptStatus: mined.status, hashes, events };
}

/**
 * The look a payout takes itself (since PAYOUT_LOOKS_FIRST) at the transaction it sent at `sentAt` (workflow time), once
 * `firstLookAt` has come: the outcome, recorded as this workflow records it, when the transaction has its confirmations by
 * then (most do); otherwise what the look saw, for the payout to hand to this workflow, which follows on from it
 * (replacements, re-broadcasts, reorgs, a used nonce).
 */
export async function lookFirst(input: FollowChainTx, sentAt: number): Promise<{ outcome: ChainTxOutcome } | { carried: FollowState }> {
  const seen = await locals.observeChainTx(input.chainId, [input.hash]);
  const state = freshState(input.hash, sentAt);
  if (!seen.mined) return { carried: state };
  state.mined = minedAt(seen.mined);
  state.events = [{ kind: 'mined', hash: seen.mined.hash, at: new Date().toISOString(), blockNumber: seen.mined.blockNumber }];
  if (seen.head - seen.mined.blockNumber < input.confirmations) return { carried: state };
  return { outcome: await recordFinal(locals.recordChainTxOutcome, input.chainId, state.hashes, seen.mined, state.events) };
}

/** A follow of `hash`, sent at `sentAt` (workflow time), before any look at the chain. */
function freshState(hash: string, sentAt: number): FollowState {
  return { hashes: [hash], sentAt, mined: null, nonceUsedAt: null, bumps: 0, bumpRequested: false, events: [] };
}

/** Where an observed attempt was mined, as a follow keeps it. */
function minedAt(mined: NonNullable<ChainTxObservation['mined']>): NonNullable<FollowState['mined']> {
  return { hash: mined.hash, blockNumber: mined.blockNumber, blockHash: mined.blockHash };
}
