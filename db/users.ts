// Users (seed 001's uids) and the ledger account each gets in the default currency.
import { userAccount } from '../domain/ledger';
import type { Db } from './knex';

export interface User {
  uid: number;
  name: string | null;
  createdAt: string;
}

interface UserRow {
  uid: string;
  name: string | null;
  created_at: string;
}

const toUser = (row: UserRow): User => ({ uid: Number(row.uid), name: row.name, createdAt: `${row.created_at.replace(' ', 'T')}Z` });

/** Registers a user and opens the account in `currency`. Idempotent by uid: a second call returns the stored user. */
export async function createUser(db: Db, input: { uid: number; name?: string }, currency: string): Promise<{ user: User; created: boolean }> {
  const [result] = await db.raw('INSERT IGNORE INTO users (uid, name) VALUES (?, ?)', [input.uid, input.name ?? null]);
  await db('accounts')
    .insert({ code: userAccount(input.uid), currency, uid: input.uid, may_go_negative: false })
    .onConflict(['code', 'currency'])
    .ignore();
  const row: UserRow | undefined = await db('users').where({ uid: input.uid }).first();
  return { user: toUser(row!), created: result.affectedRows === 1 };
}

export async function findUsers(db: Db, uids: number[]): Promise<Map<number, User>> {
  if (uids.length === 0) return new Map();
  const rows = await db<UserRow>('users').whereIn('uid', uids);
  return new Map(rows.map((r) => [Number(r.uid), toUser(r)]));
}
