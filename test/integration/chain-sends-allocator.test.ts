// The nonce allocator of a sending address (withSender) against real MariaDB: sends that queue in one process are signed in
// one DB transaction (group commit), each in a savepoint of its own. Nonces stay consecutive and distinct, a send that
// fails is rolled back alone and leaves no gap, and no caller hears of its send before it is committed.
import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig } from '../../config';
import { createDb, type Db } from '../../db/knex';
import { attemptOf, chainTxsOf, forgetChainSends, withSender, type NewChainTx } from '../../db/chain-sends';

let db: Db;
let other: Db;
beforeAll(() => {
  db = createDb(loadConfig().db.url, 5);
  other = createDb(loadConfig().db.url, 2);
});
afterAll(async () => {
  await db.destroy();
  await other.destroy();
});

/** A chain id of its own per test: the allocator rows and transactions of one test are nobody else's. */
const freshChainId = () => 900_000 + Math.floor(Math.random() * 1_000_000);
const freshAddress = () => `0x${randomBytes(20).toString('hex')}`;

function chainTx(chainId: number, from: string, nonce: number, reference: string): NewChainTx {
  return {
    chainId,
    hash: `0x${randomBytes(32).toString('hex')}`,
    from,
    nonce,
    attempt: 0,
    replaces: null,
    purpose: 'withdrawal',
    reference,
    to: freshAddress(),
    token: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
    recipient: freshAddress(),
    tokenUnits: '1000000',
    valueWei: '0',
    gasLimit: '60000',
    maxFeePerGas: '2000000000',
    maxPriorityFeePerGas: '1000000000',
    gasPrice: null,
    raw: `0x${randomBytes(100).toString('hex')}`,
  };
}

/**
 * A send as signTokenTransfer makes one: the next nonce with what is in flight counted, or, when the reference has its
 * send already (its insert fails as a duplicate), that one.
 */
function send(chainId: number, from: string, reference: string, options: { failAfterRecord?: boolean } = {}) {
  return withSender(db, chainId, from, async (sender) => {
    const reserved = await sender.reserved('0x5fbdb2315678afecb367f032d93f642f64180aa3');
    const tx = await sender.record(chainTx(chainId, from, sender.nextNonce(0), reference));
    if (options.failAfterRecord) throw new Error(`the signer of ${reference} failed`);
    // Still uncommitted here: another connection does not see it yet.
    const seen = await other('chain_txs').where({ chain_id: chainId, hash: tx.hash }).first('nonce');
    return { nonce: tx.nonce, hash: tx.hash, reserved: reserved.tokenUnits, seenBeforeCommit: seen !== undefined };
  }).then(async (result) => {
    // Heard once committed: another connection sees it as the caller hears of it.
    const seen = await other('chain_txs').where({ chain_id: chainId, hash: result.hash }).first('nonce');
    return { ...result, seenWhenHeard: seen !== undefined, duplicate: false };
  }).catch(async (err) => {
    if ((err as { code?: string }).code !== 'ER_DUP_ENTRY') throw err;
    const first = await attemptOf(db, reference, 0);
    if (!first) throw err;
    return { nonce: first.nonce, duplicate: true };
  });
}

const nextNonce = async (chainId: number, address: string) => Number((await db('chain_nonces').where({ chain_id: chainId, address }).first('next_nonce')).next_nonce);

it('gives sends queued together consecutive nonces, each committed before its caller hears of it', async () => {
  const chainId = freshChainId();
  const from = freshAddress();
  const refs = Array.from({ length: 120 }, () => `ref-${randomUUID()}`);

  const results = await Promise.all(refs.map((ref) => send(chainId, from, ref)));

  expect(results.map((r) => r.nonce).sort((a, b) => a - b)).toEqual(refs.map((_, i) => i));
  // Each send counted the ones before it as in flight: one token amount per earlier nonce.
  for (const r of results) expect(r).toMatchObject({ reserved: BigInt(r.nonce) * 1_000_000n, seenBeforeCommit: false, seenWhenHeard: true });
  const rows = await db('chain_txs').where({ chain_id: chainId }).select('nonce');
  expect(rows).toHaveLength(120);
  expect(await nextNonce(chainId, from)).toBe(120);
});

