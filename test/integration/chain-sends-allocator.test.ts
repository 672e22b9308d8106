// The nonce allocator of a sending address (withSender) against real MariaDB: sends that queue in one process are signed in
// one DB transaction (group commit), each in a savepoint of its own. Nonces stay consecutive and distinct, a send that
// fails is rolled back alone and leaves no gap, and no caller hears of its send before it is committed.
import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig } from '../../config';
import { createDb, type Db } from '../../db/knex';
import { chainTxsOf, withSender, type NewChainTx } from '../../db/chain-sends';

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

/** A send as signTokenTransfer makes one: the reference's existing one, or the next nonce with what is in flight counted. */
function send(chainId: number, from: string, reference: string, options: { failAfterRecord?: boolean } = {}) {
  return withSender(db, chainId, from, async (sender) => {
    const existing = await sender.existing(reference);
    if (existing) return { nonce: existing.nonce, reserved: null };
    const reserved = await sender.reserved('0x5fbdb2315678afecb367f032d93f642f64180aa3');
    const tx = await sender.record(chainTx(chainId, from, sender.nextNonce(0), reference));
    if (options.failAfterRecord) throw new Error(`the signer of ${reference} failed`);
    // Still uncommitted here: another connection does not see it yet.
    const seen = await other('chain_txs').where({ chain_id: chainId, hash: tx.hash }).first('nonce');
    return { nonce: tx.nonce, hash: tx.hash, reserved: reserved.tokenUnits, seenBeforeCommit: seen !== undefined };
  }).then(async (result) => {
    // Heard once committed: another connection sees it as the caller hears of it.
    const seen = 'hash' in result ? await other('chain_txs').where({ chain_id: chainId, hash: result.hash }).first('nonce') : undefined;
    return { ...result, seenWhenHeard: seen !== undefined };
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

  const [a, b] = await Promise.all([send(chainId, from, ref), send(chainId, from, ref)]);
  const c = await send(chainId, from, ref);

  expect([a.nonce, b.nonce, c.nonce]).toEqual([0, 0, 0]);
  expect(await chainTxsOf(db, ref)).toHaveLength(1);
});
