// Wallets: the HD seed (sealed), one deposit address per user (an HD index of the seed: the same address on every network
// the user asks for) and each network's hot and collection wallet (keys of their own, sealed). Addresses are lower case.
// This module stores sealed text and never opens it: activities/providers/wallet-keys.ts does.
import { HDNodeWallet } from 'ethers';
import { parseAddress } from '../domain/chain';
import { DomainError } from '../domain/errors';
import type { NetworkWalletKind, WalletKind } from '../domain/wallet';
import type { Db } from './knex';
import { getNetwork } from './networks';

/** BIP-32 indexes below 2^31 are the non-hardened ones, which an xpub can derive. */
const MAX_HD_INDEX = 2 ** 31 - 1;
const SEED_ID = 1;

/** The seed as stored: the sealed BIP-39 phrase and the deposit account's extended public key, from which addresses derive. */
export interface SealedSeed {
  sealed: string;
  keyId: string;
  xpub: string;
}

/** A hot or collection wallet's key as stored. */
export interface SealedKey {
  address: string;
  sealed: string;
  keyId: string;
}

export interface DepositAddress {
  uid: number;
  networkId: string;
  address: string;
  hdIndex: number;
  createdAt: string;
}

export interface NetworkWallet {
  networkId: string;
  kind: NetworkWalletKind;
  address: string;
}

export interface AddressOwner {
  address: string;
  kind: WalletKind;
  /** The user of a deposit address; null for hot and collection wallets. */
  uid: number | null;
}

/** What signing with an address needs: its HD index and the sealed seed, or its own sealed key. */
export type SigningMaterial = { kind: 'deposit'; address: string; hdIndex: number; seed: SealedSeed } | ({ kind: NetworkWalletKind } & SealedKey);

/** Every sealed wallet secret, for rotation. */
export type SealedSecret = ({ kind: 'seed' } & SealedSeed) | ({ kind: 'key' } & SealedKey);

interface DepositAddressRow {
  network_id: string;
  uid: string;
  address: string;
  hd_index: number;
  created_at: string;
}

const timestamp = (value: string) => `${value.replace(' ', 'T')}Z`;

/** The lower-case address of deposit index `index` under the deposit account's xpub (m/44'/60'/0'/0). */
export function depositAddressAt(xpub: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > MAX_HD_INDEX) throw new Error(`deposit index ${index} is outside 0…${MAX_HD_INDEX}`);
  return HDNodeWallet.fromExtendedKey(xpub).deriveChild(index).address.toLowerCase();
}

async function findDepositAddress(db: Db, uid: number, networkId: string): Promise<DepositAddress | undefined> {
  const row: DepositAddressRow | undefined = await db('deposit_addresses as d')
    .join('wallets as w', 'w.address', 'd.address')
    .where({ 'd.network_id': networkId, 'd.uid': uid })
    .first('d.network_id', 'd.uid', 'd.address', 'w.hd_index', 'd.created_at');
  return row && { uid: Number(row.uid), networkId: row.network_id, address: row.address, hdIndex: Number(row.hd_index), createdAt: timestamp(row.created_at) };
}

/**
 * The user's deposit address on a network, made on the first request: the user's HD index is allocated once, under the
 * seed row's lock, so concurrent first requests get one address and no two users one index. `created` is true for
 * the request that recorded the address on this network. Unknown user or network: a DomainError.
 */
export async function depositAddressFor(db: Db, uid: number, networkId: string): Promise<{ depositAddress: DepositAddress; created: boolean }> {
  const existing = await findDepositAddress(db, uid, networkId);
  if (existing) return { depositAddress: existing, created: false };
  if (!(await db('users').where({ uid }).first('uid'))) throw new DomainError('unknown_user', `no user ${uid}: register it first (POST /api/v1/users)`);
  const network = await getNetwork(db, networkId);
  if (!network?.active) {
    throw new DomainError('invalid_request', `network: ${network ? `'${networkId}' is not active` : `no network '${networkId}'`} (GET /api/v1/networks lists them)`);
  }
  const address = await userDepositWallet(db, uid);
  const [result] = await db.raw('INSERT IGNORE INTO deposit_addresses (network_id, uid, address) VALUES (?, ?, ?)', [networkId, uid, address]);
  return { depositAddress: (await findDepositAddress(db, uid, networkId))!, created: result.affectedRows === 1 };
}

/** The user's deposit wallet, allocating the next HD index on first use. */
async function userDepositWallet(db: Db, uid: number): Promise<string> {
  const found = await db('wallets').where({ uid }).first('address');
  if (found) return found.address;
  return db.transaction(async (trx) => {
    const seed = await trx('wallet_seed').where({ id: SEED_ID }).forUpdate().first('xpub', 'next_deposit_index');
    if (!seed) throw new Error('there is no wallet seed: the wallets were not provisioned (scripts/stack/provision-wallets.ts)');
    // A request that held the lock before this one may have allocated this user's: a locking read sees it.
    const allocated = await trx('wallets').where({ uid }).forUpdate().first('address');
    if (allocated) return allocated.address as string;
    const index = Number(seed.next_deposit_index);
    const address = depositAddressAt(seed.xpub, index);
    await trx('wallets').insert({ address, kind: 'deposit', uid, hd_index: index });
    await trx('wallet_seed').where({ id: SEED_ID }).update({ next_deposit_index: index + 1 });
    return address;
  });
}

/** Whose an address is (any case), for the chain scanner; undefined when it is none of ours. */
export async function ownerOfAddress(db: Db, address: string): Promise<AddressOwner | undefined> {
  const row = await db('wallets').where({ address: parseAddress(address) }).first('address', 'kind', 'uid');
  return row && { address: row.address, kind: row.kind, uid: row.uid === null ? null : Number(row.uid) };
}