it('rolls back a send that fails alone: the others keep their nonces and no nonce is skipped', async () => {
  const chainId = freshChainId();
  const from = freshAddress();
  const refs = Array.from({ length: 30 }, () => `ref-${randomUUID()}`);

  const settled = await Promise.allSettled(refs.map((ref, i) => send(chainId, from, ref, { failAfterRecord: i % 7 === 3 })));

  const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
  expect(failed).toEqual([3, 10, 17, 24]);
  for (const i of failed) {
    expect((settled[i] as PromiseRejectedResult).reason.message).toBe(`the signer of ${refs[i]} failed`);
    expect(await chainTxsOf(db, refs[i])).toEqual([]);
  }
  const nonces = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value.nonce] : []));
  expect(nonces.sort((a, b) => a - b)).toEqual(Array.from({ length: 26 }, (_, i) => i));
  expect(await nextNonce(chainId, from)).toBe(26);
});

it('returns the first send of a reference to a second call, in the same group or a later one', async () => {
  const chainId = freshChainId();
  const from = freshAddress();
  const ref = `ref-${randomUUID()}`;

  // Given a send alone in the first group, so that the next ones queue behind it and go together in the second
  const before = send(chainId, from, `ref-${randomUUID()}`);
  // When the same reference is sent twice in that group, with another send after them, and once more later
  const [a, b, after] = await Promise.all([send(chainId, from, ref), send(chainId, from, ref), send(chainId, from, `ref-${randomUUID()}`)]);
  const c = await send(chainId, from, ref);

  // Then the repeats get the first one's send: the duplicate was rolled back alone, and took no nonce
  expect((await before).nonce).toBe(0);
  expect([a, b, c].map((r) => [r.nonce, r.duplicate])).toEqual([
    [1, false],
    [1, true],
    [1, true],
  ]);
  expect(after.nonce).toBe(2);
  expect(await chainTxsOf(db, ref)).toHaveLength(1);
  expect(await nextNonce(chainId, from)).toBe(3);
});

it('makes the allocator row once per process and sender, and again after forgetChainSends', async () => {
  const chainId = freshChainId();
  const from = freshAddress();
  const inserts: string[] = [];
  const listen = ({ sql }: { sql: string }) => {
    if (/insert ignore into chain_nonces/i.test(sql)) inserts.push(sql);
  };
  db.on('query', listen);
  try {
    // Given two sends from one address: one insert of its allocator row
    await send(chainId, from, `ref-${randomUUID()}`);
    await send(chainId, from, `ref-${randomUUID()}`);
    expect(inserts).toHaveLength(1);

    // When the chain's sends are forgotten, then the next send makes the row again and starts from nonce 0
    await forgetChainSends(db, chainId);
    expect((await send(chainId, from, `ref-${randomUUID()}`)).nonce).toBe(0);
    expect(inserts).toHaveLength(2);
    expect(await nextNonce(chainId, from)).toBe(1);
  } finally {
    db.removeListener('query', listen);
  }
});

it('makes the allocator row again when another process deleted it after this one made it', async () => {
  const chainId = freshChainId();
  const from = freshAddress();
  await send(chainId, from, `ref-${randomUUID()}`);

  // Given the address's sends and allocator row deleted through another connection (forgetChainSends elsewhere)
  await other('chain_txs').where({ chain_id: chainId }).delete();
  await other('chain_nonces').where({ chain_id: chainId }).delete();

  // When it sends again, then the row is made again and the send goes through
  expect((await send(chainId, from, `ref-${randomUUID()}`)).nonce).toBe(0);
  expect(await nextNonce(chainId, from)).toBe(1);
});
