// Checkout sessions (seed 003): each session's own receiving address (an HD index on a branch of the seed that deposit
// addresses never use), its status as its workflow last wrote it (with the version the API's WebSocket pushes on), the
// transfers that paid it, the addresses the scanners watch for it, and the figures of GET /api/v1/stats/payments.
import { createHash } from 'node:crypto';
import { HDNodeWallet } from 'ethers';
import type { Knex } from 'knex';
import { fromBaseUnits } from '../domain/chain';
import type { CheckoutProgress, CheckoutSessionInput, CheckoutStatus, CheckoutTransferState } from '../domain/checkout';
import { normalizeAmount } from '../domain/money';
import { isoTime, sqlTime, type Db } from './knex';
import { storedSeedXpub } from './wallets';

/**
 * Checkout address i is m/44'/60'/0'/0/2147483647/i: derived from the deposit account's xpub (the seed stays sealed), one
 * level below the deposit addresses m/44'/60'/0'/0/{n}, so the two never meet. Its key derives from the seed the same way.
 */
export const CHECKOUT_BRANCH = 2 ** 31 - 1;
const MAX_HD_INDEX = 2 ** 31 - 1;

/** The lower-case address of checkout index `index` under the deposit account's xpub. */
export function checkoutAddressAt(xpub: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > MAX_HD_INDEX) throw new Error(`checkout index ${index} is outside 0…${MAX_HD_INDEX}`);
  return HDNodeWallet.fromExtendedKey(xpub).deriveChild(CHECKOUT_BRANCH).deriveChild(index).address.toLowerCase();
}

export interface CheckoutTransferRecord {
  txHash: string;
  logIndex: number;
  from: string;
  amount: string;
  amountUnits: string;
  blockNumber: number;
  blockHash: string;
  confirmations: number;
  state: CheckoutTransferState;
  onChain: boolean;
  late: boolean;
  transferId: string | null;
  createdAt: string;
}

export interface CheckoutSessionRecord {
  id: string;
  seq: number;
  requestDigest: string;
  networkId: string;
  chainId: number;
  tokenSymbol: string;
  tokenAddress: string;
  tokenDecimals: number;
  address: string;
  hdIndex: number;
  productId: string | null;
  productName: string | null;
  description: string | null;
  amount: string;
  amountUnits: string;
  status: CheckoutStatus;
  receivedAmount: string;
  pendingAmount: string;
  excessAmount: string;
  requiredConfirmations: number;
  expiresAt: string;
  watchUntil: string;
  paidAt: string | null;
  closedAt: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  /** Oldest first. */
  transfers: CheckoutTransferRecord[];
}

interface SessionRow {
  seq: string;
  id: string;
  request_digest: string;
  network_id: string;
  chain_id: string;
  token_symbol: string;
  token_address: string;
  token_decimals: number;
  address: string;
  hd_index: number;
  product_id: string | null;
  product_name: string | null;
  description: string | null;
  amount: string;
  amount_units: string;
  status: CheckoutStatus;
  received_amount: string;
  pending_amount: string;
  excess_amount: string;
  required_confirmations: number;
  expires_at: string;
  watch_until: string;
  paid_at: string | null;
  closed_at: string | null;
  version: number;
  created_at: string;
  updated_at: string;
}

interface TransferRow {
  session_id: string;
  tx_hash: string;
  log_index: number;
  from_address: string;
  amount: string;
  amount_units: string;
  block_number: string;
  block_hash: string;
  confirmations: number;
  state: CheckoutTransferState;
  on_chain: number;
  late: number;
  transfer_id: string | null;
  created_at: string;
}

const nullableIso = (value: string | null): string | null => (value === null ? null : isoTime(value));

const toTransfer = (r: TransferRow): CheckoutTransferRecord => ({
  txHash: r.tx_hash,
  logIndex: r.log_index,
  from: r.from_address,
  amount: normalizeAmount(r.amount),
  amountUnits: r.amount_units,
  blockNumber: Number(r.block_number),
  blockHash: r.block_hash,
  confirmations: r.confirmations,
  state: r.state,
  onChain: Boolean(r.on_chain),
  late: Boolean(r.late),
  transferId: r.transfer_id,
  createdAt: isoTime(r.created_at),
});

