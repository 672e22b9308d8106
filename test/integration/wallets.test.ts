// Wallets against the real database and API: deposit addresses (one per user, allocated once under concurrency), the
// networks' hot and collection wallets, signing, secrets sealed at rest and never shown, rotation, provisioning.
import { randomBytes, randomInt } from 'node:crypto';
import { inspect } from 'node:util';
import { getAddress, Mnemonic, parseEther, parseUnits, Transaction, Wallet } from 'ethers';
import pino from 'pino';
import { createWalletSigner, resealWalletSecrets, WalletKeyError } from '../../activities/providers/wallet-keys';
import type { SecretKey } from '../../config';
import { saveNetwork } from '../../db/networks';
import { open } from '../../db/secret-box';
import {
  collectionWallet,
  depositAddressAt,
  depositAddressFor,
  hotWallet,
  listNetworkWallets,
  ownerOfAddress,
  storedSeedXpub,
  watchedAddresses,
} from '../../db/wallets';
import { fundLocalWallets, LOCAL_WALLET_FUNDS, provisionWallets } from '../../scripts/stack/provision-wallets';
import { startTestApp, TEST_KEYS, type TestApp } from '../support/app';
import { chainEnv, connectTestChain } from '../support/chain';
import { givenUser } from '../support/ledger';

let app: TestApp;
const logLines: string[] = [];
/** Two networks of this file's own, so it needs nothing from the chain's setup and leaves the shared ones alone. */
const suffix = randomBytes(4).toString('hex');
const NET_A = `wt-a-${suffix}`;
const NET_B = `wt-b-${suffix}`;

const keys = (): SecretKey[] => app.config.secrets.keys;
const rows = <T = Record<string, unknown>>(table: string): Promise<T[]> => app.db(table).select();
/** Every way a value could reach a log line or an answer. */
const renderings = (value: unknown): string => [JSON.stringify(value) ?? '', inspect(value, { depth: 10, showHidden: true, getters: true })].join('\n');
const tx = (overrides: Record<string, unknown> = {}) => ({ to: '0x000000000000000000000000000000000000dEaD', value: 1n, nonce: 0, gasLimit: 21000n, chainId: 31337n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n, ...overrides });

/** Every secret the wallet tables hold, opened here to make sure none of them shows anywhere. */
async function plaintextSecrets(): Promise<string[]> {
  const seed = await app.db('wallet_seed').first('seed_sealed');
  const hot = await app.db('wallets').whereNotNull('key_sealed').select('key_sealed');
  const phrase = open(seed.seed_sealed, keys());
  return [phrase, phrase.split(' ').slice(0, 4).join(' '), ...hot.map((w) => open(w.key_sealed, keys()).slice(2))];
}

/** Runs `fn`, then puts the wallet tables' sealed columns back as they were, whatever happened. */
async function restoringSecrets(fn: () => Promise<void>): Promise<void> {
  const seed = await app.db('wallet_seed').first('seed_sealed', 'seed_key_id');
  const sealedKeys = await app.db('wallets').whereNotNull('key_sealed').select('address', 'key_sealed', 'key_key_id');
  try {
    await fn();
  } finally {
    await app.db('wallet_seed').update(seed);
    for (const { address, ...sealed } of sealedKeys) await app.db('wallets').where({ address }).update(sealed);
  }
}

beforeAll(async () => {
  app = await startTestApp({ logger: pino({ level: 'trace' }, { write: (line: string) => void logLines.push(line) }) });
  for (const id of [NET_A, NET_B]) {
    await saveNetwork(app.db, { id, chainId: randomInt(2 ** 40, 2 ** 47), name: id, rpcUrls: ['http://127.0.0.1:1'], confirmations: 3, blockTimeMs: 1000, active: true });
  }
  await provisionWallets(app.db, app.config);
});

afterAll(async () => {
  const networks = [NET_A, NET_B];
  const made = await app.db('network_wallets').whereIn('network_id', networks).pluck('address');
  await app.db('network_wallets').whereIn('network_id', networks).delete();
  await app.db('wallets').whereIn('address', made).delete();
  await app.db('deposit_addresses').whereIn('network_id', networks).delete();
  await app.db('networks').whereIn('id', networks).delete();
  await app.close();
});

