// Chain sends: the nonce allocator of each sending address and the signed transactions (chain_txs), each persisted before
// it is broadcast. Amounts are base units as decimal strings; addresses and hashes lower case.
//
// Invariants:
// 1. A nonce is handed out only in the DB transaction that persists a signed transaction using it (withSender): a send that
//    fails before its commit hands out nothing, so it leaves no gap.
// 2. Every nonce below an address's next_nonce has a persisted transaction of ours, or was used on chain by someone else.
// 3. The attempts at one nonce form a chain: attempt n `replaces` attempt n-1, and at most one of them is ever mined.
import type { Knex } from 'knex';
import { isoTime, type Db } from './knex';

export type ChainTxStatus = 'signed' | 'broadcast' | 'mined' | 'confirmed' | 'failed' | 'replaced' | 'dropped';

/** Not final: the node may still mine it (or it is mined but not yet deep enough). */
export const LIVE_STATUSES: readonly ChainTxStatus[] = ['signed', 'broadcast', 'mined'];
/** Not mined as far as we know: what it sends is still to leave the sender's balances. */
const UNMINED_STATUSES: readonly ChainTxStatus[] = ['signed', 'broadcast'];

export interface ChainTxFees {
  gasLimit: string;
  maxFeePerGas: string | null;
  maxPriorityFeePerGas: string | null;
  /** Legacy (type 0) transactions only. */
  gasPrice: string | null;
}

export interface NewChainTx extends ChainTxFees {
  chainId: number;
  hash: string;
  from: string;
  nonce: number;
  attempt: number;
  replaces: string | null;
  purpose: string;
  reference: string;
  to: string;
  token: string | null;
  recipient: string | null;
  tokenUnits: string;
  valueWei: string;
  raw: string;
}

export interface ChainTxRecord extends NewChainTx {
  status: ChainTxStatus;
  blockNumber: number | null;
  blockHash: string | null;
  createdAt: string;
  broadcastAt: string | null;
}

interface ChainTxRow {
  chain_id: string;
  hash: string;
  from_address: string;
  nonce: string;
  attempt: number;
  replaces: string | null;
  purpose: string;
  reference: string;
  to_address: string;
  token: string | null;
  recipient: string | null;
  token_units: string;
  value_wei: string;
  gas_limit: string;
  max_fee_per_gas: string | null;
  max_priority_fee_per_gas: string | null;
  gas_price: string | null;
  raw_tx: string;
  status: ChainTxStatus;
  block_number: string | null;
  block_hash: string | null;
  created_at: string;
  broadcast_at: string | null;
}


const toRecord = (row: ChainTxRow): ChainTxRecord => ({
  chainId: Number(row.chain_id),
  hash: row.hash,
  from: row.from_address,
  nonce: Number(row.nonce),
  attempt: row.attempt,
  replaces: row.replaces,
  purpose: row.purpose,
  reference: row.reference,
  to: row.to_address,
  token: row.token,
  recipient: row.recipient,
  tokenUnits: row.token_units,
  valueWei: row.value_wei,
  gasLimit: row.gas_limit,
  maxFeePerGas: row.max_fee_per_gas,
  maxPriorityFeePerGas: row.max_priority_fee_per_gas,
  gasPrice: row.gas_price,
  raw: row.raw_tx,
  status: row.status,
  blockNumber: row.block_number === null ? null : Number(row.block_number),
  blockHash: row.block_hash,
  createdAt: isoTime(row.created_at),
  broadcastAt: row.broadcast_at === null ? null : isoTime(row.broadcast_at),
});

const toRow = (tx: NewChainTx) => ({
  chain_id: tx.chainId,
  hash: tx.hash,
  from_address: tx.from,
  nonce: tx.nonce,
  attempt: tx.attempt,
  replaces: tx.replaces,
  purpose: tx.purpose,
  reference: tx.reference,
  to_address: tx.to,
  token: tx.token,
  recipient: tx.recipient,
  token_units: tx.tokenUnits,
  value_wei: tx.valueWei,
  gas_limit: tx.gasLimit,
  max_fee_per_gas: tx.maxFeePerGas,
  max_priority_fee_per_gas: tx.maxPriorityFeePerGas,
  gas_price: tx.gasPrice,
  raw_tx: tx.raw,
  status: 'signed',
});