const toSession = (r: SessionRow, transfers: CheckoutTransferRecord[]): CheckoutSessionRecord => ({
  id: r.id,
  seq: Number(r.seq),
  requestDigest: r.request_digest,
  networkId: r.network_id,
  chainId: Number(r.chain_id),
  tokenSymbol: r.token_symbol,
  tokenAddress: r.token_address,
  tokenDecimals: r.token_decimals,
  address: r.address,
  hdIndex: r.hd_index,
  productId: r.product_id,
  productName: r.product_name,
  description: r.description,
  amount: normalizeAmount(r.amount),
  amountUnits: r.amount_units,
  status: r.status,
  receivedAmount: normalizeAmount(r.received_amount),
  pendingAmount: normalizeAmount(r.pending_amount),
  excessAmount: normalizeAmount(r.excess_amount),
  requiredConfirmations: r.required_confirmations,
  expiresAt: isoTime(r.expires_at),
  watchUntil: isoTime(r.watch_until),
  paidAt: nullableIso(r.paid_at),
  closedAt: nullableIso(r.closed_at),
  version: r.version,
  createdAt: isoTime(r.created_at),
  updatedAt: isoTime(r.updated_at),
  transfers,
});

export async function getCheckoutSession(db: Db | Knex.Transaction, id: string): Promise<CheckoutSessionRecord | undefined> {
  const row: SessionRow | undefined = await db('checkout_sessions').where({ id }).first();
  if (!row) return undefined;
  const transfers: TransferRow[] = await db('checkout_transfers').where({ session_id: id }).orderBy([{ column: 'created_at' }, { column: 'block_number' }, { column: 'log_index' }]);
  return toSession(row, transfers.map(toTransfer));
}

/**
 * Records the session with the next checkout address, once: a second call (a retried activity, a re-run) finds the row.
 * The index is taken under the counter's lock, so no two sessions ever share an address.
 */
export async function recordCheckoutSession(db: Db, input: CheckoutSessionInput): Promise<CheckoutSessionRecord> {
  const existing = await getCheckoutSession(db, input.id);
  if (existing) return existing;
  const xpub = await storedSeedXpub(db);
  if (!xpub) throw new Error('there is no wallet seed: the wallets were not provisioned (scripts/stack/provision-wallets.ts)');
  await db.transaction(async (trx) => {
    const counter = await trx('checkout_address_index').where({ id: 1 }).forUpdate().first('next_index');
    if (await trx('checkout_sessions').where({ id: input.id }).first('id')) return;
    const index = Number(counter.next_index);
    const expiresAt = Date.parse(input.expiresAt);
    await trx('checkout_sessions').insert({
      id: input.id,
      request_digest: input.requestDigest,
      network_id: input.networkId,
      chain_id: input.chainId,
      token_symbol: input.token.symbol,
      token_address: input.token.address,
      token_decimals: input.token.decimals,
      address: checkoutAddressAt(xpub, index),
      hd_index: index,
      product_id: input.productId ?? null,
      product_name: input.productName,
      description: input.description,
      amount: input.amount,
      amount_units: input.amountUnits,
      required_confirmations: input.confirmations,
      expires_at: sqlTime(new Date(expiresAt).toISOString()),
      watch_until: sqlTime(new Date(expiresAt + input.lateWindowMs).toISOString()),
    });
    await trx('checkout_address_index').where({ id: 1 }).update({ next_index: index + 1 });
  });
  return (await getCheckoutSession(db, input.id))!;
}

/**
 * Writes what the workflow shows of a session: its status, sums and transfers, and bumps its version. Idempotent: the
 * same progress written again (a retried activity) changes nothing, so subscribers hear of each change once.
 */
export async function saveCheckoutProgress(db: Db, session: CheckoutSessionInput, progress: CheckoutProgress): Promise<void> {
  const digest = createHash('sha256').update(JSON.stringify(progress)).digest('hex');
  const { decimals } = session.token;
  await db.transaction(async (trx) => {
    const row = await trx('checkout_sessions').where({ id: session.id }).forUpdate().first('progress_digest');
    if (!row) throw new Error(`checkout session ${session.id} is not recorded`);
    if (row.progress_digest === digest) return;
    if (progress.transfers.length > 0) {
      await trx('checkout_transfers')
        .insert(
          progress.transfers.map((t) => ({
            session_id: session.id,
            chain_id: session.chainId,
            tx_hash: t.txHash,
            log_index: t.logIndex,
            from_address: t.from,
            amount: fromBaseUnits(t.valueUnits, decimals),
            amount_units: t.valueUnits,
            block_number: t.blockNumber,
            block_hash: t.blockHash,
            confirmations: t.confirmations,
            state: t.state,
            on_chain: t.onChain,
            late: t.late,
            transfer_id: t.transferId,
          })),
        )
        .onConflict(['chain_id', 'tx_hash', 'log_index'])
        .merge({
          ...Object.fromEntries(['block_number', 'block_hash', 'confirmations', 'state', 'on_chain', 'transfer_id'].map((c) => [c, trx.raw('VALUES(??)', [c])])),
          updated_at: trx.fn.now(3),
        });
    }
    await trx('checkout_sessions')
      .where({ id: session.id })
      .update({
        status: progress.status,
        received_amount: fromBaseUnits(progress.receivedUnits, decimals),
        pending_amount: fromBaseUnits(progress.pendingUnits, decimals),
        excess_amount: fromBaseUnits(progress.excessUnits, decimals),
        paid_at: progress.paidAt === null ? null : sqlTime(progress.paidAt),
        progress_digest: digest,
        version: trx.raw('version + 1'),
        updated_at: trx.fn.now(3),
      });
  });
}