describe('deposit addresses', () => {
  test("a user's first request allocates the next HD index; later ones, on any network, return the same address", async () => {
    // given
    const uid = await givenUser(app.db);
    const xpub = (await storedSeedXpub(app.db))!;
    // when
    const first = await depositAddressFor(app.db, uid, NET_A);
    const again = await depositAddressFor(app.db, uid, NET_A);
    const other = await depositAddressFor(app.db, uid, NET_B);
    // then
    expect(first.created).toBe(true);
    expect(first.depositAddress).toMatchObject({ uid, networkId: NET_A, address: depositAddressAt(xpub, first.depositAddress.hdIndex) });
    expect(first.depositAddress.address).toMatch(/^0x[0-9a-f]{40}$/);
    expect(again).toEqual({ created: false, depositAddress: first.depositAddress });
    expect(other.created).toBe(true);
    expect(other.depositAddress.address).toBe(first.depositAddress.address);
    expect(await watchedAddresses(app.db, NET_A)).toContain(first.depositAddress.address);
  });

  test('concurrent first requests for one user give one address, recorded once', async () => {
    const uid = await givenUser(app.db);
    const answers = await Promise.all(Array.from({ length: 12 }, () => depositAddressFor(app.db, uid, NET_A)));
    expect(new Set(answers.map((a) => a.depositAddress.address)).size).toBe(1);
    expect(answers.filter((a) => a.created)).toHaveLength(1);
    expect(Number((await app.db('wallets').where({ uid }).count({ n: '*' }))[0].n)).toBe(1);
  });

  test('concurrent requests for many users give each a distinct index and address', async () => {
    const uids = await Promise.all(Array.from({ length: 25 }, () => givenUser(app.db)));
    const answers = await Promise.all(uids.map((uid) => depositAddressFor(app.db, uid, NET_B)));
    const indexes = answers.map((a) => a.depositAddress.hdIndex);
    expect(new Set(indexes).size).toBe(uids.length);
    expect(new Set(answers.map((a) => a.depositAddress.address)).size).toBe(uids.length);
    // and no index is given to two users across the whole table
    const [{ n, distinct }] = await app.db('wallets').where({ kind: 'deposit' }).select(app.db.raw('COUNT(*) AS n, COUNT(DISTINCT hd_index) AS `distinct`'));
    expect(Number(distinct)).toBe(Number(n));
  });

  test('an unknown user or network is refused, and nothing is allocated', async () => {
    const before = (await rows('wallets')).length;
    await expect(depositAddressFor(app.db, 999_999_999_999, NET_A)).rejects.toMatchObject({ code: 'unknown_user' });
    await expect(depositAddressFor(app.db, await givenUser(app.db), 'no-such-net')).rejects.toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/no network 'no-such-net'/) });
    expect((await rows('wallets')).length).toBe(before);
  });

  test('the database refuses an address that is not in lower case', async () => {
    const address = Wallet.createRandom().address;
    await expect(app.db('wallets').insert({ address, kind: 'hot', key_sealed: 'x', key_key_id: 'x' })).rejects.toThrow(/wallets_address_lower_case/);
  });
});

