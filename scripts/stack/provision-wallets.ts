// The wallets a stack needs before it takes deposits: the HD seed (the operator's WALLET_MNEMONIC, or one made here outside
// production) and a hot and a collection wallet for every network; on the local chain, gas and test tokens for the latter.
import { Contract, JsonRpcProvider, parseEther, parseUnits, type InterfaceAbi } from 'ethers';
import { isSameSeed, provisionNetworkWallets, sealSeed } from '../../activities/providers/wallet-keys';
import TestTokenArtifact from '../../chain/artifacts/TestToken.json';
import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import { getNetworkByChainId, listNetworks } from '../../db/networks';
import { listNetworkWallets, saveSeed, storedSeedXpub } from '../../db/wallets';
import { fromBaseUnits } from '../../domain/chain';
import type { NetworkWalletKind } from '../../domain/wallet';
import type { RunningEvmNode } from './evm-node';

export interface WalletProvisioning {
  /** made: a new seed; imported: WALLET_MNEMONIC sealed into the database; kept: the stored one. */
  seed: 'made' | 'imported' | 'kept';
  /** Each network's hot and collection wallet, and whether it was made now. */
  wallets: { networkId: string; kind: NetworkWalletKind; address: string; made: boolean }[];
}

/**
 * Makes the seed if there is none: WALLET_MNEMONIC sealed, or (outside production) a new 24-word phrase; a stored seed is
 * never replaced, and a WALLET_MNEMONIC that is not it stops the start. Then gives every network without a hot or a
 * collection wallet a new key for it, sealed.
 */
export async function provisionWallets(db: Db, config: Pick<Config, 'secrets' | 'wallets'>): Promise<WalletProvisioning> {
  const seed = await provisionSeed(db, config);
  const networkIds = (await listNetworks(db, { includeInactive: true })).map((n) => n.id);
  const made = await provisionNetworkWallets(db, config.secrets.keys, networkIds);
  const wallets = (await listNetworkWallets(db)).map((w) => ({ ...w, made: made.has(`${w.networkId}/${w.kind}`) }));
  return { seed, wallets };
}

async function provisionSeed(db: Db, { secrets, wallets }: Pick<Config, 'secrets' | 'wallets'>): Promise<WalletProvisioning['seed']> {
  let xpub = await storedSeedXpub(db);
  if (!xpub) {
    if (!wallets.mnemonic && !wallets.mayMakeSeed) {
      throw new Error('there is no wallet seed: set WALLET_MNEMONIC to a BIP-39 phrase kept offline (production never makes one: it would have no backup)');
    }
    const sealed = sealSeed(secrets.keys, wallets.mnemonic);
    // Another process may have stored one first: then the stored one is compared like any other.
    if (await saveSeed(db, sealed)) return wallets.mnemonic ? 'imported' : 'made';
    xpub = (await storedSeedXpub(db))!;
  }
  if (wallets.mnemonic && !isSameSeed(wallets.mnemonic, xpub)) {
    throw new Error('WALLET_MNEMONIC is not the wallet seed stored in the database, from which the deposit addresses derive: the stored seed is kept; unset WALLET_MNEMONIC or set the phrase of the stored seed');
  }
  return 'kept';
}

/** What each hot and collection wallet of the local chain holds after funding: gas, and each test token in whole tokens. */
export const LOCAL_WALLET_FUNDS = { ether: '100', tokens: '1000000' } as const;

export interface FundedWallet {
  kind: NetworkWalletKind;
  address: string;
  /** What was sent: ether, and each token's symbol, in whole units; empty when it held enough already. */
  sent: Record<string, string>;
}

/**
 * Tops up the hot and collection wallets of the node's network to LOCAL_WALLET_FUNDS, from the node's account #0 (which
 * holds its ether and alone mints its tokens). Only what is missing is sent, so a second run sends nothing. A Hardhat
 * node starts afresh each time while the wallets stay in the database: run it after every start of the node.
 */
export async function fundLocalWallets(db: Db, node: Pick<RunningEvmNode, 'rpcUrl' | 'chainId' | 'tokens' | 'deployer'>): Promise<FundedWallet[]> {
  const network = await getNetworkByChainId(db, node.chainId);
  if (!network) throw new Error(`chain ${node.chainId} is not a registered network: provision it first`);
  const wallets = (await listNetworkWallets(db)).filter((w) => w.networkId === network.id);
  const provider = new JsonRpcProvider(node.rpcUrl, node.chainId, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1, pollingInterval: 50 });
  try {
    const deployer = await provider.getSigner(node.deployer);
    const pending: Promise<unknown>[] = [];
    const funded: FundedWallet[] = [];
    // Sent one after the other (the node numbers the nonces), awaited together: with interval mining they share a block.
    for (const { kind, address } of wallets) {
      const sent: Record<string, string> = {};
      const ether = parseEther(LOCAL_WALLET_FUNDS.ether) - (await provider.getBalance(address));
      if (ether > 0n) {
        pending.push((await deployer.sendTransaction({ to: address, value: ether })).wait());
        sent.ETH = fromBaseUnits(ether.toString(), 18);
      }
      for (const token of node.tokens) {
        const contract = new Contract(token.address, TestTokenArtifact.abi as InterfaceAbi, deployer);
        const missing = parseUnits(LOCAL_WALLET_FUNDS.tokens, token.decimals) - ((await contract.balanceOf(address)) as bigint);
        if (missing <= 0n) continue;
        pending.push((await contract.mint(address, missing)).wait());
        sent[token.symbol] = fromBaseUnits(missing.toString(), token.decimals);
      }
      funded.push({ kind, address, sent });
    }
    await Promise.all(pending);
    return funded;
  } finally {
    provider.destroy();
  }
}