/** The workflow ended: the scanners stop watching the address. Idempotent. */
export async function closeCheckoutSession(db: Db, id: string): Promise<void> {
  await db('checkout_sessions').where({ id }).whereNull('closed_at').update({ closed_at: db.fn.now(3), updated_at: db.fn.now(3) });
}

/** The addresses of the open sessions of a network's token: the chain scanner reads transfers to them. */
export async function watchedCheckoutAddresses(db: Db, networkId: string, tokenSymbol: string): Promise<string[]> {
  const rows: { address: string }[] = await db('checkout_sessions').where({ network_id: networkId, token_symbol: tokenSymbol }).whereNull('closed_at').select('address');
  return rows.map((r) => r.address);
}

/** The open session of each of these addresses (lower case) on a network's token; addresses of none are absent. */
export async function openCheckoutSessionsByAddress(db: Db, networkId: string, tokenSymbol: string, addresses: string[]): Promise<Map<string, string>> {
  if (addresses.length === 0) return new Map();
  const rows: { address: string; id: string }[] = await db('checkout_sessions')
    .where({ network_id: networkId, token_symbol: tokenSymbol })
    .whereNull('closed_at')
    .whereIn('address', addresses)
    .select('address', 'id');
  return new Map(rows.map((r) => [r.address, r.id]));
}

/** Open sessions of a network's token with a transfer waiting for confirmations above `block`: a reorg from there concerns them. */
export async function checkoutSessionsWaitingAbove(db: Db, networkId: string, tokenSymbol: string, block: number): Promise<string[]> {
  const rows: { id: string }[] = await db('checkout_sessions as s')
    .join('checkout_transfers as t', 't.session_id', 's.id')
    .where({ 's.network_id': networkId, 's.token_symbol': tokenSymbol, 't.state': 'seen' })
    .whereNull('s.closed_at')
    .andWhere('t.block_number', '>', block)
    .distinct('s.id');
  return rows.map((r) => r.id);
}

/** The version of each of these sessions that exists: a subscriber behind it has a change to hear. */
export async function checkoutVersions(db: Db, ids: string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows: { id: string; version: number }[] = await db('checkout_sessions').whereIn('id', ids).select('id', 'version');
  return new Map(rows.map((r) => [r.id, r.version]));
}

export interface CheckoutSessionPage {
  data: CheckoutSessionRecord[];
  hasMore: boolean;
  nextCursor: string | null;
}

/** Sessions newest first, in a status or any, a page at a time (`after` is the previous page's nextCursor). Without their transfers. */
export async function listCheckoutSessions(db: Db, filter: { status?: CheckoutStatus; after?: number; limit: number }): Promise<CheckoutSessionPage> {
  const query = db('checkout_sessions').orderBy('seq', 'desc').limit(filter.limit + 1);
  if (filter.status !== undefined) query.where({ status: filter.status });
  if (filter.after !== undefined) query.where('seq', '<', filter.after);
  const rows = ((await query) as SessionRow[]).map((r) => toSession(r, []));
  const hasMore = rows.length > filter.limit;
  const data = rows.slice(0, filter.limit);
  return { data, hasMore, nextCursor: hasMore ? String(data[data.length - 1].seq) : null };
}

export interface CheckoutFigures {
  /** Sessions by status. */
  byStatus: Partial<Record<CheckoutStatus, number>>;
  /** Per token symbol: sessions, the amount asked and the amount received (confirmed), in token units. */
  byToken: Record<string, { count: number; requested: string; received: string }>;
  /** Mean seconds from creation to the amount being reached, over the paid sessions; null when none is. */
  averageSecondsToPaid: number | null;
  /** Underpaid sessions past their expiry: short for good, unless late money comes. */
  shortAtExpiry: number;
  /** Transfers to the sessions that left the chain in a reorg and did not come back. */
  reorgedTransfers: number;
}

