// The ledger's data access: accounts and the journal of transfers, each change one DB transaction with row locks.
//
// Invariants (checked by checkInvariants, `npm run ledger:check` and the tests):
// 1. Per currency, the balances of all accounts sum to zero.
// 2. Every account's balance equals its posted credits minus its posted debits; its held equals its pending debits.
// 3. An account that may not go negative never has available (balance − held) below zero.
import type { Knex } from 'knex';
import { DomainError, type ErrorCode } from '../domain/errors';
import { mayGoNegative, isSystemAccount } from '../domain/ledger';
import type { AccountBalance, AccountCode, InvariantReport, TransferRecord, TransferRequest } from '../domain/ledger';
import { money, parseAmount, sumAmounts, type Money } from '../domain/money';
import { isoTime, retryOnLockConflict, type Db } from './knex';

interface AccountRow {
  id: string;
  code: string;
  currency: string;
  balance: string;
  held: string;
  may_go_negative: number;
}

interface TransferRow {
  id: string;
  debit_account_id: string;
  credit_account_id: string;
  amount: string;
  currency: string;
  kind: string;
  reference: string;
  state: TransferRecord['state'];
  created_at: string;
  updated_at: string;
  debit_code: string;
  credit_code: string;
}

const USER_ACCOUNT = /^user:(\d+)$/;

/** MySQL gives "2026-11-20 10:00:00.123" in UTC (the pool sets time_zone to +00:00). */

// Amounts are bound as text and CAST to DECIMAL: MariaDB evaluates `balance + '1.23'` in DOUBLE, which
// rounds amounts past 15 significant digits.

/** The row a transaction meant to insert was inserted by another one since it looked: run again, it finds that row. */
class InsertedMeanwhile extends Error {}

/** A ledger transaction that lost a deadlock or a lock wait, or found its row inserted meanwhile, is run again. */
const withLockRetry = <T>(work: () => Promise<T>): Promise<T> => retryOnLockConflict(work, { attempts: 8, alsoRetry: (err) => err instanceof InsertedMeanwhile });

/** Locks the accounts in id order, so that two transfers between the same accounts never deadlock. */
async function lockAccounts(trx: Knex.Transaction, ids: string[]): Promise<Map<string, AccountRow>> {
  const rows = await trx<AccountRow>('accounts').whereIn('id', ids).orderBy('id').forUpdate();
  return new Map(rows.map((r) => [String(r.id), r]));
}

/** Transfers with the codes of their accounts, in one query. */
const transferRows = (db: Db | Knex.Transaction) =>
  db<TransferRow>('transfers as t')
    .join('accounts as d', 'd.id', 't.debit_account_id')
    .join('accounts as c', 'c.id', 't.credit_account_id')
    .select('t.*', 'd.code as debit_code', 'c.code as credit_code');

const toRecord = (row: TransferRow): TransferRecord => ({
  id: row.id,
  debitAccount: row.debit_code,
  creditAccount: row.credit_code,
  amount: money(row.amount).toFixed(),
  currency: row.currency,
  kind: row.kind as TransferRecord['kind'],
  reference: row.reference,
  state: row.state,
  createdAt: isoTime(row.created_at),
  updatedAt: isoTime(row.updated_at),
});

/** Names the first field in which a stored transfer differs from a repeated request, if any. */
function differingField(stored: TransferRecord, req: TransferRequest): string | undefined {
  if (stored.debitAccount !== req.debitAccount) return 'debitAccount';
  if (stored.creditAccount !== req.creditAccount) return 'creditAccount';
  if (!money(stored.amount).equals(money(req.amount))) return 'amount';
  if (stored.currency !== req.currency) return 'currency';
  if (stored.kind !== req.kind) return 'kind';
  if (stored.reference !== req.reference) return 'reference';
  return undefined;
}

/**
 * Records a transfer: posted at once, or pending (the amount held on the debit account) when
 * `req.pending`. Idempotent by `req.id`: the same id with the same fields returns the stored transfer
 * in whatever state it is now; the same id with other fields is `exists_with_different_fields`.
 */
