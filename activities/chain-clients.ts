// One EVM client per chain for the activities, built from the network's row: an operator's change of RPC URLs is picked up
// within NETWORK_FRESH_MS, without a restart of the worker.
import type { Db } from '../db/knex';
import { getNetworkByChainId } from '../db/networks';
import { DomainError } from '../domain/errors';
import { createEvmClient, type EvmClient, type EvmClientOptions } from './providers/evm-client';

/** How long a network's row read is used before it is read again: a send asks for its chain's client several times. */
export const NETWORK_FRESH_MS = 5_000;

export interface ChainClients {
  /** The client of a registered network; not_found when no network has this chain id. */
  forChain(chainId: number): Promise<EvmClient>;
  close(): void;
}

export function createChainClients(db: Db, options: EvmClientOptions = {}): ChainClients {
  // Keyed by chain and URL list: a client keeps what it learnt of each URL (which one is down) while the list stays.
  const clients = new Map<number, { urls: string; client: EvmClient; readAt: number }>();
  return {
    async forChain(chainId) {
      const cached = clients.get(chainId);
      if (cached && Date.now() - cached.readAt < NETWORK_FRESH_MS) return cached.client;
      const readAt = Date.now();
      const network = await getNetworkByChainId(db, chainId);
      if (!network) throw new DomainError('not_found', `no network has chain id ${chainId}`);
      const urls = JSON.stringify(network.rpcUrls);
      if (cached?.urls === urls) {
        cached.readAt = readAt;
        return cached.client;
      }
      const client = createEvmClient({ chainId, rpcUrls: network.rpcUrls }, options);
      clients.set(chainId, { urls, client, readAt });
      // The old one may still serve a call in flight; it holds no connection of its own to close.
      return client;
    },
    close() {
      for (const { client } of clients.values()) client.close();
      clients.clear();
    },
  };
}
