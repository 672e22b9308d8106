// Deposits and the chain scanners' cursors: what DepositWorkflow records of each Transfer log, what the API lists, and
// where each scanner (network, token) stopped, with the hashes of the blocks it read last.
import type { Knex } from 'knex';
import type { DepositInput, DepositSighting, DepositStatus } from '../domain/deposit';
import { normalizeAmount } from '../domain/money';
import { isoTime, type Db } from './knex';

export interface Deposit {
  id: string;
  seq: number;
  networkId: string;
  chainId: number;
  tokenSymbol: string;
  tokenAddress: string;
  txHash: string;
  logIndex: number;
  from: string;
  to: string;
  uid: number;
  amount: string;
  amountUnits: string;
  blockNumber: number;
  blockHash: string;
  /** Blocks on top of the log's block it needs: the network's confirmations when it was seen. */
  requiredConfirmations: number;
  status: DepositStatus;
  transferId: string | null;
  confirmedAt: string | null;
  reorgedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

interface DepositRow {
  seq: string;
  id: string;
  network_id: string;
  chain_id: string;
  token_symbol: string;
  token_address: string;
  tx_hash: string;
  log_index: number;
  from_address: string;
  to_address: string;
  uid: string;
  amount: string;
  amount_units: string;
  block_number: string;
  block_hash: string;
  required_confirmations: number;
  status: DepositStatus;
  transfer_id: string | null;
  confirmed_at: string | null;
  reorged_at: string | null;
  created_at: string;
  updated_at: string;
}


const toDeposit = (r: DepositRow): Deposit => ({
  id: r.id,
  seq: Number(r.seq),
  networkId: r.network_id,
  chainId: Number(r.chain_id),
  tokenSymbol: r.token_symbol,
  tokenAddress: r.token_address,
  txHash: r.tx_hash,
  logIndex: r.log_index,
  from: r.from_address,
  to: r.to_address,
  uid: Number(r.uid),
  amount: normalizeAmount(r.amount),
  amountUnits: r.amount_units,
  blockNumber: Number(r.block_number),
  blockHash: r.block_hash,
  requiredConfirmations: r.required_confirmations,
  status: r.status,
  transferId: r.transfer_id,
  confirmedAt: r.confirmed_at === null ? null : isoTime(r.confirmed_at),
  reorgedAt: r.reorged_at === null ? null : isoTime(r.reorged_at),
  createdAt: isoTime(r.created_at),
  updatedAt: isoTime(r.updated_at),
});

export async function getDeposit(db: Db | Knex.Transaction, id: string): Promise<Deposit | undefined> {
  const row: DepositRow | undefined = await db('deposits').where({ id }).first();
  return row && toDeposit(row);
}

/**
 * Records a deposit as pending, once: a second call finds the row. A deposit its workflow found reorged out and whose log
 * the scanner saw again is pending again, in the block given. Returns the row as it now is.
 */
export async function recordDeposit(db: Db, input: DepositInput): Promise<Deposit> {
  const block = { block_number: input.blockNumber, block_hash: input.blockHash };
  await db('deposits')
    .insert({
      id: input.id,
      network_id: input.networkId,
      chain_id: input.chainId,
      token_symbol: input.token.symbol,
      token_address: input.token.address,
      tx_hash: input.txHash,
      log_index: input.logIndex,
      from_address: input.from,
      to_address: input.to,
      uid: input.uid,
      amount: input.amount,
      amount_units: input.amountUnits,
      required_confirmations: input.confirmations,
      ...block,
    })
    .onConflict('id')
    .ignore();
  await db('deposits').where({ id: input.id, status: 'reorged' }).update({ status: 'pending', reorged_at: null, ...block, updated_at: db.fn.now(3) });
  return (await getDeposit(db, input.id))!;
}

/** The log of a pending deposit is now in another block (its transaction re-included after a reorg). */
export async function moveDeposit(db: Db, id: string, to: DepositSighting): Promise<void> {
  await db('deposits').where({ id, status: 'pending' }).update({ block_number: to.blockNumber, block_hash: to.blockHash, updated_at: db.fn.now(3) });
}

/** pending → confirmed with its ledger transfer; false when it was not pending. */
export async function markDepositConfirmed(db: Db, id: string, transferId: string): Promise<boolean> {
  const changed = await db('deposits').where({ id, status: 'pending' }).update({ status: 'confirmed', transfer_id: transferId, confirmed_at: db.fn.now(3), updated_at: db.fn.now(3) });
  return changed === 1;
}

/** pending → reorged; false when it was not pending. */
export async function markDepositReorged(db: Db, id: string): Promise<boolean> {
  const changed = await db('deposits').where({ id, status: 'pending' }).update({ status: 'reorged', reorged_at: db.fn.now(3), updated_at: db.fn.now(3) });
  return changed === 1;
}

/** The status of each of these deposits that has a row. */
export async function depositStatuses(db: Db, ids: string[]): Promise<Map<string, DepositStatus>> {
  if (ids.length === 0) return new Map();
  const rows: { id: string; status: DepositStatus }[] = await db('deposits').whereIn('id', ids).select('id', 'status');
  return new Map(rows.map((r) => [r.id, r.status]));
}

/** Pending deposits of a scanner whose block is above `block`: a reorg from there concerns them. */
export async function pendingDepositsAbove(db: Db, networkId: string, tokenSymbol: string, block: number): Promise<string[]> {
  const rows: { id: string }[] = await db('deposits')
    .where({ network_id: networkId, token_symbol: tokenSymbol, status: 'pending' })
    .andWhere('block_number', '>', block)
    .select('id');
  return rows.map((r) => r.id);
}

/** The users whose deposit addresses on a network these are (lower case); addresses of no user are absent. */
export async function depositAddressOwners(db: Db, networkId: string, addresses: string[]): Promise<Map<string, number>> {
  if (addresses.length === 0) return new Map();
  const rows: { address: string; uid: string }[] = await db('deposit_addresses').where({ network_id: networkId }).whereIn('address', addresses).select('address', 'uid');
  return new Map(rows.map((r) => [r.address, Number(r.uid)]));
}

export interface DepositPage {
  data: Deposit[];
  hasMore: boolean;
  /** Pass as `after` for the next page; null on the last. */
  nextCursor: string | null;
}

/** Deposits newest first, of a user and / or in a status, a page at a time (`after` is the previous page's nextCursor). */
export async function listDeposits(db: Db, filter: { uid?: number; status?: DepositStatus; after?: number; limit: number }): Promise<DepositPage> {
  const query = db('deposits').orderBy('seq', 'desc').limit(filter.limit + 1);
  if (filter.uid !== undefined) query.where({ uid: filter.uid });
  if (filter.status !== undefined) query.where({ status: filter.status });
  if (filter.after !== undefined) query.where('seq', '<', filter.after);
  const rows = ((await query) as DepositRow[]).map(toDeposit);
  const hasMore = rows.length > filter.limit;
  const data = rows.slice(0, filter.limit);
  return { data, hasMore, nextCursor: hasMore ? String(data[data.length - 1].seq) : null };
}

// ---- scanner cursors ----

export interface ScanCursor {
  networkId: string;
  tokenSymbol: string;
  chainId: number;
  /** The last block scanned; -1 before the first. */
  lastBlock: number;
  /** [number, hash] of the last blocks scanned, oldest first. */
  recentBlocks: [number, string][];
  version: number;
}

interface CursorRow {
  network_id: string;
  token_symbol: string;
  chain_id: string;
  last_block: string;
  recent_blocks: string;
  version: number;
}

export async function getScanCursor(db: Db, networkId: string, tokenSymbol: string): Promise<ScanCursor | undefined> {
  const row: CursorRow | undefined = await db('chain_scan_cursors').where({ network_id: networkId, token_symbol: tokenSymbol }).first();
  return (
    row && {
      networkId: row.network_id,
      tokenSymbol: row.token_symbol,
      chainId: Number(row.chain_id),
      lastBlock: Number(row.last_block),
      recentBlocks: JSON.parse(row.recent_blocks) as [number, string][],
      version: row.version,
    }
  );
}

/**
 * Moves a cursor from the state it was read in (`from.version`; a cursor never saved has version -1) to `to`, counting a
 * reorg or a reset when there was one. False, and nothing changed, when it moved meanwhile.
 */
export async function moveScanCursor(
  db: Db,
  from: Pick<ScanCursor, 'networkId' | 'tokenSymbol' | 'chainId' | 'version'>,
  to: { lastBlock: number; recentBlocks: [number, string][] },
  event?: 'reorg' | 'reset',
): Promise<boolean> {
  const fields = { last_block: to.lastBlock, recent_blocks: JSON.stringify(to.recentBlocks) };
  if (from.version < 0) {
    const [result] = await db.raw(
      'INSERT IGNORE INTO chain_scan_cursors (network_id, token_symbol, chain_id, last_block, recent_blocks, version) VALUES (?, ?, ?, ?, ?, 0)',
      [from.networkId, from.tokenSymbol, from.chainId, fields.last_block, fields.recent_blocks],
    );
    return result.affectedRows === 1;
  }
  const changed = await db('chain_scan_cursors')
    .where({ network_id: from.networkId, token_symbol: from.tokenSymbol, version: from.version })
    .update({
      ...fields,
      chain_id: from.chainId,
      version: from.version + 1,
      ...(event === 'reorg' && { reorgs: db.raw('reorgs + 1') }),
      ...(event === 'reset' && { resets: db.raw('resets + 1') }),
      updated_at: db.fn.now(3),
    });
  return changed === 1;
}

/** Moves a scanner's cursor back so that it scans again from `block` + 1 (operations, tests); the hashes above go. */
export async function rewindScanCursor(db: Db, networkId: string, tokenSymbol: string, block: number): Promise<void> {
  const cursor = await getScanCursor(db, networkId, tokenSymbol);
  if (!cursor || cursor.lastBlock <= block) return;
  const recentBlocks = cursor.recentBlocks.filter(([n]) => n <= block);
  await moveScanCursor(db, cursor, { lastBlock: block, recentBlocks });
}