export async function createTransfer(db: Db, req: TransferRequest): Promise<TransferRecord> {
  const amount = parseAmount(req.amount, req.currency).toFixed();
  if (req.debitAccount === req.creditAccount) throw new DomainError('same_account', 'debit and credit accounts must differ');
  const { ids, unknown } = await resolveManyAccountIds(db, [req.debitAccount, req.creditAccount], req.currency);
  for (const code of unknown) {
    const uid = Number(USER_ACCOUNT.exec(code)![1]);
    throw new DomainError('unknown_user', `user ${uid} does not exist`, { uid });
  }
  const debitId = ids.get(req.debitAccount)!;
  const creditId = ids.get(req.creditAccount)!;

  return withLockRetry(() =>
    db.transaction(async (trx) => {
      // A hold changes only the debit side: the credit account (often a hot one, like a chain's, held by every withdrawal)
      // is locked for update when the hold is posted, not while it is taken. The insert below still takes a shared lock
      // on it (its foreign key); when its id is the lower, that lock is taken first, so that every ledger transaction
      // locks accounts in id order (a hold from a user to an older account deadlocked with transfers the other way).
      if (req.pending && BigInt(creditId) < BigInt(debitId)) await trx('accounts').where({ id: creditId }).forShare().first('id');
      const accounts = await lockAccounts(trx, req.pending ? [debitId] : [debitId, creditId]);
      // A plain read (a locking one would lock the gap where the id goes, and concurrent transfers inserting into one gap
      // deadlock): a transfer of the same id inserted meanwhile makes the insert below fail, and the retry find it.
      const existing = await transferRows(trx).where('t.id', req.id).first();
      if (existing) {
        const stored = toRecord(existing);
        const field = differingField(stored, req);
        if (field) {
          throw new DomainError('exists_with_different_fields', `transfer ${req.id} exists with a different ${field}`, { transferId: req.id, field });
        }
        return stored;
      }

      const debit = accounts.get(debitId)!;
      const available = money(debit.balance).minus(debit.held);
      if (!debit.may_go_negative && available.lt(amount)) {
        throw new DomainError('insufficient_funds', `account ${req.debitAccount} has ${available.toFixed()} ${req.currency} available, ${amount} needed`, {
          account: req.debitAccount,
          available: available.toFixed(),
          amount,
        });
      }

      await trx('transfers')
        .insert({
          id: req.id,
          debit_account_id: debitId,
          credit_account_id: creditId,
          amount,
          currency: req.currency,
          kind: req.kind,
          reference: req.reference,
          state: req.pending ? 'pending' : 'posted',
        })
        .catch((err) => {
          throw (err as { code?: string }).code === 'ER_DUP_ENTRY' ? new InsertedMeanwhile(`transfer ${req.id} was inserted meanwhile`) : err;
        });
      if (req.pending) {
        await trx('accounts').where({ id: debitId }).update({ held: trx.raw('held + CAST(? AS DECIMAL(38,18))', [amount]), updated_at: trx.fn.now(3) });
      } else {
        await trx('accounts').where({ id: debitId }).update({ balance: trx.raw('balance - CAST(? AS DECIMAL(38,18))', [amount]), updated_at: trx.fn.now(3) });
        await trx('accounts').where({ id: creditId }).update({ balance: trx.raw('balance + CAST(? AS DECIMAL(38,18))', [amount]), updated_at: trx.fn.now(3) });
      }
      return toRecord((await transferRows(trx).where('t.id', req.id).first())!);
    }),
  );
}

/** Settles one pending transfer (see settleMany) and returns it as it now is. Idempotent. */
async function settleOne(db: Db, id: string, to: 'posted' | 'voided'): Promise<TransferRecord> {
  await settleMany(db, to === 'posted' ? { post: [id] } : { void: [id] });
  return (await getTransfer(db, id))!;
}

export const postTransfer = (db: Db, id: string) => settleOne(db, id, 'posted');
export const voidTransfer = (db: Db, id: string) => settleOne(db, id, 'voided');

export async function getTransfer(db: Db, id: string): Promise<TransferRecord | undefined> {
  const row = await transferRows(db).where('t.id', id).first();
  return row ? toRecord(row) : undefined;
}

export async function countTransfers(db: Db): Promise<number> {
  const [{ n }] = await db('transfers').count({ n: '*' });
  return Number(n);
}

