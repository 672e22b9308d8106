// The local chain of the stack: a Hardhat 2 node (chain/hardhat.config.js) run as one of its services, with the two ERC-20
// test tokens deployed from account #0, and its registration in the database as the network `local`.
//
// Resetting its state (tests): `evm_snapshot` returns an id; `evm_revert(id)` brings the chain back to it, dropping the
// blocks since (and every later snapshot; take a new one after a revert). Blocks whose transactions are reverted are
// replaced by new blocks with other hashes at the same heights, and no log comes back `removed: true`: watchers must
// remember block hashes. `hardhat_mine(hexCount)` mines blocks at once (confirmations); `evm_mine` mines one.
// See test/support/chain.ts.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Contract, ContractFactory, getCreateAddress, JsonRpcProvider, type InterfaceAbi } from 'ethers';
import { hostOf } from '../../activities/providers/evm-client';
import TestTokenArtifact from '../../chain/artifacts/TestToken.json';
import { ROOT_DIR } from '../../config';
import type { Db } from '../../db/knex';
import { getNetwork, getNetworkByChainId, getToken, saveNetwork, saveToken } from '../../db/networks';
import type { Service, ServiceGroup } from './processes';

export const LOCAL_CHAIN_ID = 31337;
export const LOCAL_NETWORK_ID = 'local';
/** Deployed in this order from account #0: on a fresh node at its nonces 0 and 1, so always at the same addresses. */
export const LOCAL_TOKENS = [
  { symbol: 'USDT', name: 'Tether USD (local test token)', decimals: 6 },
  { symbol: 'DAI', name: 'Dai Stablecoin (local test token)', decimals: 18 },
] as const;

const HARDHAT_CONFIG = path.join(ROOT_DIR, 'chain', 'hardhat.config.js');
const START_TIMEOUT_MS = 60_000;

export interface EvmNodeOptions {
  port: number;
  /** 'auto': a block for each transaction (tests mine more with hardhat_mine); else a block every intervalMs, as a real chain. */
  mining: 'auto' | { intervalMs: number };
  /** The mnemonic of its 20 funded accounts; Hardhat's well-known test mnemonic when omitted. */
  mnemonic?: string;
  /** LOCAL_CHAIN_ID when omitted. */
  chainId?: number;
}

export interface LocalToken {
  symbol: string;
  name: string;
  /** Lower case. */
  address: string;
  decimals: number;
}

export interface RunningEvmNode {
  service: Service;
  rpcUrl: string;
  chainId: number;
  tokens: LocalToken[];
  /** Account #0: deployed the tokens, and alone may mint them. */
  deployer: string;
}

/** Starts `hardhat node` on 127.0.0.1:port, waits until it answers JSON-RPC, then deploys the test tokens (or finds them). */
export async function startEvmNode(group: ServiceGroup, { port, mining, mnemonic, chainId = LOCAL_CHAIN_ID }: EvmNodeOptions): Promise<RunningEvmNode> {
  const service = group.spawn({
    name: 'evm',
    command: process.execPath,
    // Resolved here, not at import: hardhat is a dev dependency, absent from the production image.
    args: [require.resolve('hardhat/internal/cli/bootstrap.js'), 'node', '--hostname', '127.0.0.1', '--port', String(port), '--config', HARDHAT_CONFIG],
    cwd: ROOT_DIR,
    env: {
      DURAPAY_EVM_MINING_INTERVAL_MS: mining === 'auto' ? '0' : String(mining.intervalMs),
      ...(mnemonic && { DURAPAY_EVM_MNEMONIC: mnemonic }),
      DURAPAY_EVM_CHAIN_ID: String(chainId),
      HARDHAT_DISABLE_TELEMETRY_PROMPT: 'true',
    },
    // Its stdout is a banner (the test accounts' well-known keys) and a line per call; stderr has what is worth seeing.
    echo: (_line, stream) => stream === 'stderr',
  });
  const rpcUrl = `http://127.0.0.1:${port}`;
  await waitUntilServing(service, rpcUrl, chainId);
  const provider = new JsonRpcProvider(rpcUrl, chainId, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1, pollingInterval: 50 });
  try {
    await provider.send('hardhat_setLoggingEnabled', [false]); // a line per call costs CPU the stack needs
    const [deployer] = (await provider.send('eth_accounts', [])) as string[];
    const tokens = await deployTokens(provider, deployer);
    return { service, rpcUrl, chainId, tokens, deployer: deployer.toLowerCase() };
  } finally {
    provider.destroy();
  }
}

