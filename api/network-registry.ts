// Registering a network or a token (admin, seed 002/003: each network with its RPC URLs, chain id and confirmations).
// Nothing is stored before the chain says it is right: every RPC URL must answer, as the chain id given, and a token's
// contract must be there with the decimals given. Then the network gets its hot and collection wallets, and every
// active token its ChainScannerWorkflow. Processes that cached the network row (for NETWORK_FRESH_MS) see a change
// within that time.
import type { Client } from '@temporalio/client';
import { createEvmClient, EvmRpcError, hostOf } from '../activities/providers/evm-client';
import { provisionNetworkWallets } from '../activities/providers/wallet-keys';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { getNetwork, getNetworkByChainId, getToken, listTokens, saveNetwork, saveToken, type Network, type Token } from '../db/networks';
import { listNetworkWallets, type NetworkWallet } from '../db/wallets';
import { DomainError } from '../domain/errors';
import { scannerSettings, startChainScanners } from './routes/deposits';

/** How long one RPC URL may take to answer while a network or token is registered. */
const PROBE_TIMEOUT_MS = 5000;

export interface RegistryDeps {
  db: Db;
  client: Client;
  config: Config;
}

export type NetworkRegistration = Omit<Network, 'id'>;
export type TokenRegistration = Pick<Token, 'name' | 'contractAddress' | 'decimals' | 'active'>;

/** Whether an RPC URL (by host) answered as the chain when the network was registered. */
interface EndpointCheck {
  url: string;
  answered: boolean;
  error?: string;
}

export interface RegisteredNetwork {
  network: Network;
  created: boolean;
  wallets: NetworkWallet[];
}

/** Creates the network or changes it (its chain id never changes: deposits and sends are recorded under it). */
export async function registerNetwork(deps: RegistryDeps, id: string, registration: NetworkRegistration): Promise<RegisteredNetwork> {
  const { db, config } = deps;
  const existing = await getNetwork(db, id);
  if (existing && existing.chainId !== registration.chainId) {
    throw new DomainError('exists_with_different_fields', `network ${id} is chain ${existing.chainId}: a network's chain id cannot change (its deposits and sends are recorded under it)`);
  }
  const sameChain = await getNetworkByChainId(db, registration.chainId);
  if (sameChain && sameChain.id !== id) throw new DomainError('exists_with_different_fields', `chain ${registration.chainId} is network ${sameChain.id} already`);

  const endpoints = await checkEndpoints(registration.chainId, registration.rpcUrls);
  const failed = endpoints.filter((e) => !e.answered);
  if (failed.length > 0) {
    const what = failed.map((e) => `${e.url}: ${e.error}`).join('; ');
    throw new DomainError('chain_unreachable', `every RPC URL must answer as chain ${registration.chainId} (${what})`);
  }

  const network: Network = { id, ...registration };
  await saveNetwork(db, network);
  await provisionNetworkWallets(db, config.secrets.keys, [id]);
  if (network.active) await startChainScanners(deps.client, db, scannerSettings(config));
  const wallets = (await listNetworkWallets(db)).filter((w) => w.networkId === id);
  return { network, created: !existing, wallets };
}

/** Each URL on its own: whether it answered as the chain (errors name the host only: a URL may carry a provider's key). */
async function checkEndpoints(chainId: number, rpcUrls: string[]): Promise<EndpointCheck[]> {
  return Promise.all(
    rpcUrls.map(async (url) => {
      const client = createEvmClient({ chainId, rpcUrls: [url] }, { timeoutMs: PROBE_TIMEOUT_MS });
      try {
        await client.blockNumber();
        return { url: hostOf(url), answered: true };
      } catch (err) {
        return { url: hostOf(url), answered: false, error: client.endpoints()[0]?.lastError ?? (err as Error).message };
      } finally {
        client.close();
      }
    }),
  );
}

export interface RegisteredToken {
  token: Token;
  created: boolean;
}

/** Creates the network's token or changes it (its contract never changes: deposits are recorded under it). */
export async function registerToken(deps: RegistryDeps, networkId: string, symbol: string, registration: TokenRegistration): Promise<RegisteredToken> {
  const { db, config } = deps;
  const network = await getNetwork(db, networkId);
  if (!network) throw new DomainError('not_found', `no network ${networkId}`);
  const contract = registration.contractAddress.toLowerCase();
  const existing = await getToken(db, networkId, symbol);
  if (existing && existing.contractAddress !== contract) {
    throw new DomainError('exists_with_different_fields', `${symbol} on ${networkId} is the contract ${existing.contractAddress}: a token's contract cannot change (its deposits are recorded under it)`);
  }
  const sameContract = (await listTokens(db, { networkId, includeInactive: true })).find((t) => t.contractAddress === contract && t.symbol !== symbol);
  if (sameContract) throw new DomainError('exists_with_different_fields', `the contract ${contract} is ${sameContract.symbol} on ${networkId} already`);

  const decimals = await decimalsOnChain(network, contract);
  if (decimals !== registration.decimals) {
    throw new DomainError('token_mismatch', `the contract ${contract} on ${networkId} has ${decimals} decimals, not ${registration.decimals}`);
  }

  await saveToken(db, { id: existing?.id ?? `${networkId}-${symbol.toLowerCase()}`, networkId, symbol, ...registration, contractAddress: contract });
  if (network.active && registration.active) await startChainScanners(deps.client, db, scannerSettings(config));
  return { token: (await getToken(db, networkId, symbol))!, created: !existing };
}

async function decimalsOnChain(network: Network, contract: string): Promise<number> {
  const client = createEvmClient(network, { timeoutMs: PROBE_TIMEOUT_MS });
  try {
    return await client.tokenDecimals(contract);
  } catch (err) {
    if (!(err instanceof EvmRpcError)) throw err;
    if (err.code === 'rpc_unavailable') throw new DomainError('chain_unreachable', `no RPC URL of ${network.id} answered: ${err.message}`);
    // No contract there, or one without decimals(): not an ERC-20 token.
    throw new DomainError('token_mismatch', `the address ${contract} on ${network.id} is not an ERC-20 token (${err.code})`);
  } finally {
    client.close();
  }
}