/** Balances of the given accounts in a currency; an account that does not exist yet has zeros. */
export async function getBalances(db: Db, codes: AccountCode[], currency: string): Promise<AccountBalance[]> {
  const rows = codes.length ? await db<AccountRow>('accounts').whereIn('code', codes).andWhere({ currency }) : [];
  const byCode = new Map(rows.map((r) => [r.code, r]));
  return codes.map((code) => {
    const row = byCode.get(code);
    const balance = money(row?.balance ?? '0');
    const held = money(row?.held ?? '0');
    return { account: code, currency, balance: balance.toFixed(), held: held.toFixed(), available: balance.minus(held).toFixed() };
  });
}

interface AccountTotals extends AccountRow {
  credits: string;
  debits: string;
  pending: string;
}

function accountTotals(db: Db): Knex.QueryBuilder {
  const sum = (side: 'credit' | 'debit', state: 'posted' | 'pending') =>
    db.raw(`COALESCE((SELECT SUM(t.amount) FROM transfers t WHERE t.${side}_account_id = a.id AND t.state = ?), 0)`, [state]);
  return db('accounts as a').select(
    'a.id',
    'a.code',
    'a.currency',
    'a.balance',
    'a.held',
    'a.may_go_negative',
    sum('credit', 'posted').wrap('(', ') as credits'),
    sum('debit', 'posted').wrap('(', ') as debits'),
    sum('debit', 'pending').wrap('(', ') as pending'),
  );
}

function accountViolations(a: AccountTotals): string[] {
  const problems: string[] = [];
  const journal = money(a.credits).minus(a.debits);
  if (!journal.equals(a.balance)) problems.push(`${a.code} ${a.currency}: balance ${money(a.balance).toFixed()} ≠ journal ${journal.toFixed()}`);
  if (!money(a.pending).equals(a.held)) problems.push(`${a.code} ${a.currency}: held ${money(a.held).toFixed()} ≠ pending debits ${money(a.pending).toFixed()}`);
  if (!a.may_go_negative && money(a.balance).minus(a.held).lt(0)) problems.push(`${a.code} ${a.currency}: available is negative`);
  return problems;
}

/** Compares one account's stored balance with the sum of its journal entries. */
export async function accountConsistency(db: Db, code: AccountCode, currency: string) {
  const row: AccountTotals | undefined = await accountTotals(db).where({ 'a.code': code, 'a.currency': currency }).first();
  if (!row) return { balance: '0', journalBalance: '0', consistent: true };
  const journalBalance = money(row.credits).minus(row.debits);
  return { balance: money(row.balance).toFixed(), journalBalance: journalBalance.toFixed(), consistent: accountViolations(row).length === 0 };
}

/** Checks the ledger's invariants over every account and transfer. */
export async function checkInvariants(db: Db): Promise<InvariantReport> {
  const accounts: AccountTotals[] = await accountTotals(db);
  const transferCounts: { currency: string; n: number }[] = await db('transfers').select('currency').count({ n: '*' }).groupBy('currency');
  const violations = accounts.flatMap(accountViolations);
  const currencies = [...new Set(accounts.map((a) => a.currency))].sort().map((currency) => {
    const mine = accounts.filter((a) => a.currency === currency);
    const sum = sumAmounts(mine.map((a) => a.balance));
    if (!sum.isZero()) violations.push(`${currency}: balances sum to ${sum.toFixed()}, not zero`);
    const transfers = Number(transferCounts.find((t) => t.currency === currency)?.n ?? 0);
    return { currency, accounts: mine.length, transfers, sum: sum.toFixed() };
  });
  return { ok: violations.length === 0, currencies, violations };
}

// ——— Bulk operations, for batches: many transfers in one DB transaction, each still idempotent by its id. ———

export interface HoldRequest {
  id: string;
  debitAccount: AccountCode;
  creditAccount: AccountCode;
  /** A decimal string, or 'available' to hold the debit account's whole available balance. */
  amount: string | 'available';
  currency: string;
  kind: TransferRecord['kind'];
  reference: string;
}

export type HoldResult = { id: string; ok: true; amount: string; state: TransferRecord['state'] } | { id: string; ok: false; code: ErrorCode; message: string };

