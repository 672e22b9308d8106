// Wallet key material: the HD seed and the hot and collection keys are made, sealed, opened and used here and nowhere else.
// What leaves this module is sealed text, extended public keys, addresses and signed transactions, never a key or a phrase.
import { HDNodeWallet, Mnemonic, Wallet, type TransactionRequest } from 'ethers';
import { randomBytes } from 'node:crypto';
import type { SecretKey } from '../../config';
import type { Db } from '../../db/knex';
import { open, seal } from '../../db/secret-box';
import {
  listNetworkWallets,
  replaceSealedSecret,
  saveNetworkWallet,
  sealedSecrets,
  signingMaterial,
  type SealedKey,
  type SealedSeed,
  type SigningMaterial,
} from '../../db/wallets';
import { parseAddress } from '../../domain/chain';
import { DomainError } from '../../domain/errors';
import { NETWORK_WALLET_KINDS } from '../../domain/wallet';

/** BIP-44 Ethereum, account 0, external chain: deposit address i is the key at `${DEPOSIT_ACCOUNT_PATH}/${i}`. */
const DEPOSIT_ACCOUNT_PATH = "m/44'/60'/0'/0";

export interface WalletSigner {
  /**
   * Signs `tx` with the key of `address` (a deposit, hot or collection wallet) and returns the raw signed transaction
   * (0x hex), ready to persist and broadcast. `tx.chainId` is required: every key here is valid on every EVM chain.
   */
  signTransaction(address: string, tx: TransactionRequest): Promise<string>;
  /**
   * The wallet of `address`, its sealed material read now and its key opened at each signature: a signature made inside
   * a DB transaction (a sender's nonce lock) then needs no other connection of the pool.
   */
  keyOf(address: string): Promise<{ signTransaction(tx: TransactionRequest): Promise<string> }>;
}

/** Thrown when stored key material cannot be opened or does not match its row; says which wallet, never what it holds. */
export class WalletKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WalletKeyError';
  }
}

/** Normalises a phrase the way BIP-39 reads it (single spaces, NFKD, lower case) and checks its words and checksum. */
function readPhrase(phrase: string): string {
  const normalized = phrase.normalize('NFKD').trim().toLowerCase().split(/\s+/).join(' ');
  // ethers redacts the phrase from its own errors; this message names none of it either.
  if (!Mnemonic.isValidMnemonic(normalized)) throw new WalletKeyError('the wallet mnemonic is not a valid BIP-39 English phrase (wrong word, word count or checksum)');
  return normalized;
}

const accountNode = (phrase: string): HDNodeWallet => HDNodeWallet.fromPhrase(phrase, undefined, DEPOSIT_ACCOUNT_PATH);

/** The deposit account's extended public key (xpub) of a phrase: deposit addresses derive from it without the seed. */
const accountXpub = (phrase: string): string => accountNode(phrase).neuter().extendedKey;

/** Seals the operator's BIP-39 phrase, or a new 24-word one (256 bits of entropy) when none is given. */
export function sealSeed(keys: SecretKey[], mnemonic?: string): SealedSeed {
  const phrase = mnemonic === undefined ? Mnemonic.fromEntropy(randomBytes(32)).phrase : readPhrase(mnemonic);
  return { ...seal(phrase, keys), xpub: accountXpub(phrase) };
}

/** Whether an operator's phrase is the one behind a stored seed, told by its xpub, so the stored seed is not opened. */
export function isSameSeed(mnemonic: string, xpub: string): boolean {
  return accountXpub(readPhrase(mnemonic)) === xpub;
}

/** A new random key for a hot or collection wallet, sealed. */
export function sealNewKey(keys: SecretKey[]): SealedKey {
  const wallet = Wallet.createRandom();
  return { address: wallet.address.toLowerCase(), ...seal(wallet.privateKey, keys) };
}

/** Gives each of these networks that has no hot or no collection wallet a new key for it, sealed; the wallets made now. */
export async function provisionNetworkWallets(db: Db, keys: SecretKey[], networkIds: string[]): Promise<Set<string>> {
  const before = new Set((await listNetworkWallets(db)).map((w) => `${w.networkId}/${w.kind}`));
  const made = new Set<string>();
  for (const networkId of networkIds) {
    for (const kind of NETWORK_WALLET_KINDS) {
      if (before.has(`${networkId}/${kind}`)) continue;
      if (await saveNetworkWallet(db, networkId, kind, sealNewKey(keys))) made.add(`${networkId}/${kind}`);
    }
  }
  return made;
}

