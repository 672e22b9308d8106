// Batch payouts in MySQL: the request the API stores before starting the workflow (its items, as a claim
// check), and the per-item read model the workflow's activities keep, with the ledger holds, posts and voids.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { BatchItem, BatchItemStatus, BatchPhase, BatchStatus, ConcurrencyLimits } from '../domain/batch-payout';
import { payoutTransferId } from '../domain/batch-payout';
import { userAccount } from '../domain/ledger';
import { money } from '../domain/money';
import type { Db } from './knex';
import { holdMany, settleMany, type HoldResult } from './ledger';

/** Where paid-out money goes: it has left the engine for the payout provider. */
export const PAYOUT_ACCOUNT = 'external:payout:onepass';

export interface BatchRow {
  batch_pay_id: string;
  workflow_id: string;
  currency: string;
  item_count: number;
  items_digest: string;
  status: BatchStatus;
  phase: BatchPhase;
  control: 'run' | 'pause' | 'cancel';
  min_concurrency: number;
  max_concurrency: number;
  concurrency: number;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export interface ItemRow {
  batch_pay_id: string;
  uid: string;
  seq: number;
  requested_amount: string | null;
  amount: string | null;
  status: BatchItemStatus;
  provider_ref: string | null;
  attempts: number;
  maybe_sent: number;
  last_error: string | null;
  /** Holds given back unsent so far: the current hold is the transfer payoutTransferId(…, hold_round). */
  hold_round: number;
  updated_at: string;
}

/** The same items in any order give the same digest; an item without amount differs from one with. */
export function itemsDigest(currency: string, items: BatchItem[]): string {
  const canonical = [...items].sort((a, b) => a.uid - b.uid).map((i) => `${i.uid}=${i.amount === undefined ? '*' : money(i.amount).toFixed()}`);
  return createHash('sha256').update(`${currency}\n${canonical.join('\n')}`).digest('hex');
}

/**
 * Stores a batch and its items, unless a batch with that id exists. Idempotent by batchPayId: returns
 * whether it was created, and whether an existing one had the same items.
 */
export async function createBatch(
  db: Db,
  batch: { batchPayId: string; workflowId: string; currency: string; items: BatchItem[]; limits: ConcurrencyLimits },
): Promise<{ created: boolean; sameItems: boolean }> {
  const digest = itemsDigest(batch.currency, batch.items);
  return db.transaction(async (trx) => {
    const [result] = await trx.raw(
      `INSERT IGNORE INTO batch_payouts (batch_pay_id, workflow_id, currency, item_count, items_digest, min_concurrency, max_concurrency, concurrency)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [batch.batchPayId, batch.workflowId, batch.currency, batch.items.length, digest, batch.limits.min, batch.limits.max, batch.limits.max],
    );
    if (result.affectedRows === 0) {
      const existing: Pick<BatchRow, 'items_digest'> = await trx('batch_payouts').where({ batch_pay_id: batch.batchPayId }).first('items_digest');
      return { created: false, sameItems: existing.items_digest === digest };
    }
    const rows = batch.items.map((item, seq) => ({ batch_pay_id: batch.batchPayId, uid: item.uid, seq, requested_amount: item.amount ?? null }));
    for (let i = 0; i < rows.length; i += 2000) await trx('batch_payout_items').insert(rows.slice(i, i + 2000));
    return { created: true, sameItems: true };
  });
}

export async function getBatch(db: Db, batchPayId: string): Promise<BatchRow | undefined> {
  return db('batch_payouts').where({ batch_pay_id: batchPayId }).first();
}

/** Items per status, and the sum paid. */
export async function batchCounts(db: Db, batchPayId: string): Promise<{ byStatus: Record<BatchItemStatus, number>; paidAmount: string }> {
  const rows: { status: BatchItemStatus; n: number; total: string | null }[] = await db('batch_payout_items')
    .where({ batch_pay_id: batchPayId })
    .groupBy('status')
    .select('status', db.raw('COUNT(*) as n'), db.raw('SUM(amount) as total'));
  const byStatus = { pending: 0, held: 0, retry: 0, paid: 0, failed: 0, rejected: 0, cancelled: 0 };
  for (const r of rows) byStatus[r.status] = Number(r.n);
  const paid = rows.find((r) => r.status === 'paid');
  return { byStatus, paidAmount: money(paid?.total ?? '0').toFixed() };
}

/** A page of items in batch order, after the `afterSeq` cursor, optionally of one status. */
export async function listItems(db: Db, batchPayId: string, opts: { status?: BatchItemStatus; afterSeq?: number; limit: number }): Promise<ItemRow[]> {
  const q = db<ItemRow>('batch_payout_items').where({ batch_pay_id: batchPayId });
  if (opts.status) q.andWhere({ status: opts.status });
  if (opts.afterSeq !== undefined) q.andWhere('seq', '>', opts.afterSeq);
  return q.orderBy('seq').limit(opts.limit);
}

// ——— What the workflow's activities do ———

export async function setBatchState(
  db: Db,
  batchPayId: string,
  state: Partial<Pick<BatchRow, 'status' | 'phase' | 'control' | 'concurrency' | 'min_concurrency' | 'max_concurrency' | 'last_error'>> & { finished?: boolean },
): Promise<void> {
  const { finished, ...columns } = state;
  await db('batch_payouts')
    .where({ batch_pay_id: batchPayId })
    .update({ ...columns, ...(finished ? { finished_at: db.fn.now(3) } : {}), updated_at: db.fn.now(3) });
}

/** What paying an item needs to know of it. */
export type OpenItem = Pick<ItemRow, 'uid' | 'seq' | 'requested_amount' | 'amount' | 'status' | 'attempts' | 'hold_round'>;
const OPEN_ITEM_COLUMNS: (keyof OpenItem)[] = ['uid', 'seq', 'requested_amount', 'amount', 'status', 'attempts', 'hold_round'];

/** Items of a chunk (seq range) that are not final yet. */
export async function openItemsOfChunk(db: Db, batchPayId: string, fromSeq: number, toSeq: number): Promise<OpenItem[]> {
  return db<ItemRow>('batch_payout_items')
    .select(OPEN_ITEM_COLUMNS)
    .where({ batch_pay_id: batchPayId })
    .andWhere('seq', '>=', fromSeq)
    .andWhere('seq', '<', toSeq)
    .whereIn('status', ['pending', 'held', 'retry'])
    .orderBy('seq');
}

/** Items left for the slow phase: held or to retry, anywhere in the batch. */
export async function openItems(db: Db, batchPayId: string, limit: number): Promise<OpenItem[]> {
  return db<ItemRow>('batch_payout_items').select(OPEN_ITEM_COLUMNS).where({ batch_pay_id: batchPayId }).whereIn('status', ['held', 'retry']).orderBy('seq').limit(limit);
}

/** Takes the ledger hold of each pending item (one transaction for all); items that cannot be held fail with the reason. */
export async function holdItems(db: Db, batch: { batchPayId: string; currency: string }, items: OpenItem[]): Promise<HoldResult[]> {
  const requests = items.map((item) => ({
    id: payoutTransferId(batch.batchPayId, Number(item.uid), item.hold_round),
    debitAccount: userAccount(Number(item.uid)),
    creditAccount: PAYOUT_ACCOUNT,
    amount: item.requested_amount === null ? ('available' as const) : money(item.requested_amount).toFixed(),
    currency: batch.currency,
    kind: 'payout' as const,
    reference: batch.batchPayId,
  }));
  return holdMany(db, requests, async (trx, results) => {
    const rows = results.map((r, i) => ({
      uid: items[i].uid,
      seq: items[i].seq,
      status: r.ok ? (r.state === 'pending' ? 'held' : r.state === 'posted' ? 'paid' : 'cancelled') : 'failed',
      amount: r.ok ? r.amount : null,
      // From the hold on, a pay request may go out at any moment: such an item is never voided unasked.
      maybe_sent: r.ok && r.state === 'pending',
      last_error: r.ok ? null : `${r.code}: ${r.message}`.slice(0, 255),
    }));
    await upsertItems(trx, batch.batchPayId, rows);
  });
}

export interface ItemOutcome {
  uid: number;
  seq: number;
  status: Extract<BatchItemStatus, 'paid' | 'rejected' | 'retry' | 'held' | 'cancelled'>;
  attempts: number;
  maybeSent: boolean;
  holdRound: number;
  providerRef?: string;
  lastError?: string;
}

/**
 * Records what the provider said of many items: paid items post their hold; rejected items, and held items
 * cancelled, void it; one transaction with the items' rows.
 */
export async function recordOutcomes(db: Db, batchPayId: string, outcomes: ItemOutcome[]): Promise<void> {
  if (outcomes.length === 0) return;
  const transfersOf = (keep: (o: ItemOutcome) => boolean) => outcomes.filter(keep).map((o) => payoutTransferId(batchPayId, o.uid, o.holdRound));
  const rows = outcomes.map((o) => ({
    uid: o.uid,
    seq: o.seq,
    status: o.status,
    attempts: o.attempts,
    maybe_sent: o.maybeSent,
    provider_ref: o.providerRef ?? null,
    last_error: o.lastError?.slice(0, 255) ?? null,
  }));
  await settleMany(
    db,
    {
      post: transfersOf((o) => o.status === 'paid'),
      // Only a held item has a transfer to void (maybeSent is set with the hold).
      void: transfersOf((o) => o.status === 'rejected' || (o.status === 'cancelled' && o.maybeSent)),
    },
    (trx) => upsertItems(trx, batchPayId, rows),
  );
}

/** Cancels the items never held (nothing to void, nothing sent). Held items may have reached the provider: they are left for it to say. */
export async function cancelUnsent(db: Db, batchPayId: string): Promise<number> {
  const open: ItemRow[] = await db('batch_payout_items').where({ batch_pay_id: batchPayId }).whereIn('status', ['pending', 'held', 'retry']).andWhere({ maybe_sent: false });
  for (let i = 0; i < open.length; i += 1000) {
    const slice = open.slice(i, i + 1000);
    await recordOutcomes(
      db,
      batchPayId,
      slice.map((item) => ({
        uid: Number(item.uid),
        seq: item.seq,
        status: 'cancelled' as const,
        attempts: item.attempts,
        maybeSent: false,
        holdRound: item.hold_round,
        lastError: 'batch cancelled',
      })),
    );
  }
  return open.length;
}

/**
 * Gives back the holds of items the provider certainly never executed (it refused the batch before they got through): each
 * hold is voided and the item is pending again, to be held anew, under the next round's transfer id, if the batch is resumed.
 */
export async function releaseHolds(db: Db, batchPayId: string, items: { uid: number; seq: number; attempts: number; holdRound: number }[], reason: string): Promise<void> {
  if (items.length === 0) return;
  await settleMany(db, { void: items.map((i) => payoutTransferId(batchPayId, i.uid, i.holdRound)) }, (trx) =>
    upsertItems(
      trx,
      batchPayId,
      items.map((i) => ({ uid: i.uid, seq: i.seq, status: 'pending', amount: null, attempts: i.attempts, maybe_sent: false, hold_round: i.holdRound + 1, last_error: reason.slice(0, 255) })),
    ),
  );
}

/** Updates many existing items in one statement per thousand (each row names its uid and seq, the item's two keys). */
async function upsertItems(trx: Knex.Transaction, batchPayId: string, rows: ({ uid: number | string; seq: number } & Record<string, unknown>)[]): Promise<void> {
  if (rows.length === 0) return;
  const columns = [...Object.keys(rows[0]).filter((k) => k !== 'uid' && k !== 'seq'), 'updated_at'];
  for (let i = 0; i < rows.length; i += 1000) {
    await trx('batch_payout_items')
      .insert(rows.slice(i, i + 1000).map((r) => ({ batch_pay_id: batchPayId, ...r, updated_at: trx.fn.now(3) })))
      .onConflict(['batch_pay_id', 'uid'])
      .merge(columns);
  }
}