/** Applies balance deltas to many accounts in one statement (the rows are locked by the caller). */
async function applyDeltas(trx: Knex.Transaction, accounts: Map<string, AccountRow>, deltas: Map<string, { balance: Money; held: Money }>): Promise<void> {
  const rows = [...deltas].filter(([, d]) => !d.balance.isZero() || !d.held.isZero());
  if (rows.length === 0) return;
  const values = rows.map(() => '(?, ?, ?, CAST(? AS DECIMAL(38,18)), CAST(? AS DECIMAL(38,18)))').join(', ');
  const bindings = rows.flatMap(([id, d]) => [id, accounts.get(id)!.code, accounts.get(id)!.currency, d.balance.toFixed(), d.held.toFixed()]);
  await trx.raw(
    `INSERT INTO accounts (id, code, currency, balance, held) VALUES ${values}
     ON DUPLICATE KEY UPDATE balance = balance + VALUES(balance), held = held + VALUES(held), updated_at = NOW(3)`,
    bindings,
  );
}

const delta = (deltas: Map<string, { balance: Money; held: Money }>, id: string) => {
  let d = deltas.get(id);
  if (!d) deltas.set(id, (d = { balance: money(0), held: money(0) }));
  return d;
};

/**
 * Holds many amounts in one transaction: each request becomes a pending transfer, or fails on its own
 * (unknown user, insufficient funds, nothing to pay) without stopping the others. Idempotent by id: a
 * request whose transfer exists returns it as it is.
 */
export async function holdMany(db: Db, requests: HoldRequest[], within?: (trx: Knex.Transaction, results: HoldResult[]) => Promise<void>): Promise<HoldResult[]> {
  if (requests.length === 0) return [];
  const currency = requests[0].currency;
  if (requests.some((r) => r.currency !== currency)) throw new Error('holdMany takes one currency at a time');
  const codes = [...new Set(requests.flatMap((r) => [r.debitAccount, r.creditAccount]))];
  const { ids, unknown } = await resolveManyAccountIds(db, codes, currency);

  return withLockRetry(() =>
    db.transaction(async (trx) => {
      const accounts = await lockAccounts(trx, [...new Set(ids.values())]);
      const existing = new Map(
        (await trx<TransferRow>('transfers').whereIn('id', requests.map((r) => r.id)).select('id', 'amount', 'state')).map((t) => [t.id, t]),
      );
      const available = new Map([...accounts].map(([id, a]) => [id, money(a.balance).minus(a.held)]));
      const deltas = new Map<string, { balance: Money; held: Money }>();
      const inserts: Record<string, unknown>[] = [];
      const results = requests.map((req): HoldResult => {
        const stored = existing.get(req.id);
        if (stored) return { id: req.id, ok: true, amount: money(stored.amount).toFixed(), state: stored.state };
        if (unknown.has(req.debitAccount)) return { id: req.id, ok: false, code: 'unknown_user', message: `${req.debitAccount} does not exist` };
        const debitId = ids.get(req.debitAccount)!;
        const creditId = ids.get(req.creditAccount)!;
        const free = available.get(debitId)!;
        const amount = req.amount === 'available' ? free : money(req.amount);
        if (amount.lte(0)) return { id: req.id, ok: false, code: 'nothing_to_pay', message: `${req.debitAccount} has nothing available to pay` };
        if (!accounts.get(debitId)!.may_go_negative && free.lt(amount)) {
          return { id: req.id, ok: false, code: 'insufficient_funds', message: `${req.debitAccount} has ${free.toFixed()} ${currency} available, ${amount.toFixed()} needed` };
        }
        available.set(debitId, free.minus(amount));
        delta(deltas, debitId).held = delta(deltas, debitId).held.plus(amount);
        inserts.push({ id: req.id, debit_account_id: debitId, credit_account_id: creditId, amount: amount.toFixed(), currency, kind: req.kind, reference: req.reference, state: 'pending' });
        return { id: req.id, ok: true, amount: amount.toFixed(), state: 'pending' };
      });
      for (let i = 0; i < inserts.length; i += 1000) await trx('transfers').insert(inserts.slice(i, i + 1000));
      await applyDeltas(trx, accounts, deltas);
      await within?.(trx, results);
      return results;
    }),
  );
}

/**
 * Posts some pending transfers (the held amount moves) and voids others (the hold is released), in one
 * transaction. Idempotent: a transfer already in its target state is left alone; one in the other final
 * state is an error, since that would contradict what was decided. `within` runs in the same transaction.
 */