async function waitUntilServing(service: Service, rpcUrl: string, chainId: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = 'no answer yet';
  for (;;) {
    if (!service.running()) throw new Error(`the EVM node ${await service.exited} before serving ${rpcUrl}. Its last output:\n${service.tail()}`);
    try {
      const res = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal: AbortSignal.timeout(2000),
      });
      const { result } = (await res.json()) as { result?: string };
      if (Number(result) === chainId) return;
      lastError = `eth_chainId answered ${result}`;
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`the EVM node did not serve ${rpcUrl} within ${START_TIMEOUT_MS / 1000}s (${lastError}). Its last output:\n${service.tail()}`);
    }
    await sleep(100);
  }
}

/** Each test token at its deterministic address when it is there already (a node that kept its state), else deployed now. */
async function deployTokens(provider: JsonRpcProvider, deployer: string): Promise<LocalToken[]> {
  const signer = await provider.getSigner(deployer);
  const factory = new ContractFactory(TestTokenArtifact.abi as InterfaceAbi, TestTokenArtifact.bytecode, signer);
  // Sent one after the other (the node numbers their nonces), mined together.
  const deployments = [];
  for (const [nonce, token] of LOCAL_TOKENS.entries()) {
    const expected = getCreateAddress({ from: deployer, nonce });
    if (await isDeployed(provider, expected, token)) {
      deployments.push(Promise.resolve(expected));
      continue;
    }
    const contract = await factory.deploy(token.name, token.symbol, token.decimals);
    deployments.push(contract.waitForDeployment().then(() => contract.getAddress()));
  }
  const addresses = await Promise.all(deployments);
  return LOCAL_TOKENS.map((token, i) => ({ ...token, address: addresses[i].toLowerCase() }));
}

async function isDeployed(provider: JsonRpcProvider, address: string, token: (typeof LOCAL_TOKENS)[number]): Promise<boolean> {
  if ((await provider.getCode(address)) === '0x') return false;
  const contract = new Contract(address, TestTokenArtifact.abi as InterfaceAbi, provider);
  const [symbol, decimals] = await Promise.all([contract.symbol(), contract.decimals()]);
  return symbol === token.symbol && Number(decimals) === token.decimals;
}

export interface LocalNetworkSettings {
  confirmations: number;
  blockTimeMs: number;
}

export interface ProvisionNetworkResult {
  /** provisioned: the first time; refreshed: its URL, confirmations and tokens set to this node's; kept: left as stored (see reason). */
  outcome: 'provisioned' | 'refreshed' | 'kept';
  reason?: string;
}

/**
 * Registers the node as the network `local` with its tokens, as `npm start` and the tests need it. A `local` network that
 * an operator pointed elsewhere, or this chain id registered under another name, is theirs and stays as it is.
 */
export async function provisionLocalNetwork(
  db: Db,
  node: Pick<RunningEvmNode, 'rpcUrl' | 'chainId' | 'tokens'>,
  settings: LocalNetworkSettings,
): Promise<ProvisionNetworkResult> {
  const stored = await getNetwork(db, LOCAL_NETWORK_ID);
  const elsewhere = stored?.rpcUrls.find((url) => !isLoopback(url));
  if (elsewhere) return { outcome: 'kept', reason: `network ${LOCAL_NETWORK_ID} points at ${hostOf(elsewhere)}, not at this machine` };
  const sameChain = await getNetworkByChainId(db, node.chainId);
  if (sameChain && sameChain.id !== LOCAL_NETWORK_ID) return { outcome: 'kept', reason: `chain ${node.chainId} is registered as network ${sameChain.id}` };

  await db.transaction(async (trx) => {
    await saveNetwork(trx, {
      id: LOCAL_NETWORK_ID,
      chainId: node.chainId,
      name: 'Local chain (Hardhat)',
      rpcUrls: [node.rpcUrl],
      confirmations: settings.confirmations,
      blockTimeMs: settings.blockTimeMs,
      active: stored?.active ?? true,
    });
    for (const token of node.tokens) {
      const existing = await getToken(trx, LOCAL_NETWORK_ID, token.symbol);
      await saveToken(trx, {
        id: existing?.id ?? `${LOCAL_NETWORK_ID}-${token.symbol.toLowerCase()}`,
        networkId: LOCAL_NETWORK_ID,
        symbol: token.symbol,
        name: token.name,
        contractAddress: token.address,
        decimals: token.decimals,
        active: existing?.active ?? true,
      });
    }
  });
  return { outcome: stored ? 'refreshed' : 'provisioned' };
}

function isLoopback(url: string): boolean {
  const host = new URL(url).hostname;
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