describe('owners and network wallets', () => {
  test('ownerOfAddress names the user of a deposit address and the kind of a hot or collection wallet, in any case', async () => {
    const uid = await givenUser(app.db);
    const { address } = (await depositAddressFor(app.db, uid, NET_A)).depositAddress;
    expect(await ownerOfAddress(app.db, getAddress(address))).toEqual({ address, kind: 'deposit', uid });
    const hot = await hotWallet(app.db, NET_A);
    expect(await ownerOfAddress(app.db, hot.address.toUpperCase().replace('0X', '0x'))).toEqual({ address: hot.address, kind: 'hot', uid: null });
    expect(await ownerOfAddress(app.db, Wallet.createRandom().address)).toBeUndefined();
  });

  test('every network has its own hot and collection wallet; neither is watched for deposits', async () => {
    const [hotA, collectionA, hotB] = [await hotWallet(app.db, NET_A), await collectionWallet(app.db, NET_A), await hotWallet(app.db, NET_B)];
    expect(new Set([hotA.address, collectionA.address, hotB.address]).size).toBe(3);
    expect(await listNetworkWallets(app.db)).toEqual(expect.arrayContaining([hotA, collectionA, hotB]));
    expect(await watchedAddresses(app.db, NET_A)).not.toContain(hotA.address);
    await expect(hotWallet(app.db, 'no-such-net')).rejects.toMatchObject({ code: 'not_found' });
  });

  test('provisioning again keeps the seed and every wallet', async () => {
    const before = { xpub: await storedSeedXpub(app.db), wallets: await listNetworkWallets(app.db) };
    const result = await provisionWallets(app.db, app.config);
    expect(result.seed).toBe('kept');
    expect(result.wallets.filter((w) => w.made)).toEqual([]);
    expect({ xpub: await storedSeedXpub(app.db), wallets: await listNetworkWallets(app.db) }).toEqual(before);
  });

  test("an operator's WALLET_MNEMONIC that is not the stored seed stops provisioning, without repeating the phrase", async () => {
    const phrase = Mnemonic.fromEntropy(randomBytes(32)).phrase;
    const attempt = provisionWallets(app.db, { ...app.config, wallets: { mnemonic: phrase, mayMakeSeed: true } });
    await expect(attempt).rejects.toThrow(/WALLET_MNEMONIC is not the wallet seed stored/);
    const message = await attempt.catch((err: Error) => renderings(err));
    expect(message).not.toContain(phrase.split(' ').slice(0, 2).join(' '));
  });

  test('without a seed: WALLET_MNEMONIC is sealed in; production without one refuses to make one', async () => {
    const stored = await app.db('wallet_seed').first();
    await app.db('wallet_seed').delete();
    try {
      await expect(provisionWallets(app.db, { ...app.config, wallets: { mnemonic: undefined, mayMakeSeed: false } })).rejects.toThrow(/set WALLET_MNEMONIC/);
      const phrase = Mnemonic.fromEntropy(randomBytes(16)).phrase;
      const result = await provisionWallets(app.db, { ...app.config, wallets: { mnemonic: phrase, mayMakeSeed: false } });
      expect(result.seed).toBe('imported');
      const row = await app.db('wallet_seed').first();
      expect(row.seed_sealed).not.toContain(phrase.split(' ')[0] + ' ');
      expect(open(row.seed_sealed, keys())).toBe(phrase);
    } finally {
      await app.db('wallet_seed').delete();
      await app.db('wallet_seed').insert(stored);
    }
  });
});

describe('signing', () => {
  test('signs with a deposit address (its key derived from the seed) and with a hot wallet; the chain sees them as senders', async () => {
    const signer = createWalletSigner(app.db, keys());
    const { address } = (await depositAddressFor(app.db, await givenUser(app.db), NET_A)).depositAddress;
    const hot = await hotWallet(app.db, NET_A);
    for (const from of [address, getAddress(hot.address)]) {
      const raw = await signer.signTransaction(from, tx());
      expect(raw).toMatch(/^0x02/);
      expect(Transaction.from(raw).from?.toLowerCase()).toBe(from.toLowerCase());
    }
  });

  test('an address that is not ours is not_found; a malformed one is refused', async () => {
    const signer = createWalletSigner(app.db, keys());
    await expect(signer.signTransaction(Wallet.createRandom().address, tx())).rejects.toMatchObject({ code: 'not_found' });
    await expect(signer.signTransaction('0x1234', tx())).rejects.toMatchObject({ code: 'invalid_request' });
  });
});

