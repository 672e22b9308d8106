// Ledger fixtures for tests: fresh users with distinct uids, funded through the ledger itself.
import { randomInt } from 'node:crypto';
import type { Db } from '../../db/knex';
import { createTransfer } from '../../db/ledger';
import { createUser } from '../../db/users';
import { userAccount } from '../../domain/ledger';

/** A uid no other test uses, so suites never see each other's balances. */
export const freshUid = (): number => randomInt(10_000_000, 2 ** 47);

export async function givenUser(db: Db, opts: { balance?: string; currency?: string } = {}): Promise<number> {
  const uid = freshUid();
  const currency = opts.currency ?? 'CNY';
  await createUser(db, { uid, name: `test-${uid}` }, currency);
  if (opts.balance && opts.balance !== '0') {
    await createTransfer(db, {
      id: `fund-${uid}-${currency}`,
      debitAccount: 'external:bank',
      creditAccount: userAccount(uid),
      amount: opts.balance,
      currency,
      kind: 'credit',
      reference: 'test-fixture',
    });
  }
  return uid;
}