/** The sending address, locked for one allocation: what it has in flight, the next nonce, and the insert that uses it. */
export interface SenderLock {
  /** Token units (of `token`) and the most gas (wei) that our sends not yet mined will still take from its balances. */
  reserved(token: string): Promise<{ tokenUnits: bigint; gasWei: bigint }>;
  /**
   * The nonce a new transaction takes. `chainNext` is the node's count of the address's transactions, pool included:
   * every nonce below it is used, so the allocator never goes below it (a send made elsewhere from this wallet is
   * stepped over, not collided with) and never leaves a nonce it handed out behind (invariant 2).
   */
  nextNonce(chainNext: number): number;
  /**
   * Persists the signed transaction (status signed) and moves the allocator past its nonce. A reference that has this
   * attempt already (another run of the send, committed or earlier in the group) fails with ER_DUP_ENTRY: only this
   * send's savepoint is rolled back, and its caller hears of the error once the group is committed.
   */
  record(tx: NewChainTx): Promise<ChainTxRecord>;
}

/**
 * Runs `work` holding the lock of (chainId, address)'s allocator row, in a DB transaction: allocation, signature and
 * persistence commit together or not at all, and `work` resolves only once they are committed. Sends from one address are
 * serialised here; other addresses go in parallel.
 *
 * Within a process the calls for one address queue before the database (a caller waiting on the row lock would hold a
 * pooled connection, and 200 withdrawals at once left none for a holder whose `work` reads through another one), and
 * those that queued while a transaction ran go together in the next one, each in a savepoint of its own (group commit:
 * one lock, one commit for many sends). A `work` that fails is rolled back alone; a commit that fails fails them all.
 */
export function withSender<T>(db: Db, chainId: number, address: string, work: (sender: SenderLock) => Promise<T>): Promise<T> {
  const key = `${chainId}:${address}`;
  return new Promise<T>((resolve, reject) => {
    const queue = waiting.get(key) ?? [];
    queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
    waiting.set(key, queue);
    if (!draining.has(key)) void drain(db, chainId, address, key);
  });
}

/** Sends of one address signed in one DB transaction, at most. */
const MAX_GROUP = 50;

interface Waiting {
  work: (sender: SenderLock) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
}
const waiting = new Map<string, Waiting[]>();
const draining = new Set<string>();
/** `chainId:address` of the allocator rows this process made or found: each is inserted once, not before every group. */
const allocatorRows = new Set<string>();

async function drain(db: Db, chainId: number, address: string, key: string): Promise<void> {
  draining.add(key);
  try {
    for (;;) {
      const queue = waiting.get(key) ?? [];
      const group = queue.splice(0, MAX_GROUP);
      if (queue.length === 0) waiting.delete(key);
      if (group.length === 0) return;
      await runGroup(db, chainId, address, key, group);
    }
  } finally {
    draining.delete(key);
  }
}

async function runGroup(db: Db, chainId: number, address: string, key: string, group: Waiting[]): Promise<void> {
  const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
  try {
    // Once per process and sender: only forgetChainSends deletes the row, and it forgets that it was made.
    if (!allocatorRows.has(key)) {
      await db.raw('INSERT IGNORE INTO chain_nonces (chain_id, address, next_nonce) VALUES (?, ?, 0)', [chainId, address]);
      allocatorRows.add(key);
    }
    const locked = await db.transaction(async (trx) => {
      const row = await trx('chain_nonces').where({ chain_id: chainId, address }).forUpdate().first('next_nonce');
      if (!row) return false;
      const state: GroupState = { stored: Number(row.next_nonce), unmined: undefined };
      for (const { work } of group) {
        let recorded: NewChainTx | undefined;
        try {
          const value = await trx.transaction((savepoint) => work(senderLock(savepoint, chainId, address, state, (tx) => (recorded = tx))));
          // Its savepoint released: what it recorded is the group's, for the sends after it.
          if (recorded) {
            state.stored = Math.max(state.stored, recorded.nonce + 1);
            state.unmined?.push(unminedOf(recorded));
          }
          outcomes.push({ ok: true, value });
        } catch (error) {
          // The transaction itself is gone (a deadlock, the connection): nothing of the group stands.
          if (isTransactionLost(error)) throw error;
          outcomes.push({ ok: false, error });
        }
      }
      return true;
    });
    if (!locked) {
      // Another process forgot the chain's sends (forgetChainSends) since this one made the row: made again, then locked.
      allocatorRows.delete(key);
      return runGroup(db, chainId, address, key, group);
    }
  } catch (error) {
    for (const { reject } of group) reject(error);
    return;
  }
  group.forEach(({ resolve, reject }, i) => {
    const outcome = outcomes[i];
    if (outcome.ok) resolve(outcome.value);
    else reject(outcome.error);
  });
}

const isTransactionLost = (error: unknown): boolean => {
  const { code, fatal } = error as { code?: string; fatal?: boolean };
  return fatal === true || code === 'ER_LOCK_DEADLOCK' || code === 'ER_SP_DOES_NOT_EXIST';
};