/**
 * Opens sealed text. The secret box authenticates the text but not the row it sits in, so every opening is followed by
 * a check that the key is the row's (its address, or the seed's xpub): a sealed key copied onto another row is refused.
 */
function openSecret(sealed: string, keys: SecretKey[], what: string): string {
  try {
    return open(sealed, keys);
  } catch (err) {
    throw new WalletKeyError(`${what}: ${(err as Error).message}`);
  }
}

function openSeed(seed: SealedSeed, keys: SecretKey[]): string {
  const phrase = openSecret(seed.sealed, keys, 'the wallet seed');
  if (!Mnemonic.isValidMnemonic(phrase) || accountXpub(phrase) !== seed.xpub) {
    throw new WalletKeyError('the wallet seed does not match its stored xpub: the row was altered, and no deposit address can be trusted to it');
  }
  return phrase;
}

function openKey(address: string, sealed: string, keys: SecretKey[]): Wallet {
  const what = `the key of wallet ${address}`;
  const privateKey = openSecret(sealed, keys, what);
  let wallet: Wallet;
  try {
    wallet = new Wallet(privateKey);
  } catch {
    throw new WalletKeyError(`${what} is not a secp256k1 private key`);
  }
  if (wallet.address.toLowerCase() !== address) throw new WalletKeyError(`${what} opens to another address: the row was altered`);
  return wallet;
}

/** The ethers wallet behind a row, checked against it; lives only for the one signature that needs it. */
function walletOf(material: SigningMaterial, keys: SecretKey[]): Wallet | HDNodeWallet {
  if (material.kind !== 'deposit') return openKey(material.address, material.sealed, keys);
  const node = HDNodeWallet.fromPhrase(openSeed(material.seed, keys), undefined, `${DEPOSIT_ACCOUNT_PATH}/${material.hdIndex}`);
  if (node.address.toLowerCase() !== material.address) {
    throw new WalletKeyError(`deposit wallet ${material.address} is not the seed's address at index ${material.hdIndex}: the row was altered`);
  }
  return node;
}

/** Signs with the wallets stored in `db`; a key is opened per signature, inside it, and dropped with it. */
export function createWalletSigner(db: Db, keys: SecretKey[]): WalletSigner {
  // Checked before any key is looked up or opened.
  const requireChainId = (tx: TransactionRequest) => {
    if (tx.chainId === undefined || tx.chainId === null) {
      throw new DomainError('invalid_request', 'signTransaction: tx.chainId is required (a transaction without one could be replayed on every EVM chain)');
    }
  };
  const keyOf = async (address: string) => {
    const material = await signingMaterial(db, parseAddress(address));
    return {
      async signTransaction(tx: TransactionRequest) {
        requireChainId(tx);
        return walletOf(material, keys).signTransaction(tx);
      },
    };
  };
  return {
    keyOf,
    async signTransaction(address, tx) {
      requireChainId(tx);
      return (await keyOf(address)).signTransaction(tx);
    },
  };
}

export interface ResealResult {
  /** Secrets sealed again with the first key. */
  resealed: number;
  /** Secrets that were sealed with it already. */
  current: number;
}

/**
 * Rotation: opens every wallet secret not sealed with the first of `keys` (with whichever key sealed it), checks it
 * against its row and seals it with the first key; once it has run, the older keys can leave SECRETS_KEYS (for the
 * wallets; payment configs are sealed with the same keys). Safe to run twice and beside the engine: a row changed
 * meanwhile is left to the next run.
 */
export async function resealWalletSecrets(db: Db, keys: SecretKey[]): Promise<ResealResult> {
  const result: ResealResult = { resealed: 0, current: 0 };
  for (const secret of await sealedSecrets(db)) {
    if (secret.keyId === keys[0]?.id) {
      result.current++;
      continue;
    }
    const plaintext = secret.kind === 'seed' ? openSeed(secret, keys) : openKey(secret.address, secret.sealed, keys).privateKey;
    if (await replaceSealedSecret(db, secret, seal(plaintext, keys))) result.resealed++;
  }
  return result;
}