describe('secrets at rest', () => {
  test('the raw columns hold sealed text naming its key, never the phrase or a private key', async () => {
    const seed = await app.db('wallet_seed').first();
    const hot = await app.db('wallets').where({ address: (await hotWallet(app.db, NET_A)).address }).first();
    expect(seed.seed_sealed).toMatch(new RegExp(`^v1\\.${seed.seed_key_id}\\.`));
    expect(hot.key_sealed).toMatch(new RegExp(`^v1\\.${hot.key_key_id}\\.`));
    const raw = JSON.stringify([seed, hot]);
    for (const secret of await plaintextSecrets()) expect(raw).not.toContain(secret);
    expect(new Wallet(open(hot.key_sealed, keys())).address.toLowerCase()).toBe(hot.address);
  });

  test('a tampered sealed key, or one copied from another wallet, is refused when signing, naming the wallet only', async () => {
    const signer = createWalletSigner(app.db, keys());
    const hot = await hotWallet(app.db, NET_A);
    const collection = await collectionWallet(app.db, NET_A);
    await restoringSecrets(async () => {
      const row = await app.db('wallets').where({ address: hot.address }).first('key_sealed');
      const parts = row.key_sealed.split('.');
      parts[4] = `${parts[4][0] === 'A' ? 'B' : 'A'}${parts[4].slice(1)}`;
      await app.db('wallets').where({ address: hot.address }).update({ key_sealed: parts.join('.') });
      const tampered = await signer.signTransaction(hot.address, tx()).catch((err) => err);
      expect(tampered).toBeInstanceOf(WalletKeyError);
      expect(tampered.message).toMatch(new RegExp(`key of wallet ${hot.address}: .*does not authenticate`));

      const other = await app.db('wallets').where({ address: collection.address }).first('key_sealed');
      await app.db('wallets').where({ address: hot.address }).update({ key_sealed: other.key_sealed });
      await expect(signer.signTransaction(hot.address, tx())).rejects.toThrow(/opens to another address: the row was altered/);
    });
  });

  test('a tampered seed is refused for every deposit address', async () => {
    const signer = createWalletSigner(app.db, keys());
    const { address } = (await depositAddressFor(app.db, await givenUser(app.db), NET_A)).depositAddress;
    await restoringSecrets(async () => {
      // a valid phrase sealed with the right key, but not the seed the addresses came from
      const { sealed } = await import('../../db/secret-box').then((box) => box.seal(Mnemonic.fromEntropy(randomBytes(32)).phrase, keys()));
      await app.db('wallet_seed').update({ seed_sealed: sealed });
      await expect(signer.signTransaction(address, tx())).rejects.toThrow(/seed does not match its stored xpub/);
    });
  });

  test('rotation seals every wallet secret with the new first key, after which the old key can go', async () => {
    const NEW: SecretKey = { id: `rot${randomInt(1e6)}`, key: randomBytes(32) };
    const { address } = (await depositAddressFor(app.db, await givenUser(app.db), NET_A)).depositAddress;
    const hot = await hotWallet(app.db, NET_A);
    await restoringSecrets(async () => {
      // when NEW is put first and the secrets resealed
      const first = await resealWalletSecrets(app.db, [NEW, ...keys()]);
      // then every secret names NEW, and NEW alone opens them all
      const total = 1 + Number((await app.db('wallets').whereNotNull('key_sealed').count({ n: '*' }))[0].n);
      expect(first).toEqual({ resealed: total, current: 0 });
      expect(await app.db('wallet_seed').pluck('seed_key_id')).toEqual([NEW.id]);
      expect(await app.db('wallets').whereNotNull('key_key_id').distinct().pluck('key_key_id')).toEqual([NEW.id]);
      const signer = createWalletSigner(app.db, [NEW]);
      await expect(signer.signTransaction(address, tx())).resolves.toMatch(/^0x02/);
      await expect(signer.signTransaction(hot.address, tx())).resolves.toMatch(/^0x02/);
      // and the old keys no longer open anything
      await expect(createWalletSigner(app.db, keys()).signTransaction(hot.address, tx())).rejects.toThrow(new RegExp(`sealed with key '${NEW.id}'`));
      // a second run has nothing to do
      expect(await resealWalletSecrets(app.db, [NEW, ...keys()])).toEqual({ resealed: 0, current: total });
      // and rotating back restores the configured key
      await resealWalletSecrets(app.db, [...keys(), NEW]);
      await expect(createWalletSigner(app.db, keys()).signTransaction(hot.address, tx())).resolves.toMatch(/^0x02/);
    });
  });
});