/** What a group's sends share: the allocator's next nonce, and the address's unmined sends (read once, then added to). */
interface GroupState {
  stored: number;
  unmined: UnminedRow[] | undefined;
}
interface UnminedRow {
  nonce: string;
  token: string | null;
  token_units: string;
  gas_limit: string;
  max_fee_per_gas: string | null;
  gas_price: string | null;
}
const unminedOf = (tx: NewChainTx): UnminedRow => ({
  nonce: String(tx.nonce),
  token: tx.token,
  token_units: tx.tokenUnits,
  gas_limit: tx.gasLimit,
  max_fee_per_gas: tx.maxFeePerGas,
  gas_price: tx.gasPrice,
});

/** The lock's view for one `work` of a group, through its savepoint. */
function senderLock(trx: Knex.Transaction, chainId: number, address: string, group: GroupState, onRecord: (tx: NewChainTx) => void): SenderLock {
  return {
    async reserved(token) {
      group.unmined ??= await trx('chain_txs')
        .where({ chain_id: chainId, from_address: address })
        .whereIn('status', UNMINED_STATUSES)
        .select('nonce', 'token', 'token_units', 'gas_limit', 'max_fee_per_gas', 'gas_price');
      // The attempts at one nonce are alternatives (at most one is mined): each nonce reserves its dearest attempt once.
      const byNonce = new Map<string, { tokenUnits: bigint; gasWei: bigint }>();
      for (const r of group.unmined!) {
        const gasWei = BigInt(r.gas_limit) * BigInt(r.max_fee_per_gas ?? r.gas_price ?? '0');
        const tokenUnits = r.token === token ? BigInt(r.token_units) : 0n;
        const seen = byNonce.get(r.nonce);
        byNonce.set(r.nonce, { tokenUnits, gasWei: seen && seen.gasWei > gasWei ? seen.gasWei : gasWei });
      }
      let tokenUnits = 0n;
      let gasWei = 0n;
      for (const r of byNonce.values()) {
        tokenUnits += r.tokenUnits;
        gasWei += r.gasWei;
      }
      return { tokenUnits, gasWei };
    },
    nextNonce: (chainNext) => Math.max(group.stored, chainNext),
    async record(tx) {
      await trx('chain_txs').insert(toRow(tx));
      await trx('chain_nonces')
        .where({ chain_id: chainId, address })
        .update({ next_nonce: trx.raw('GREATEST(next_nonce, ?)', [tx.nonce + 1]), updated_at: trx.fn.now(3) });
      onRecord(tx);
      return { ...tx, status: 'signed', blockNumber: null, blockHash: null, createdAt: new Date().toISOString(), broadcastAt: null };
    },
  };
}

/** Persists a replacement (attempt > 0) at the nonce of the transaction it replaces; idempotent by (reference, attempt). */
export async function recordReplacement(db: Db, tx: NewChainTx): Promise<ChainTxRecord> {
  await db('chain_txs').insert(toRow(tx)).onConflict(['reference', 'attempt']).ignore();
  return (await attemptOf(db, tx.reference, tx.attempt))!;
}

export async function getChainTx(db: Db, chainId: number, hash: string): Promise<ChainTxRecord | undefined> {
  const row = await db('chain_txs').where({ chain_id: chainId, hash }).first();
  return row && toRecord(row);
}

/** The transactions of `hashes` we have on a chain, in no particular order. */
export async function getChainTxs(db: Db, chainId: number, hashes: string[]): Promise<ChainTxRecord[]> {
  const rows = await db('chain_txs').where({ chain_id: chainId }).whereIn('hash', hashes);
  return rows.map(toRecord);
}

export async function attemptOf(db: Db, reference: string, attempt: number): Promise<ChainTxRecord | undefined> {
  const row = await db('chain_txs').where({ reference, attempt }).first();
  return row && toRecord(row);
}

/** Every signature a reference made, first to last. */
export async function chainTxsOf(db: Db, reference: string): Promise<ChainTxRecord[]> {
  const rows = await db('chain_txs').where({ reference }).orderBy('attempt');
  return rows.map(toRecord);
}

