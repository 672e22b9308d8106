// Withdrawals and merchant payments in tests: users holding tokens in the ledger, recipients, what the chain and the ledger
// say of a payout, its notifications, an RPC gate whose failures a test chooses, and chain snapshots that leave the nonce
// allocator in step with the chain.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { getAddress, Wallet, zeroPadValue } from 'ethers';
import { TRANSFER_TOPIC } from '../../activities/providers/evm-client';
import { chainTxsOf, forgetChainSends, type ChainTxRecord } from '../../db/chain-sends';
import { loadConfig } from '../../config';
import { createDb, type Db } from '../../db/knex';
import { getNetwork, saveNetwork } from '../../db/networks';
import { getWithdrawal, type WithdrawalRecord, type WithdrawalRowStatus } from '../../db/withdrawals';
import { LOCAL_CHAIN_ID, LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import type { TestApp } from './app';
import { chainEnv, connectTestChain, type TestChain } from './chain';
import { givenUser } from './ledger';
import { waitFor } from './processes';

/** A fresh address nobody holds tokens at, lower case. */
export const newRecipient = (): string => Wallet.createRandom().address.toLowerCase();

/** The same address as a caller would write it: EIP-55 mixed case. */
export const checksummed = (address: string): string => getAddress(address);

/**
 * Jest hooks: how the API asks payouts to be followed (CHAIN_CONFIRM_POLL_MS, CHAIN_STUCK_AFTER_MS), through the environment
 * it reads when it starts: call before useWorkerAndApp / startTestApp. Put back after the file.
 */
export function useChainSendSettings(settings: { pollMs?: number; stuckAfterMs?: number }): void {
  const saved: Record<string, string | undefined> = {};
  beforeAll(() => {
    const env = { CHAIN_CONFIRM_POLL_MS: settings.pollMs, CHAIN_STUCK_AFTER_MS: settings.stuckAfterMs };
    for (const [name, value] of Object.entries(env)) {
      if (value === undefined) continue;
      saved[name] = process.env[name];
      process.env[name] = String(value);
    }
  });
  afterAll(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}

/** The app as seen by a caller whose API asks payouts to be followed with a look every `pollMs` (the first one N+1 looks in). */
export function withConfirmPollMs(app: TestApp, pollMs: number): TestApp {
  return { ...app, config: { ...app.config, chain: { ...app.config.chain, sends: { ...app.config.chain.sends, confirmPollMs: pollMs } } } };
}

/**
 * Brings the chain back to a snapshot, forgetting the sends made since (forgetChainSends): the allocator never hands out a
 * nonce below the ones it gave, as a real chain never forgets a mined transaction.
 */
export async function revertChain(chain: TestChain, db: Db, snapshotId: string): Promise<void> {
  await chain.revert(snapshotId);
  await forgetChainSends(db, LOCAL_CHAIN_ID);
}

/**
 * Jest hooks: the test chain, snapshotted before the file and reverted after it (with the allocator, see revertChain), so
 * no other file sees what this one did to it. Call before useWorkerAndApp: hooks after a file run in the order declared,
 * and the revert must come while nothing of this file's still sends.
 */
export function useChainSnapshot(ready: (chain: TestChain) => void): void {
  let chain: TestChain | undefined;
  let snapshot: string | undefined;
  beforeAll(async () => {
    chain = connectTestChain();
    snapshot = await chain.snapshot();
    ready(chain);
  });
  afterAll(async () => {
    if (!chain) return;
    const db = createDb(loadConfig().db.url, 1);
    try {
      if (snapshot) await revertChain(chain, db, snapshot);
    } finally {
      await db.destroy();
      chain.close();
    }
  });
}

/** A registered user holding `amount` of a token in the ledger (a credit through the API, in the token's symbol). */
export async function givenTokenHolder(app: TestApp, symbol: string, amount: string): Promise<number> {
  const uid = await givenUser(app.db);
  if (amount !== '0') {
    const res = await app.api('/api/v1/credits', { headers: { 'Idempotency-Key': `fund-${uid}-${symbol}` }, body: { uid, amount, currency: symbol } });
    if (res.status !== 200) throw new Error(`crediting user ${uid} with ${amount} ${symbol} answered ${res.status}: ${res.text}`);
  }
  return uid;
}

/** Waits until the payout's row is in one of `statuses`; `chain` mines a block at every look (confirmations while waiting). */
export async function payoutReaches(db: Db, id: string, statuses: WithdrawalRowStatus[], options: { chain?: TestChain; timeoutMs?: number } = {}): Promise<WithdrawalRecord> {
  return waitFor(
    `payout ${id} to be ${statuses.join(' or ')}`,
    async () => {
      const payout = await getWithdrawal(db, id);
      if (payout && statuses.includes(payout.status)) return payout;
      await options.chain?.mine(1);
      return undefined;
    },
    options.timeoutMs ?? 60_000,
    100,
  );
}

/** Waits until a payout's transaction (any attempt) is in one of `statuses`, and returns every attempt. */
export async function payoutTxReaches(db: Db, id: string, statuses: ChainTxRecord['status'][], timeoutMs = 60_000): Promise<ChainTxRecord[]> {
  return waitFor(
    `a transaction of ${id} to be ${statuses.join(' or ')}`,
    async () => {
      const txs = await chainTxsOf(db, id);
      return txs.some((tx) => statuses.includes(tx.status)) ? txs : undefined;
    },
    timeoutMs,
    100,
  );
}

/** The token's Transfer logs to `recipient` on the canonical chain. */
export async function transfersTo(chain: TestChain, symbol: string, recipient: string): Promise<{ from: string; value: bigint; txHash: string; blockHash: string }[]> {
  const logs = await chain.provider.getLogs({ address: chain.token(symbol).address, fromBlock: 0, toBlock: 'latest', topics: [TRANSFER_TOPIC, null, zeroPadValue(recipient, 32)] });
  return logs.map((log) => ({ from: `0x${log.topics[1].slice(26)}`, value: BigInt(log.data), txHash: log.transactionHash.toLowerCase(), blockHash: log.blockHash.toLowerCase() }));
}

/** Every notification recorded for a payout (NotificationWorkflow records it first thing): ids `{payoutId}:…`. */
export async function notificationsOf(db: Db, payoutId: string): Promise<{ id: string; channel: string; payload: Record<string, unknown> }[]> {
  const rows: { id: string; channel: string; payload: string }[] = await db('notifications').where('id', 'like', `${payoutId}:%`).select('id', 'channel', 'payload');
  return rows.map((r) => ({ id: r.id, channel: r.channel, payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload }));
}

/** How many runs Temporal has of a workflow id (each start of NotificationWorkflow for it is one). */
export async function runsOf(app: TestApp, workflowId: string): Promise<number> {
  let runs = 0;
  for await (const _ of app.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs++;
  return runs;
}

/** Points the `local` network at other RPC URLs; returns the way back. The worker reads them at its next chain call. */
export async function pointLocalNetworkAt(db: Db, rpcUrls: string[]): Promise<() => Promise<void>> {
  const network = (await getNetwork(db, LOCAL_NETWORK_ID))!;
  await saveNetwork(db, { ...network, rpcUrls });
  return async () => saveNetwork(db, network);
}

/**
 * How an RpcGate answers: pass forwards everything; down answers 502 to everything; refuse-sends answers 502 to
 * eth_sendRawTransaction only (the transaction never reaches the node); swallow-sends forwards eth_sendRawTransaction to the
 * node and never answers (the node has it, the sender never learns).
 */
export type RpcGateMode = 'pass' | 'down' | 'refuse-sends' | 'swallow-sends';

export interface RpcGate {
  url: string;
  mode: RpcGateMode;
  /** eth_sendRawTransaction requests received, whatever was done with them. */
  sends: number;
  close(): Promise<void>;
}

/** An RPC URL in front of the test node whose failures the test chooses, per method. */
export async function startRpcGate(mode: RpcGateMode = 'pass'): Promise<RpcGate> {
  const target = chainEnv.rpcUrl;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => void answer(body, res));
  });
  const answer = async (body: string, res: http.ServerResponse) => {
    const parsed = JSON.parse(body) as { method?: string } | { method?: string }[];
    const methods = (Array.isArray(parsed) ? parsed : [parsed]).map((p) => p.method);
    const sending = methods.includes('eth_sendRawTransaction');
    if (sending) gate.sends++;
    if (gate.mode === 'down' || (gate.mode === 'refuse-sends' && sending)) {
      res.writeHead(502).end('Bad Gateway');
      return;
    }
    const forwarded = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    const text = await forwarded.text();
    if (gate.mode === 'swallow-sends' && sending) return; // the node took it; the answer is lost
    res.writeHead(forwarded.status, { 'content-type': 'application/json' }).end(text);
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const gate: RpcGate = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    mode,
    sends: 0,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return gate;
}
