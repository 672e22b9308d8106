// The ledger against real MariaDB: idempotency, two-phase transfers, no overdraft under concurrency, invariants.
import { loadConfig } from '../../config';
import { DomainError } from '../../domain/errors';
import { userAccount } from '../../domain/ledger';
import type { TransferRequest } from '../../domain/ledger';
import { createDb, type Db } from '../../db/knex';
import { checkInvariants, countTransfers, createTransfer, getBalances, getTransfer, postTransfer, voidTransfer } from '../../db/ledger';
import { freshUid, givenUser } from '../support/ledger';

let db: Db;
beforeAll(() => {
  db = createDb(loadConfig().db.url, 50);
});
afterAll(() => db.destroy());

const transfer = (id: string, from: number, to: number, amount: string, extra: Partial<TransferRequest> = {}): TransferRequest => ({
  id,
  debitAccount: userAccount(from),
  creditAccount: userAccount(to),
  amount,
  currency: 'CNY',
  kind: 'transfer',
  reference: id,
  ...extra,
});

async function available(uid: number): Promise<string> {
  const [b] = await getBalances(db, [userAccount(uid)], 'CNY');
  return b.available;
}

async function errorCode(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
  throw new Error('expected a domain error, but the call succeeded');
}

const id = (name: string) => `${name}-${freshUid()}`;