export async function settleMany(
  db: Db,
  settle: { post?: string[]; void?: string[] },
  within?: (trx: Knex.Transaction) => Promise<void>,
): Promise<void> {
  const target = new Map<string, 'posted' | 'voided'>([...(settle.post ?? []).map((id) => [id, 'posted'] as const), ...(settle.void ?? []).map((id) => [id, 'voided'] as const)]);
  if (target.size === 0 && !within) return;
  // Sorted: transfers locked a thousand at a time are locked in one order whoever settles them.
  const ids = [...target.keys()].sort();
  await withLockRetry(() =>
    db.transaction(async (trx) => {
      const rows: TransferRow[] = [];
      for (let i = 0; i < ids.length; i += 1000) rows.push(...(await trx<TransferRow>('transfers').whereIn('id', ids.slice(i, i + 1000)).forUpdate()));
      if (rows.length !== ids.length) {
        const found = new Set(rows.map((r) => r.id));
        const missing = ids.find((id) => !found.has(id));
        throw new DomainError('pending_transfer_not_found', `no pending transfer ${missing}`, { transferId: missing });
      }
      const contradicting = rows.find((r) => r.state !== 'pending' && r.state !== target.get(r.id));
      if (contradicting) {
        const code = contradicting.state === 'posted' ? 'pending_transfer_already_posted' : 'pending_transfer_already_voided';
        throw new DomainError(code, `transfer ${contradicting.id} is already ${contradicting.state}`, { transferId: contradicting.id });
      }
      const pending = rows.filter((r) => r.state === 'pending');
      if (pending.length) {
        const accounts = await lockAccounts(trx, [...new Set(pending.flatMap((r) => [String(r.debit_account_id), String(r.credit_account_id)]))]);
        const deltas = new Map<string, { balance: Money; held: Money }>();
        for (const r of pending) {
          const debit = delta(deltas, String(r.debit_account_id));
          debit.held = debit.held.minus(r.amount);
          if (target.get(r.id) === 'posted') {
            debit.balance = debit.balance.minus(r.amount);
            const credit = delta(deltas, String(r.credit_account_id));
            credit.balance = credit.balance.plus(r.amount);
          }
        }
        await applyDeltas(trx, accounts, deltas);
        for (const state of ['posted', 'voided'] as const) {
          const these = pending.filter((r) => target.get(r.id) === state).map((r) => r.id);
          for (let i = 0; i < these.length; i += 1000) {
            await trx('transfers').whereIn('id', these.slice(i, i + 1000)).update({ state, updated_at: trx.fn.now(3) });
          }
        }
      }
      await within?.(trx);
    }),
  );
}

/**
 * Account ids for codes in one currency, opening those that may exist: system accounts on first use, a
 * registered user's account in a new currency. Unknown users are reported; any other unknown code is an error.
 */
async function resolveManyAccountIds(db: Db, codes: AccountCode[], currency: string): Promise<{ ids: Map<AccountCode, string>; unknown: Set<AccountCode> }> {
  const select = async () => {
    const rows: { id: string; code: string }[] = [];
    for (let i = 0; i < codes.length; i += 1000) rows.push(...(await db('accounts').whereIn('code', codes.slice(i, i + 1000)).andWhere({ currency }).select('id', 'code')));
    return new Map(rows.map((a) => [a.code, String(a.id)]));
  };
  let ids = await select();
  const missing = codes.filter((c) => !ids.has(c));
  const unknown = new Set<AccountCode>();
  if (missing.length) {
    const uids = missing.map((c) => USER_ACCOUNT.exec(c)?.[1]).filter((u): u is string => u !== undefined);
    const users = new Set((uids.length ? await db('users').whereIn('uid', uids).select('uid') : []).map((u: { uid: string }) => String(u.uid)));
    const toCreate: Record<string, unknown>[] = [];
    for (const code of missing) {
      const uid = USER_ACCOUNT.exec(code)?.[1];
      if (uid !== undefined) {
        if (users.has(uid)) toCreate.push({ code, currency, uid, may_go_negative: false });
        else unknown.add(code);
      } else if (isSystemAccount(code)) {
        toCreate.push({ code, currency, may_go_negative: mayGoNegative(code) });
      } else {
        throw new DomainError('account_not_found', `account ${code} does not exist`, { account: code });
      }
    }
    for (let i = 0; i < toCreate.length; i += 1000) await db('accounts').insert(toCreate.slice(i, i + 1000)).onConflict(['code', 'currency']).ignore();
    ids = await select();
  }
  return { ids, unknown };
}