describe('the API', () => {
  const depositAddress = (uid: number | string, body: unknown, key: string | null = TEST_KEYS.write) =>
    app.api(`/api/v1/users/${uid}/deposit-addresses`, { body, key });

  test('POST deposit-addresses answers 201 with the checksummed address, then 200 with the same one', async () => {
    const uid = await givenUser(app.db);
    const created = await depositAddress(uid, { network: NET_A });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ object: 'deposit_address', uid, network: NET_A, address: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/), createdAt: expect.any(String) });
    expect(created.body.address).toBe(getAddress(created.body.address));
    const again = await depositAddress(uid, { network: NET_A }, TEST_KEYS.admin);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(created.body);
    expect((await ownerOfAddress(app.db, created.body.address))?.uid).toBe(uid);
  });

  test.each([
    ['a read-only key', TEST_KEYS.read, 403, 'forbidden'],
    ['no key', null, 401, 'unauthorized'],
  ])('POST deposit-addresses with %s is refused', async (_what, key, status, code) => {
    const res = await depositAddress(await givenUser(app.db), { network: NET_A }, key);
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
  });

  test.each([
    ['an unknown user', () => 999_999_999_998, { network: NET_A }, 422, 'unknown_user'],
    ['an unknown network', null, { network: 'atlantis' }, 400, 'invalid_request'],
    ['no network', null, {}, 400, 'invalid_request'],
    ['a network that is not a string', null, { network: 5 }, 400, 'invalid_request'],
    ['a malformed network id', null, { network: 'Not An Id' }, 400, 'invalid_request'],
    ['a uid that is not a number', () => 'abc', { network: NET_A }, 400, 'invalid_request'],
    ['a body that is not JSON', null, '{"network":', 400, 'invalid_json'],
  ])('POST deposit-addresses with %s is a clear 4xx and allocates nothing', async (_what, uidOf, body, status, code) => {
    const uid = uidOf ? uidOf() : await givenUser(app.db);
    const before = (await rows('wallets')).length;
    const res = await depositAddress(uid, body);
    expect(res.status).toBe(status);
    expect(res.body.error).toEqual({ code, message: expect.any(String), requestId: expect.any(String) });
    expect((await rows('wallets')).length).toBe(before);
  });

  test("GET /api/v1/wallets shows an admin each network's hot and collection address, and nothing else", async () => {
    const res = await app.api('/api/v1/wallets');
    expect(res.status).toBe(200);
    const hot = await hotWallet(app.db, NET_A);
    expect(res.body.data).toEqual(expect.arrayContaining([{ object: 'wallet', network: NET_A, kind: 'hot', address: getAddress(hot.address) }]));
    for (const wallet of res.body.data) expect(Object.keys(wallet).sort()).toEqual(['address', 'kind', 'network', 'object']);
    expect((await app.api('/api/v1/wallets', { key: TEST_KEYS.write })).status).toBe(403);
  });

  test('no answer and no log line holds a secret', async () => {
    const texts = [(await app.api('/api/v1/wallets')).text, (await depositAddress(await givenUser(app.db), { network: NET_B })).text, ...logLines];
    expect(logLines.length).toBeGreaterThan(0);
    const all = texts.join('\n');
    for (const secret of await plaintextSecrets()) expect(all).not.toContain(secret);
  });
});

describe('the local chain', () => {
  const LOCAL = 'local';
  const chain = connectTestChain();
  let snapshot: string;
  beforeAll(async () => {
    snapshot = await chain.snapshot();
  });
  afterAll(async () => {
    await chain.revert(snapshot);
    chain.close();
  });

  /** Signs with the engine's signer and broadcasts: the node, not ethers, judges the signature. */
  async function sendSigned(from: string, to: string, value: bigint) {
    const fees = await chain.provider.getFeeData();
    const raw = await createWalletSigner(app.db, keys()).signTransaction(from, {
      to,
      value,
      nonce: await chain.provider.getTransactionCount(from),
      gasLimit: 21_000n,
      chainId: BigInt(chain.chainId),
      maxFeePerGas: fees.maxFeePerGas!,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas!,
    });
    return (await chain.provider.broadcastTransaction(raw)).wait();
  }

  test("the local network's hot and collection wallets hold gas and every test token; funding them again sends nothing", async () => {
    const node = { rpcUrl: chain.rpcUrl, chainId: chain.chainId, tokens: chainEnv.tokens, deployer: (await chain.signer(0)).address.toLowerCase() };
    // given the wallets were funded at start-up, and maybe spent from since: topping up gives each its target
    await fundLocalWallets(app.db, node);
    for (const wallet of [await hotWallet(app.db, LOCAL), await collectionWallet(app.db, LOCAL)]) {
      expect(await chain.provider.getBalance(wallet.address)).toBe(parseEther(LOCAL_WALLET_FUNDS.ether));
      for (const token of chainEnv.tokens) {
        expect(BigInt(await chain.tokenBalance(token.symbol, wallet.address))).toBeGreaterThanOrEqual(parseUnits(LOCAL_WALLET_FUNDS.tokens, token.decimals));
      }
    }
    // when funded again, then nothing is sent
    expect((await fundLocalWallets(app.db, node)).map((w) => w.sent)).toEqual([{}, {}]);
  });

  test('the node accepts what the hot wallet and a deposit address sign', async () => {
    const hot = await hotWallet(app.db, LOCAL);
    const { address } = (await depositAddressFor(app.db, await givenUser(app.db), LOCAL)).depositAddress;
    // the hot wallet pays the deposit address its gas, and the deposit address sends some back
    expect((await sendSigned(hot.address, address, parseEther('1')))?.status).toBe(1);
    const back = await sendSigned(address, hot.address, parseEther('0.5'));
    expect(back?.status).toBe(1);
    expect(back?.from.toLowerCase()).toBe(address);
  });
});