describe('ledger', () => {
  afterEach(async () => {
    const report = await checkInvariants(db);
    expect(report.violations).toEqual([]);
  });

  it('moves money between users in one posted transfer', async () => {
    const a = await givenUser(db, { balance: '100.00' });
    const b = await givenUser(db);
    const record = await createTransfer(db, transfer(id('t'), a, b, '30.25'));
    expect(record).toMatchObject({ state: 'posted', amount: '30.25', debitAccount: userAccount(a), creditAccount: userAccount(b) });
    expect(await available(a)).toBe('69.75');
    expect(await available(b)).toBe('30.25');
  });

  it('keeps every digit of amounts past what a double can hold', async () => {
    const a = await givenUser(db, { balance: '12345678901234567.89' });
    const b = await givenUser(db);
    await createTransfer(db, transfer(id('t'), a, b, '99999999999999.99'));
    expect(await available(a)).toBe('12245678901234567.9');
    expect(await available(b)).toBe('99999999999999.99');
  });

  it('returns the stored transfer when the same id is sent twice, and moves money once', async () => {
    const a = await givenUser(db, { balance: '100' });
    const b = await givenUser(db);
    const req = transfer(id('t'), a, b, '10');
    const first = await createTransfer(db, req);
    const before = await countTransfers(db);
    const second = await createTransfer(db, req);
    expect(second).toEqual(first);
    expect(await countTransfers(db)).toBe(before);
    expect(await available(a)).toBe('90');
  });

  it('refuses the same id with a different amount or account (exists_with_different_fields)', async () => {
    const a = await givenUser(db, { balance: '100' });
    const b = await givenUser(db);
    const c = await givenUser(db);
    const req = transfer(id('t'), a, b, '10');
    await createTransfer(db, req);
    expect(await errorCode(createTransfer(db, { ...req, amount: '11' }))).toBe('exists_with_different_fields');
    expect(await errorCode(createTransfer(db, { ...req, creditAccount: userAccount(c) }))).toBe('exists_with_different_fields');
    expect(await available(a)).toBe('90');
  });

  it('refuses an overdraft with insufficient_funds and writes nothing', async () => {
    const a = await givenUser(db, { balance: '5.00' });
    const b = await givenUser(db);
    const before = await countTransfers(db);
    expect(await errorCode(createTransfer(db, transfer(id('t'), a, b, '5.01')))).toBe('insufficient_funds');
    expect(await countTransfers(db)).toBe(before);
    expect(await available(a)).toBe('5');
    expect(await available(b)).toBe('0');
  });

  it('refuses unknown users, the same account on both sides and amounts finer than the currency', async () => {
    const a = await givenUser(db, { balance: '5' });
    const before = await countTransfers(db);
    expect(await errorCode(createTransfer(db, transfer(id('t'), a, freshUid(), '1')))).toBe('unknown_user');
    expect(await errorCode(createTransfer(db, transfer(id('t'), a, a, '1')))).toBe('same_account');
    expect(await errorCode(createTransfer(db, transfer(id('t'), a, a + 1, '0.001')))).toBe('too_many_decimals');
    expect(await errorCode(createTransfer(db, transfer(id('t'), a, a + 1, '0')))).toBe('invalid_amount');
    expect(await errorCode(createTransfer(db, { ...transfer(id('t'), a, a + 1, '1'), debitAccount: 'nobody:1' }))).toBe('account_not_found');
    expect(await countTransfers(db)).toBe(before);
  });

  it('holds a pending transfer, then posts it exactly once', async () => {
    const a = await givenUser(db, { balance: '100' });
    const b = await givenUser(db);
    const t = id('p');
    await createTransfer(db, transfer(t, a, b, '40', { pending: true }));
    expect(await available(a)).toBe('60');
    expect((await getBalances(db, [userAccount(a)], 'CNY'))[0]).toMatchObject({ balance: '100', held: '40' });
    expect(await errorCode(createTransfer(db, transfer(id('t'), a, b, '60.01')))).toBe('insufficient_funds');

    const posted = await postTransfer(db, t);
    expect(posted.state).toBe('posted');
    expect(await postTransfer(db, t)).toEqual(posted);
    expect((await getBalances(db, [userAccount(a)], 'CNY'))[0]).toMatchObject({ balance: '60', held: '0' });
    expect(await available(b)).toBe('40');
    expect(await errorCode(voidTransfer(db, t))).toBe('pending_transfer_already_posted');
  });

  it('voids a pending transfer, restoring the balance, and refuses to post it afterwards', async () => {
    const a = await givenUser(db, { balance: '100' });
    const b = await givenUser(db);
    const t = id('p');
    await createTransfer(db, transfer(t, a, b, '40', { pending: true }));
    const voided = await voidTransfer(db, t);
    expect(voided.state).toBe('voided');
    expect(await voidTransfer(db, t)).toEqual(voided);
    expect(await available(a)).toBe('100');
    expect(await available(b)).toBe('0');
    expect(await errorCode(postTransfer(db, t))).toBe('pending_transfer_already_voided');
    expect(await errorCode(postTransfer(db, id('missing')))).toBe('pending_transfer_not_found');
    // A repeated create of the voided transfer returns it as it is now, without holding again.
    expect((await createTransfer(db, transfer(t, a, b, '40', { pending: true }))).state).toBe('voided');
    expect(await available(a)).toBe('100');
  });

  it('lets exactly the covered half of 200 concurrent transfers through and never overdraws', async () => {
    const a = await givenUser(db, { balance: '100.00' });
    const targets = await Promise.all(Array.from({ length: 4 }, () => givenUser(db)));
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => createTransfer(db, transfer(id(`c${i}`), a, targets[i % 4], '1.00'))),
    );
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r) => r.status === 'rejected' && (r.reason as DomainError).code === 'insufficient_funds').length;
    expect({ ok, refused }).toEqual({ ok: 100, refused: 100 });
    expect(await available(a)).toBe('0');
  });

  it('moves money once when the same transfer is sent 20 times at once, posted or held', async () => {
    const a = await givenUser(db, { balance: '100' });
    const b = await givenUser(db);
    for (const pending of [false, true]) {
      const req = transfer(id('same'), a, b, '10', { pending });
      const before = await countTransfers(db);
      const records = await Promise.all(Array.from({ length: 20 }, () => createTransfer(db, req)));
      expect(new Set(records.map((r) => JSON.stringify(r))).size).toBe(1);
      expect(await countTransfers(db)).toBe(before + 1);
    }
    expect((await getBalances(db, [userAccount(a)], 'CNY'))[0]).toMatchObject({ balance: '90', held: '10' });
    expect(await available(b)).toBe('10');
  });

  it('keeps one of a hold id sent at once from two payers: the other hears exists_with_different_fields', async () => {
    const payers = [await givenUser(db, { balance: '100' }), await givenUser(db, { balance: '100' })];
    const b = await givenUser(db);
    const t = id('race');
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => createTransfer(db, transfer(t, payers[i % 2], b, '10', { pending: true }))));
    const kept = (await getTransfer(db, t))!;
    const winner = payers.findIndex((p) => userAccount(p) === kept.debitAccount);
    results.forEach((r, i) => {
      if (i % 2 === winner) expect(r).toMatchObject({ status: 'fulfilled', value: kept });
      else expect(r).toMatchObject({ status: 'rejected', reason: { code: 'exists_with_different_fields' } });
    });
    expect(await available(payers[winner])).toBe('90');
    expect(await available(payers[1 - winner])).toBe('100');
  });

  it('takes 100 holds from 100 users to one account at once, none refused and none lost', async () => {
    const payers = await Promise.all(Array.from({ length: 100 }, () => givenUser(db, { balance: '5' })));
    const hot = await givenUser(db);
    const holds = await Promise.all(payers.map((p) => createTransfer(db, transfer(id('h'), p, hot, '2.5', { pending: true }))));
    expect(holds.every((h) => h.state === 'pending')).toBe(true);
    for (const p of payers.slice(0, 3)) expect((await getBalances(db, [userAccount(p)], 'CNY'))[0]).toMatchObject({ balance: '5', held: '2.5' });
    await Promise.all(holds.map((h) => postTransfer(db, h.id)));
    expect(await available(hot)).toBe('250');
  });

  it('takes holds toward an account of lower id while transfers from it are posted, with no deadlock for the retries to hide', async () => {
    // The chain's or a category's account is older (lower id) than the users' that pay into it and are paid from it.
    const hot = await givenUser(db, { balance: '1000' });
    const user = await givenUser(db, { balance: '1000' });
    const deadlocks = async () => Number(((await db.raw("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")) as [{ Value: string }[]])[0][0].Value);
    const before = await deadlocks();
    for (let i = 0; i < 100; i++) {
      await Promise.all([
        createTransfer(db, transfer(id('hold'), user, hot, '1', { pending: true })),
        createTransfer(db, transfer(id('pay'), hot, user, '1')),
      ]);
    }
    expect(await deadlocks()).toBe(before);
    expect((await getBalances(db, [userAccount(user)], 'CNY'))[0]).toMatchObject({ balance: '1100', held: '100' });
  });

  it('reports a tampered balance as an invariant violation', async () => {
    const a = await givenUser(db, { balance: '10', currency: 'USD' });
    await db('accounts').where({ code: userAccount(a), currency: 'USD' }).update({ balance: db.raw('balance + 1') });
    try {
      const report = await checkInvariants(db);
      expect(report.ok).toBe(false);
      expect(report.violations.join('\n')).toContain(`user:${a} USD: balance 11 ≠ journal 10`);
      expect(report.violations.join('\n')).toContain('USD: balances sum to 1, not zero');
    } finally {
      await db('accounts').where({ code: userAccount(a), currency: 'USD' }).update({ balance: db.raw('balance - 1') });
    }
  });
});
