// Wallet key material without a database: derivation from the seed, sealing, and what the module lets out.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { HDNodeWallet, Mnemonic, Wallet } from 'ethers';
import { createWalletSigner, isSameSeed, sealNewKey, sealSeed, WalletKeyError } from '../../activities/providers/wallet-keys';
import type { SecretKey } from '../../config';
import type { Db } from '../../db/knex';
import { open } from '../../db/secret-box';
import { depositAddressAt } from '../../db/wallets';

const KEYS: SecretKey[] = [{ id: 'unit', key: randomBytes(32) }];
/** Hardhat's and Foundry's test phrase: its first accounts are known to every EVM developer. */
const HARDHAT_PHRASE = 'test test test test test test test test test test test junk';
const HARDHAT_ACCOUNTS = ['0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266', '0x70997970C51812dc3A010C7d01b50e0d17dc79C8', '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'];

/** Every way a value could reach a log line or an answer. */
const renderings = (value: unknown): string => [JSON.stringify(value) ?? '', inspect(value, { depth: 10, showHidden: true, getters: true }), String(value)].join('\n');

describe('deposit addresses', () => {
  test("derive from a phrase's xpub at m/44'/60'/0'/0/{index}, the same as a wallet made from the phrase", () => {
    // given a seed sealed from a known phrase
    const { xpub } = sealSeed(KEYS, HARDHAT_PHRASE);
    // then its first addresses are the known accounts, in lower case
    expect([0, 1, 2].map((i) => depositAddressAt(xpub, i))).toEqual(HARDHAT_ACCOUNTS.map((a) => a.toLowerCase()));
    expect(depositAddressAt(xpub, 7)).toBe(HDNodeWallet.fromPhrase(HARDHAT_PHRASE, undefined, "m/44'/60'/0'/0/7").address.toLowerCase());
  });

  test('an extended public key derives addresses but signs nothing', () => {
    const { xpub } = sealSeed(KEYS, HARDHAT_PHRASE);
    expect(xpub).toMatch(/^xpub/);
    expect(() => (HDNodeWallet.fromExtendedKey(xpub) as unknown as HDNodeWallet).signingKey.privateKey).toThrow();
  });

  test('refuses indexes outside the non-hardened range', () => {
    const { xpub } = sealSeed(KEYS, HARDHAT_PHRASE);
    expect(() => depositAddressAt(xpub, -1)).toThrow(/outside/);
    expect(() => depositAddressAt(xpub, 2 ** 31)).toThrow(/outside/);
  });
});

describe('the seed', () => {
  test('is made as a new 24-word phrase when none is given, different every time', () => {
    const a = sealSeed(KEYS);
    const b = sealSeed(KEYS);
    expect(a.xpub).not.toBe(b.xpub);
    const phrase = open(a.sealed, KEYS);
    expect(phrase.split(' ')).toHaveLength(24);
    expect(Mnemonic.isValidMnemonic(phrase)).toBe(true);
  });

  test('is sealed with the first key, and the sealed text shows none of its words', () => {
    const seed = sealSeed(KEYS, HARDHAT_PHRASE);
    expect(seed.keyId).toBe('unit');
    expect(seed.sealed).not.toMatch(/test|junk/);
    expect(open(seed.sealed, KEYS)).toBe(HARDHAT_PHRASE);
  });

  test("reads an operator's phrase as BIP-39 does: case, extra spaces and line breaks do not matter", () => {
    const seed = sealSeed(KEYS, `  Test TEST test test\ntest test test test  test test test junk \n`);
    expect(seed.xpub).toBe(sealSeed(KEYS, HARDHAT_PHRASE).xpub);
    expect(isSameSeed('TEST test test test test test test test test test test junk', seed.xpub)).toBe(true);
    expect(isSameSeed(Mnemonic.fromEntropy(randomBytes(16)).phrase, seed.xpub)).toBe(false);
  });

  test('refuses a phrase with a wrong word or checksum without repeating it', () => {
    for (const bad of ['test test test test test test test test test test test test', 'zebra zebra zebra kettle', 'test test test test test test test test test test test jnuk']) {
      let thrown: unknown;
      try {
        sealSeed(KEYS, bad);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(WalletKeyError);
      expect(renderings(thrown)).not.toMatch(/test test|zebra|kettle|jnuk/);
    }
  });
});

describe('hot and collection keys', () => {
  test('are new random keys, sealed, whose address is given in lower case', () => {
    const a = sealNewKey(KEYS);
    const b = sealNewKey(KEYS);
    expect(a.address).toMatch(/^0x[0-9a-f]{40}$/);
    expect(a.address).not.toBe(b.address);
    const privateKey = open(a.sealed, KEYS);
    expect(new Wallet(privateKey).address.toLowerCase()).toBe(a.address);
    expect(a.sealed).not.toContain(privateKey.slice(2));
  });
});

describe('nothing secret leaves the module', () => {
  test('what it returns, JSON-encoded or inspected, holds no phrase and no private key', () => {
    const phrase = Mnemonic.fromEntropy(randomBytes(32)).phrase;
    const seed = sealSeed(KEYS, phrase);
    const key = sealNewKey(KEYS);
    const signer = createWalletSigner({} as Db, KEYS);
    const privateKey = open(key.sealed, KEYS);
    for (const value of [seed, key, signer]) {
      const text = renderings(value);
      expect(text).not.toContain(phrase.split(' ').slice(0, 3).join(' '));
      expect(text).not.toContain(privateKey.slice(2));
    }
  });

  test('a signature without a chain id is refused before any key is looked up: it could be replayed on every EVM chain', async () => {
    const signer = createWalletSigner({} as Db, KEYS);
    await expect(signer.signTransaction(HARDHAT_ACCOUNTS[0], { to: HARDHAT_ACCOUNTS[1], value: 1n, nonce: 0, gasLimit: 21000n })).rejects.toThrow(/chainId is required/);
  });
});