/** Counts and sums of the sessions created since `since` (all of them without it). */
export async function checkoutFigures(db: Db, since?: Date): Promise<CheckoutFigures> {
  const scoped = () => {
    const query = db('checkout_sessions');
    if (since) query.where('created_at', '>=', sqlTime(since.toISOString()));
    return query;
  };
  const [statuses, tokens, paid, [short], [reorged]] = await Promise.all([
    scoped().groupBy('status').select('status', db.raw('COUNT(*) AS n')),
    scoped().groupBy('token_symbol').select('token_symbol', db.raw('COUNT(*) AS n'), db.raw('SUM(amount) AS requested'), db.raw('SUM(received_amount) AS received')),
    scoped().whereNotNull('paid_at').select(db.raw('AVG(TIMESTAMPDIFF(MICROSECOND, created_at, paid_at)) / 1000000 AS seconds')),
    scoped().where({ status: 'underpaid' }).andWhere('expires_at', '<=', db.fn.now(3)).count({ n: '*' }),
    db('checkout_transfers').where({ state: 'reorged' }).whereIn('session_id', scoped().select('id')).count({ n: '*' }),
  ]);
  const seconds = (paid as { seconds: string | null }[])[0]?.seconds;
  return {
    byStatus: Object.fromEntries((statuses as { status: CheckoutStatus; n: string }[]).map((r) => [r.status, Number(r.n)])),
    byToken: Object.fromEntries(
      (tokens as { token_symbol: string; n: string; requested: string; received: string }[]).map((r) => [
        r.token_symbol,
        { count: Number(r.n), requested: normalizeAmount(r.requested), received: normalizeAmount(r.received) },
      ]),
    ),
    averageSecondsToPaid: seconds === null || seconds === undefined ? null : Math.round(Number(seconds) * 1000) / 1000,
    shortAtExpiry: Number(short.n),
    reorgedTransfers: Number(reorged.n),
  };
}

/** Sessions created since each instant (counts). */
export async function checkoutCountsSince(db: Db, instants: Record<string, Date>): Promise<Record<string, number>> {
  const entries = await Promise.all(
    Object.entries(instants).map(async ([name, since]) => {
      const [row] = await db('checkout_sessions').where('created_at', '>=', sqlTime(since.toISOString())).count({ n: '*' });
      return [name, Number(row.n)] as const;
    }),
  );
  return Object.fromEntries(entries);
}

/** Sessions still watched and Transfer logs the scanners routed (deposits and checkout transfers), for monitoring. */
export async function chainActivityCounts(db: Db): Promise<{ openSessions: number; transfersDetected: number }> {
  const [[open], [deposits], [transfers]] = await Promise.all([
    db('checkout_sessions').whereNull('closed_at').count({ n: '*' }),
    db('deposits').count({ n: '*' }),
    db('checkout_transfers').count({ n: '*' }),
  ]);
  return { openSessions: Number(open.n), transfersDetected: Number(deposits.n) + Number(transfers.n) };
}

/** A Transfer log a scanner routed: to a user's deposit address, or to a checkout session's address. */
export interface RoutedTransfer {
  networkId: string;
  token: string;
  from: string;
  to: string;
  /** The log's value in the token's base units. */
  value: string;
  amount: string;
  txHash: string;
  blockNumber: number;
  logIndex: number;
  routedTo: { kind: 'deposit' | 'checkout'; id: string };
  seenAt: string;
}

/** The `limit` newest routed Transfer logs, deposits and checkout transfers together, newest first. */
export async function recentRoutedTransfers(db: Db, limit: number): Promise<RoutedTransfer[]> {
  const [deposits, transfers] = await Promise.all([
    db('deposits')
      .orderBy('seq', 'desc')
      .limit(limit)
      .select('id', 'network_id', 'token_symbol', 'from_address', 'to_address', 'amount_units', 'amount', 'tx_hash', 'block_number', 'log_index', 'created_at'),
    db('checkout_transfers as t')
      .join('checkout_sessions as s', 's.id', 't.session_id')
      .orderBy('t.created_at', 'desc')
      .limit(limit)
      .select(
        't.session_id as id', 's.network_id', 's.token_symbol', 't.from_address', 's.address as to_address', 't.amount_units', 't.amount', 't.tx_hash',
        't.block_number', 't.log_index', 't.created_at',
      ),
  ]);
  const routed = (kind: 'deposit' | 'checkout') => (r: Record<string, string>): RoutedTransfer => ({
    networkId: r.network_id,
    token: r.token_symbol,
    from: r.from_address,
    to: r.to_address,
    value: r.amount_units,
    amount: normalizeAmount(r.amount),
    txHash: r.tx_hash,
    blockNumber: Number(r.block_number),
    logIndex: Number(r.log_index),
    routedTo: { kind, id: r.id },
    seenAt: isoTime(r.created_at),
  });
  return [...deposits.map(routed('deposit')), ...transfers.map(routed('checkout'))]
    .sort((a, b) => b.seenAt.localeCompare(a.seenAt))
    .slice(0, limit);
}
