// The test stack's chain, for test files: the Hardhat node globalSetup started (automine: a block per transaction), its
// tokens, its funded accounts, and the controls of a dev chain (mint, mine, snapshot / revert).
//
// Every test file of a run shares this one node, one file after another. A file that moves the chain in ways others could
// notice (a revert, many blocks) takes a snapshot first and reverts to it at the end: `evm_revert` drops every block
// since the snapshot, and that snapshot with it (take another to revert again). Blocks mined after a revert have other
// hashes at the same heights, and the logs of the dropped blocks just vanish (never `removed: true`).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Contract, JsonRpcProvider, type InterfaceAbi, type JsonRpcSigner } from 'ethers';
import TestTokenArtifact from '../../chain/artifacts/TestToken.json';
import { toBaseUnits } from '../../domain/chain';
import { LOCAL_CHAIN_ID, type LocalToken } from '../../scripts/stack/evm-node';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\` (jest's globalSetup starts the test stack)`);
  return value;
}

export const chainEnv = {
  /** JSON-RPC URL of the test stack's Hardhat node. */
  get rpcUrl(): string {
    return required('EVM_RPC_URL');
  },
  /** USDT (6 decimals) and DAI (18), deployed at start-up and registered, with the node, as the network `local`. */
  get tokens(): LocalToken[] {
    return JSON.parse(required('EVM_TOKENS')) as LocalToken[];
  },
};

export interface TestChain {
  provider: JsonRpcProvider;
  rpcUrl: string;
  chainId: number;
  tokens: LocalToken[];
  token(symbol: string): LocalToken;
  /** Account #index of the node's 20 (10,000 ETH each, unlocked: the node signs). #0 deployed the tokens and mints them. */
  signer(index: number): Promise<JsonRpcSigner>;
  /** Mints `amount` (in token units, "12.5") to an address; resolves once mined. */
  mint(symbol: string, to: string, amount: string): Promise<MinedTransaction>;
  /** Sends `amount` of a token from account #fromIndex (mint to it first); resolves once mined. */
  transferToken(symbol: string, fromIndex: number, to: string, amount: string): Promise<MinedTransaction>;
  /** Base units, decimal. */
  tokenBalance(symbol: string, owner: string): Promise<string>;
  /** Sets an address's ETH balance (wei, decimal): gas for a wallet the test made. */
  setBalance(address: string, wei: string): Promise<void>;
  blockNumber(): Promise<number>;
  /** Mines `blocks` empty blocks at once (confirmations). */
  mine(blocks?: number): Promise<void>;
  snapshot(): Promise<string>;
  revert(snapshotId: string): Promise<void>;
  close(): void;
}

export interface MinedTransaction {
  hash: string;
  blockNumber: number;
  blockHash: string;
}

/** A connection to the test chain; close it in afterAll. */
export function connectTestChain(): TestChain {
  const rpcUrl = chainEnv.rpcUrl;
  const tokens = chainEnv.tokens;
  const provider = new JsonRpcProvider(rpcUrl, LOCAL_CHAIN_ID, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1, pollingInterval: 20 });
  const token = (symbol: string): LocalToken => {
    const found = tokens.find((t) => t.symbol === symbol);
    if (!found) throw new Error(`the test chain has no token ${symbol} (it has ${tokens.map((t) => t.symbol).join(', ')})`);
    return found;
  };
  const signer = (index: number) => provider.getSigner(index);
  const contract = (symbol: string, runner: JsonRpcSigner | JsonRpcProvider) => new Contract(token(symbol).address, TestTokenArtifact.abi as InterfaceAbi, runner);
  const send = async (symbol: string, fromIndex: number, method: 'mint' | 'transfer', to: string, amount: string): Promise<MinedTransaction> => {
    const tx = await contract(symbol, await signer(fromIndex))[method](to, toBaseUnits(amount, token(symbol)));
    const receipt = await tx.wait();
    return { hash: receipt.hash.toLowerCase(), blockNumber: receipt.blockNumber, blockHash: receipt.blockHash.toLowerCase() };
  };

  return {
    provider,
    rpcUrl,
    chainId: LOCAL_CHAIN_ID,
    tokens,
    token,
    signer,
    mint: (symbol, to, amount) => send(symbol, 0, 'mint', to, amount),
    transferToken: (symbol, fromIndex, to, amount) => send(symbol, fromIndex, 'transfer', to, amount),
    async tokenBalance(symbol, owner) {
      return ((await contract(symbol, provider).balanceOf(owner)) as bigint).toString();
    },
    async setBalance(address, wei) {
      await provider.send('hardhat_setBalance', [address, `0x${BigInt(wei).toString(16)}`]);
    },
    blockNumber: () => provider.getBlockNumber(),
    async mine(blocks = 1) {
      await provider.send('hardhat_mine', [`0x${blocks.toString(16)}`]);
    },
    snapshot: () => provider.send('evm_snapshot', []) as Promise<string>,
    async revert(snapshotId) {
      const reverted = (await provider.send('evm_revert', [snapshotId])) as boolean;
      if (!reverted) throw new Error(`evm_revert(${snapshotId}) refused: a snapshot can be reverted to only once`);
    },
    close: () => provider.destroy(),
  };
}

/**
 * How an RpcProxy answers: `pass` forwards to the node; `down` answers HTTP 502; `hang` never answers; `rate-limited`
 * answers a JSON-RPC -32005 error; `wrong-chain` says eth_chainId 0x1 and forwards the rest.
 */
export type RpcProxyMode = 'pass' | 'down' | 'hang' | 'rate-limited' | 'wrong-chain';

export interface RpcProxy {
  /** Its URL, with a path standing for an API key: errors must never show it. */
  url: string;
  mode: RpcProxyMode;
  /** JSON-RPC requests it received. */
  requests: number;
  close(): Promise<void>;
}

/** An RPC URL in front of the test node whose failures the test chooses: for failover tests. */
export async function startRpcProxy(mode: RpcProxyMode = 'pass'): Promise<RpcProxy> {
  const target = chainEnv.rpcUrl;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      proxy.requests++;
      void answer(body, res);
    });
  });
  const answer = async (body: string, res: http.ServerResponse) => {
    const { id, method } = JSON.parse(body) as { id: number; method: string };
    const json = (payload: Record<string, unknown>) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id, ...payload }));
    switch (proxy.mode) {
      case 'hang':
        return;
      case 'down':
        res.writeHead(502).end('Bad Gateway');
        return;
      case 'rate-limited':
        json({ error: { code: -32005, message: 'daily request count exceeded, request rate limited' } });
        return;
      case 'wrong-chain':
        if (method === 'eth_chainId') return json({ result: '0x1' });
    }
    const forwarded = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    res.writeHead(forwarded.status, { 'content-type': 'application/json' }).end(await forwarded.text());
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: RpcProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v3/secret-api-key`,
    mode,
    requests: 0,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return proxy;
}