/** Transactions of ours from `from` at nonces in [fromNonce, belowNonce) that a node may still have to be given, in nonce order. */
export async function unminedBefore(db: Db, chainId: number, from: string, fromNonce: number, belowNonce: number): Promise<ChainTxRecord[]> {
  const rows = await db('chain_txs')
    .where({ chain_id: chainId, from_address: from })
    .where('nonce', '>=', fromNonce)
    .where('nonce', '<', belowNonce)
    .whereIn('status', UNMINED_STATUSES)
    .orderBy([{ column: 'nonce' }, { column: 'attempt', order: 'desc' }]);
  // The newest attempt of each nonce: an older one would be refused as underpriced, or be the one a bump replaced.
  const newest = new Map<number, ChainTxRecord>();
  for (const row of rows.map(toRecord)) if (!newest.has(row.nonce)) newest.set(row.nonce, row);
  return [...newest.values()];
}

/** A node took the transaction: signed → broadcast (other states are left as they are). */
export async function markBroadcast(db: Db, chainId: number, hash: string): Promise<void> {
  await db('chain_txs').where({ chain_id: chainId, hash, status: 'signed' }).update({ status: 'broadcast', broadcast_at: db.fn.now(3), updated_at: db.fn.now(3) });
}

/**
 * What a look at the chain saw of a nonce's attempts (`attempts`, their rows as read before the look): the one in a block
 * (or none), the others not. An attempt that was mined and is no longer (a reorg) goes back to broadcast. Final states are
 * never changed here, and a row that already says what was seen is not written.
 */
export async function recordSighting(
  db: Db,
  chainId: number,
  attempts: ChainTxRecord[],
  mined: { hash: string; blockNumber: number; blockHash: string } | null,
): Promise<void> {
  const reorged = attempts.filter((tx) => tx.status === 'mined' && tx.hash !== mined?.hash).map((tx) => tx.hash);
  const was = mined && attempts.find((tx) => tx.hash === mined.hash);
  const newlyMined = was && LIVE_STATUSES.includes(was.status) && !(was.status === 'mined' && was.blockNumber === mined.blockNumber && was.blockHash === mined.blockHash) ? mined : null;
  if (!reorged.length && !newlyMined) return;
  const write = async (q: Db) => {
    if (reorged.length) {
      await q('chain_txs')
        .where({ chain_id: chainId, status: 'mined' })
        .whereIn('hash', reorged)
        .update({ status: 'broadcast', block_number: null, block_hash: null, updated_at: q.fn.now(3) });
    }
    if (newlyMined) {
      await q('chain_txs')
        .where({ chain_id: chainId, hash: newlyMined.hash })
        .whereIn('status', LIVE_STATUSES)
        .update({
          status: 'mined',
          block_number: newlyMined.blockNumber,
          block_hash: newlyMined.blockHash,
          broadcast_at: q.raw('COALESCE(broadcast_at, NOW(3))'),
          updated_at: q.fn.now(3),
        });
    }
  };
  // One statement is atomic by itself; two (a reorg that mined another attempt) go together.
  await (reorged.length && newlyMined ? db.transaction(write) : write(db));
}

/** The final state of a nonce's attempts: the winner confirmed or failed and the others replaced, or all dropped. Idempotent. */
export async function recordOutcome(
  db: Db,
  chainId: number,
  hashes: string[],
  outcome: { winner: string; status: 'confirmed' | 'failed'; blockNumber: number; blockHash: string } | { dropped: true },
): Promise<void> {
  const losers = 'dropped' in outcome ? [] : hashes.filter((h) => h !== outcome.winner);
  const write = async (q: Db) => {
    if ('dropped' in outcome) {
      await q('chain_txs').where({ chain_id: chainId }).whereIn('hash', hashes).update({ status: 'dropped', updated_at: q.fn.now(3) });
      return;
    }
    await q('chain_txs')
      .where({ chain_id: chainId, hash: outcome.winner })
      .update({ status: outcome.status, block_number: outcome.blockNumber, block_hash: outcome.blockHash, updated_at: q.fn.now(3) });
    if (losers.length) {
      await q('chain_txs').where({ chain_id: chainId }).whereIn('hash', losers).update({ status: 'replaced', block_number: null, block_hash: null, updated_at: q.fn.now(3) });
    }
  };
  // One statement is atomic by itself: the winner and its losers go together.
  await (losers.length ? db.transaction(write) : write(db));
}

/**
 * For a chain that started over (a dev node restarted, a test reverted to a snapshot): its nonces and transactions are gone,
 * so are our records of them, and the allocator starts again from the chain's count. Never for a live chain.
 */
export async function forgetChainSends(db: Db, chainId: number): Promise<void> {
  // The nonce rows first, as a send group locks them (then inserts its transactions).
  await db.transaction(async (trx) => {
    await trx('chain_nonces').where({ chain_id: chainId }).delete();
    await trx('chain_txs').where({ chain_id: chainId }).delete();
  });
  for (const key of allocatorRows) if (key.startsWith(`${chainId}:`)) allocatorRows.delete(key);
}