/** The addresses whose incoming transfers on a network are deposits: every deposit address asked for on it. */
export async function watchedAddresses(db: Db, networkId: string): Promise<string[]> {
  const rows: { address: string }[] = await db('deposit_addresses').where({ network_id: networkId }).select('address');
  return rows.map((r) => r.address);
}

async function networkWallet(db: Db, networkId: string, kind: NetworkWalletKind): Promise<NetworkWallet> {
  const row = await db('network_wallets').where({ network_id: networkId, kind }).first('address');
  if (!row) throw new DomainError('not_found', `network ${networkId} has no ${kind} wallet: the wallets were not provisioned for it`);
  return { networkId, kind, address: row.address };
}

/** The wallet that pays withdrawals and merchant payments on a network. */
export const hotWallet = (db: Db, networkId: string): Promise<NetworkWallet> => networkWallet(db, networkId, 'hot');

/** The wallet deposits are swept to on a network; it pays when the hot wallet is short (seed 002). */
export const collectionWallet = (db: Db, networkId: string): Promise<NetworkWallet> => networkWallet(db, networkId, 'collection');

/** Every network's hot and collection wallet, by network then kind. */
export async function listNetworkWallets(db: Db): Promise<NetworkWallet[]> {
  const rows = await db('network_wallets').orderBy(['network_id', 'kind']).select('network_id', 'kind', 'address');
  return rows.map((r) => ({ networkId: r.network_id, kind: r.kind, address: r.address }));
}

/** The stored seed's xpub, to tell whether it is the operator's; undefined before the seed is made. */
export async function storedSeedXpub(db: Db): Promise<string | undefined> {
  return (await db('wallet_seed').where({ id: SEED_ID }).first('xpub'))?.xpub;
}

/** Stores the seed unless one is stored already (the seed never changes: deposit addresses derive from it). */
export async function saveSeed(db: Db, seed: SealedSeed): Promise<boolean> {
  const [result] = await db.raw('INSERT IGNORE INTO wallet_seed (id, seed_sealed, seed_key_id, xpub) VALUES (?, ?, ?, ?)', [SEED_ID, seed.sealed, seed.keyId, seed.xpub]);
  return result.affectedRows === 1;
}

/** Rolls back a new key's row when its network has a wallet of that kind already. */
class NetworkHasWallet extends Error {}

/** Stores a network's hot or collection wallet unless it has one; false (and nothing stored) when it has. */
export async function saveNetworkWallet(db: Db, networkId: string, kind: NetworkWalletKind, key: SealedKey): Promise<boolean> {
  try {
    await db.transaction(async (trx) => {
      await trx('wallets').insert({ address: key.address, kind, key_sealed: key.sealed, key_key_id: key.keyId });
      const [result] = await trx.raw('INSERT IGNORE INTO network_wallets (network_id, kind, address) VALUES (?, ?, ?)', [networkId, kind, key.address]);
      if (result.affectedRows !== 1) throw new NetworkHasWallet();
    });
    return true;
  } catch (err) {
    if (err instanceof NetworkHasWallet) return false;
    throw err;
  }
}

/** What signing with `address` (lower case) needs; not_found when it is not one of ours. */
export async function signingMaterial(db: Db, address: string): Promise<SigningMaterial> {
  const row = await db('wallets').where({ address }).first('address', 'kind', 'hd_index', 'key_sealed', 'key_key_id');
  if (!row) throw new DomainError('not_found', `no wallet ${address}`);
  if (row.kind !== 'deposit') return { kind: row.kind, address: row.address, sealed: row.key_sealed, keyId: row.key_key_id };
  const seed = await db('wallet_seed').where({ id: SEED_ID }).first('seed_sealed', 'seed_key_id', 'xpub');
  if (!seed) throw new Error('deposit wallets exist but the wallet seed is gone');
  return { kind: 'deposit', address: row.address, hdIndex: Number(row.hd_index), seed: { sealed: seed.seed_sealed, keyId: seed.seed_key_id, xpub: seed.xpub } };
}

/** Every sealed wallet secret: the seed and each hot or collection key. */
export async function sealedSecrets(db: Db): Promise<SealedSecret[]> {
  const seeds = await db('wallet_seed').select('seed_sealed', 'seed_key_id', 'xpub');
  const keys = await db('wallets').whereNotNull('key_sealed').orderBy('address').select('address', 'key_sealed', 'key_key_id');
  return [
    ...seeds.map((s): SealedSecret => ({ kind: 'seed', sealed: s.seed_sealed, keyId: s.seed_key_id, xpub: s.xpub })),
    ...keys.map((k): SealedSecret => ({ kind: 'key', address: k.address, sealed: k.key_sealed, keyId: k.key_key_id })),
  ];
}

/** Replaces a secret's sealed text if it is still `secret.sealed` (compare and swap); false when it changed meanwhile. */
export async function replaceSealedSecret(db: Db, secret: SealedSecret, next: { sealed: string; keyId: string }): Promise<boolean> {
  const updated =
    secret.kind === 'seed'
      ? await db('wallet_seed').where({ id: SEED_ID, seed_sealed: secret.sealed }).update({ seed_sealed: next.sealed, seed_key_id: next.keyId, updated_at: db.fn.now(3) })
      : await db('wallets').where({ address: secret.address, key_sealed: secret.sealed }).update({ key_sealed: next.sealed, key_key_id: next.keyId });
  return updated === 1;
}
