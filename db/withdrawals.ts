// Withdrawals and merchant payments (M2Pool withdraw / pay): the read model their workflows write and the API reads. The
// transactions each one signed are in chain_txs under its id (db/chain-sends.ts).
import type { Knex } from 'knex';
import type { ChainPayoutFailure, ChainPayoutKind, ChainPayoutRequest } from '../domain/withdrawal';
import { money } from '../domain/money';
import { isoTime, sqlTime, type Db } from './knex';

/** held: the balance is held and the payout goes on; refused, confirmed, failed: final. */
export type WithdrawalRowStatus = 'refused' | 'held' | 'confirmed' | 'failed';

export interface WithdrawalRecord {
  id: string;
  kind: ChainPayoutKind;
  queueId: string;
  orderId: string | null;
  uid: number;
  fromAddress: string | null;
  toAddress: string;
  network: string;
  chainId: number;
  chainName: string;
  token: string;
  amount: string;
  currency: string;
  requestDigest: string;
  status: WithdrawalRowStatus;
  failure: ChainPayoutFailure | null;
  txHash: string | null;
  blockNumber: number | null;
  createdAt: string;
  updatedAt: string;
}

interface WithdrawalRow {
  id: string;
  kind: ChainPayoutKind;
  queue_id: string;
  order_id: string | null;
  uid: string;
  from_address: string | null;
  to_address: string;
  network_id: string;
  chain_id: string;
  chain_name: string;
  token_symbol: string;
  amount: string;
  currency: string;
  request_digest: string;
  status: WithdrawalRowStatus;
  failure_code: string | null;
  failure_message: string | null;
  tx_hash: string | null;
  block_number: string | null;
  created_at: string;
  updated_at: string;
}


const toRecord = (row: WithdrawalRow): WithdrawalRecord => ({
  id: row.id,
  kind: row.kind,
  queueId: row.queue_id,
  orderId: row.order_id,
  uid: Number(row.uid),
  fromAddress: row.from_address,
  toAddress: row.to_address,
  network: row.network_id,
  chainId: Number(row.chain_id),
  chainName: row.chain_name,
  token: row.token_symbol,
  amount: money(row.amount).toFixed(),
  currency: row.currency,
  requestDigest: row.request_digest,
  status: row.status,
  failure: row.failure_code === null ? null : { code: row.failure_code, message: row.failure_message ?? '' },
  txHash: row.tx_hash,
  blockNumber: row.block_number === null ? null : Number(row.block_number),
  createdAt: isoTime(row.created_at),
  updatedAt: isoTime(row.updated_at),
});

/** Records the request once its hold is placed (held) or refused; idempotent by id: a second call keeps the first row. */
export async function recordWithdrawal(db: Db, request: ChainPayoutRequest, outcome: { held: true } | { refused: ChainPayoutFailure }): Promise<void> {
  const refused = 'refused' in outcome ? outcome.refused : null;
  await db('withdrawals')
    .insert({
      id: request.id,
      kind: request.kind,
      queue_id: request.queueId,
      order_id: request.orderId,
      uid: request.uid,
      from_address: request.fromAddress,
      to_address: request.toAddress,
      network_id: request.network,
      chain_id: request.chainId,
      chain_name: request.chainName,
      token_symbol: request.token.symbol,
      amount: request.amount,
      currency: request.currency,
      request_digest: request.requestDigest,
      status: refused ? 'refused' : 'held',
      failure_code: refused?.code ?? null,
      failure_message: refused?.message.slice(0, 512) ?? null,
    })
    .onConflict('id')
    .ignore();
}

export async function getWithdrawal(db: Db, id: string): Promise<WithdrawalRecord | undefined> {
  const row = await db<WithdrawalRow>('withdrawals').where({ id }).first();
  return row && toRecord(row);
}

/** Ends a held payout (confirmed, or failed and why); false when it was not held any more (a repeat changes nothing). */
export async function finishWithdrawal(
  db: Db | Knex.Transaction,
  id: string,
  outcome: { status: 'confirmed' | 'failed'; failure: ChainPayoutFailure | null; txHash: string | null; blockNumber: number | null },
): Promise<boolean> {
  const changed = await db('withdrawals')
    .where({ id, status: 'held' })
    .update({
      status: outcome.status,
      failure_code: outcome.failure?.code ?? null,
      failure_message: outcome.failure?.message.slice(0, 512) ?? null,
      tx_hash: outcome.txHash,
      block_number: outcome.blockNumber,
      updated_at: db.fn.now(3),
    });
  return changed === 1;
}

/** Payouts (withdrawals and merchant payments) waiting for the chain now, and those that ended since `since`. */
export async function payoutCounts(db: Db, since: Date): Promise<{ pending: number; confirmedSince: number; failedSince: number }> {
  const [[pending], ended] = await Promise.all([
    db('withdrawals').where({ status: 'held' }).count({ n: '*' }),
    db('withdrawals')
      .whereIn('status', ['confirmed', 'failed'])
      .andWhere('updated_at', '>=', sqlTime(since.toISOString()))
      .groupBy('status')
      .select('status', db.raw('COUNT(*) AS n')),
  ]);
  const endedAs = (status: string) => Number((ended as { status: string; n: string }[]).find((r) => r.status === status)?.n ?? 0);
  return { pending: Number(pending.n), confirmedSince: endedAs('confirmed'), failedSince: endedAs('failed') };
}
