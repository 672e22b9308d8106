// Networks and tokens (seed 003): the chains durapay watches and the ERC-20 tokens it accepts on each.
import type { Db } from './knex';

export interface Network {
  /** e.g. `local`, `ethereum`, `bsc`. */
  id: string;
  chainId: number;
  name: string;
  /** Tried in order, with failover. May carry provider keys: never shown to callers. */
  rpcUrls: string[];
  confirmations: number;
  blockTimeMs: number;
  active: boolean;
}

export interface Token {
  /** e.g. `local-usdt`. */
  id: string;
  networkId: string;
  /** Its network's. */
  chainId: number;
  symbol: string;
  name: string;
  /** Lower case. */
  contractAddress: string;
  decimals: number;
  active: boolean;
}

interface NetworkRow {
  id: string;
  chain_id: string | number;
  name: string;
  rpc_urls: string | string[];
  confirmations: number;
  block_time_ms: number;
  active: 0 | 1;
}

interface TokenRow {
  id: string;
  network_id: string;
  chain_id: string | number;
  symbol: string;
  name: string;
  contract_address: string;
  decimals: number;
  active: 0 | 1;
}

const toNetwork = (row: NetworkRow): Network => ({
  id: row.id,
  chainId: Number(row.chain_id),
  name: row.name,
  // MySQL 8 hands JSON columns back parsed; MariaDB (whose JSON is LONGTEXT) as text.
  rpcUrls: typeof row.rpc_urls === 'string' ? (JSON.parse(row.rpc_urls) as string[]) : row.rpc_urls,
  confirmations: row.confirmations,
  blockTimeMs: row.block_time_ms,
  active: Boolean(row.active),
});

const toToken = (row: TokenRow): Token => ({
  id: row.id,
  networkId: row.network_id,
  chainId: Number(row.chain_id),
  symbol: row.symbol,
  name: row.name,
  contractAddress: row.contract_address,
  decimals: row.decimals,
  active: Boolean(row.active),
});

const tokensWithChainId = (db: Db) => db<TokenRow>('tokens').join('networks', 'networks.id', 'tokens.network_id').select('tokens.*', 'networks.chain_id');

/** Active networks (or all of them) by chain id. */
export async function listNetworks(db: Db, options: { includeInactive?: boolean } = {}): Promise<Network[]> {
  const query = db<NetworkRow>('networks').orderBy('chain_id');
  if (!options.includeInactive) query.where({ active: 1 });
  return (await query).map(toNetwork);
}

/** A network, active or not. */
export async function getNetwork(db: Db, id: string): Promise<Network | undefined> {
  const row = await db<NetworkRow>('networks').where({ id }).first();
  return row && toNetwork(row);
}

export async function getNetworkByChainId(db: Db, chainId: number): Promise<Network | undefined> {
  const row = await db<NetworkRow>('networks').where({ chain_id: chainId }).first();
  return row && toNetwork(row);
}

/** Tokens by network and symbol; by default only the active tokens of active networks. */
export async function listTokens(db: Db, options: { networkId?: string; includeInactive?: boolean } = {}): Promise<Token[]> {
  const query = tokensWithChainId(db).orderBy([{ column: 'networks.chain_id' }, { column: 'tokens.symbol' }]);
  if (options.networkId !== undefined) query.where('tokens.network_id', options.networkId);
  if (!options.includeInactive) query.where({ 'tokens.active': 1, 'networks.active': 1 });
  return (await query).map(toToken);
}

/** A token of a network by its symbol, active or not. */
export async function getToken(db: Db, networkId: string, symbol: string): Promise<Token | undefined> {
  const row = await tokensWithChainId(db).where({ 'tokens.network_id': networkId, 'tokens.symbol': symbol }).first();
  return row && toToken(row);
}

/** Creates the network or replaces its fields; its tokens stay. */
export async function saveNetwork(db: Db, network: Network): Promise<void> {
  const fields = {
    chain_id: network.chainId,
    name: network.name,
    rpc_urls: JSON.stringify(network.rpcUrls),
    confirmations: network.confirmations,
    block_time_ms: network.blockTimeMs,
    active: network.active,
  };
  await db('networks')
    .insert({ id: network.id, ...fields })
    .onConflict('id')
    .merge({ ...fields, updated_at: db.fn.now(3) });
}

/** Creates the token or replaces its fields; the contract address is stored in lower case. */
export async function saveToken(db: Db, token: Omit<Token, 'chainId'>): Promise<void> {
  const fields = {
    network_id: token.networkId,
    symbol: token.symbol,
    name: token.name,
    contract_address: token.contractAddress.toLowerCase(),
    decimals: token.decimals,
    active: token.active,
  };
  await db('tokens')
    .insert({ id: token.id, ...fields })
    .onConflict('id')
    .merge({ ...fields, updated_at: db.fn.now(3) });
}
