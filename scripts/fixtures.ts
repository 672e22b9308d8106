// Bulk test data for benchmarks and chaos runs: many users, funded through the ledger itself (holds posted from external:bank).
import type { Db } from '../db/knex';
import { holdMany, settleMany } from '../db/ledger';
import { userAccount } from '../domain/ledger';

export async function givenFundedUsers(db: Db, uids: number[], balance: string, currency = 'CNY'): Promise<void> {
  for (let i = 0; i < uids.length; i += 1000) {
    const slice = uids.slice(i, i + 1000);
    await db('users').insert(slice.map((uid) => ({ uid, name: `bench-${uid}` }))).onConflict('uid').ignore();
    await db('accounts').insert(slice.map((uid) => ({ code: userAccount(uid), currency, uid, may_go_negative: false }))).onConflict(['code', 'currency']).ignore();
    if (Number(balance) === 0) continue;
    const funding = slice.map((uid) => ({
      id: `fixture-fund-${uid}-${currency}`,
      debitAccount: 'external:bank',
      creditAccount: userAccount(uid),
      amount: balance,
      currency,
      kind: 'credit' as const,
      reference: 'fixture',
    }));
    await holdMany(db, funding);
    await settleMany(db, funding.map((f) => f.id), 'posted');
  }
}
