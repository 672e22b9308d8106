// `npm run bench -- chain [--deposits N] [--withdrawals W]`: the chain side of the engine on a private stack whose blocks
// the bench mines itself (one every EVM_MINING_INTERVAL_MS, the moment each one exists recorded) and whose M2Pool webhooks
// it receives and verifies. Three JSON lines: deposits detected per second with block → pending notification; N-th
// confirmation → final notification; withdrawals per second from the hot wallet against raw signed sends from the same
// wallet in the same run, and their ratio.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { Interface, JsonRpcProvider, toQuantity, Wallet, zeroPadValue, type InterfaceAbi } from 'ethers';
import { ERC20, TRANSFER_TOPIC } from '../activities/providers/evm-client';
import { createWalletSigner } from '../activities/providers/wallet-keys';
import { scannerSettings, startChainScanners } from '../api/routes/deposits';
import TestTokenArtifact from '../chain/artifacts/TestToken.json';
import { DEV_API_KEY, loadConfig, type Config } from '../config';
import { getScanCursor } from '../db/deposits';
import type { Db } from '../db/knex';
import { checkInvariants } from '../db/ledger';
import { depositAddressFor, hotWallet } from '../db/wallets';
import { confirmationWorkflowId, depositWorkflowId, toBaseUnits } from '../domain/chain';
import { verifyWebhookSignature } from '../domain/m2pool';
import { notificationWorkflowId } from '../domain/notification';
import { finalNotificationId, withdrawalWorkflowId } from '../domain/withdrawal';
import { quantile, round } from './bench-stats';
import { givenFundedUsers } from './fixtures';
import { LOCAL_NETWORK_ID, type LocalToken } from './stack/evm-node';
import type { Service } from './stack/processes';
import { startPrivateStack, type PrivateStack } from './stack/private-stack';

export interface ChainBenchOptions {
  deposits: number;
  withdrawals: number;
}

const TOKEN = 'USDT';
const DEPOSIT_AMOUNT = '10';
const WITHDRAWAL_AMOUNT = '1';
/** Deposits and withdrawals made (and waited for) before the measured ones, so that no figure pays for a cold worker. */
const WARMUP = 10;
const MINT = new Interface(TestTokenArtifact.abi as InterfaceAbi);

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const newRecipient = () => Wallet.createRandom().address.toLowerCase();
/** A DATETIME(3) the database wrote (UTC, knex's dateStrings) as Unix ms, comparable with Date.now(). */
const dbTime = (value: string) => Date.parse(`${value.replace(' ', 'T')}Z`);

function spread(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { p50: round(quantile(sorted, 0.5)), p99: round(quantile(sorted, 0.99)), max: round(sorted[sorted.length - 1]) };
}

async function mapConcurrent<T, R>(items: T[], concurrency: number, work: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    range(Math.min(concurrency, items.length)).map(async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i], i);
      }
    }),
  );
  return results;
}

async function waitUntil(what: string, done: () => boolean | Promise<boolean>, timeoutMs: number, progress?: () => string): Promise<void> {
  const started = Date.now();
  let reported = started;
  while (!(await done())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${progress ? ` (${progress()})` : ''}`);
    if (progress && Date.now() - reported >= 10_000) {
      log(`  … ${progress()}`);
      reported = Date.now();
    }
    await sleep(50);
  }
}

interface Delivery {
  channel: string;
  payload: { status?: number; queue_id?: string; tx_hash?: string };
  signatureValid: boolean;
  at: number;
}

/** The M2Pool webhook receiver the worker is pointed at: the first delivery of each notification id, and every repeat counted. */
async function startReceiver(secret: string) {
  const first = new Map<string, Delivery>();
  let repeats = 0;
  let badSignatures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const at = Date.now();
      const id = String(req.headers['durapay-notification-id'] ?? '');
      const signatureValid = verifyWebhookSignature(req.headers['durapay-signature'] as string | undefined, body, secret, at);
      if (!signatureValid) badSignatures++;
      if (first.has(id)) repeats++;
      else first.set(id, { channel: (req.url ?? '').split('/').pop() ?? '', payload: JSON.parse(body), signatureValid, at });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    first,
    counts: () => ({ repeats, badSignatures }),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/**
 * The chain's clock: a block every `blockMs` (the node's own interval mining switched off), each block's number and the
 * moment it existed recorded. Paused while a burst of transactions is sent, so that they land in as few blocks as fit.
 */
function startMiner(provider: JsonRpcProvider, blockMs: number) {
  const minedAt = new Map<number, number>();
  let paused = false;
  let stopped = false;
  let busy: Promise<number> = Promise.resolve(0);
  const mineNow = (): Promise<number> =>
    (busy = busy.then(async () => {
      await provider.send('evm_mine', []);
      const at = Date.now();
      const number = Number(await provider.send('eth_blockNumber', []));
      minedAt.set(number, at);
      return number;
    }));
  const loop = (async () => {
    let next = Date.now() + blockMs;
    while (!stopped) {
      await sleep(Math.max(0, next - Date.now()));
      next = Math.max(next + blockMs, Date.now());
      if (!paused && !stopped) await mineNow();
    }
  })();
  return {
    minedAt,
    mineNow,
    /** Resolves once no block is being mined and none will be until resume(). */
    async pause() {
      paused = true;
      await busy;
    },
    resume() {
      paused = false;
    },
    async stop() {
      stopped = true;
      await loop;
      await busy;
    },
  };
}
type Miner = ReturnType<typeof startMiner>;

interface Bench {
  stack: PrivateStack;
  api: Service;
  client: Client;
  db: Db;
  config: Config;
  provider: JsonRpcProvider;
  miner: Miner;
  receiver: Receiver;
  token: LocalToken;
  confirmations: number;
  blockMs: number;
}

const GRPC_NOT_FOUND = 5;

/**
 * What the server did for each item on average, from the histories of its workflows (`workflowIds` gives them per item),
 * over a sample: workflow tasks, activity tasks and timers — what the dev server's throughput is spent on.
 */
async function temporalTasksPerItem(bench: Bench, items: string[][], sample = 20) {
  const total = { workflowTasks: 0, activityTasks: 0, timers: 0 };
  const picked = items.filter((_, i) => i % Math.max(1, Math.floor(items.length / sample)) === 0).slice(0, sample);
  for (const ids of picked) {
    for (const id of ids) {
      // A notification delivered by the workflow that sent it has no workflow of its own.
      const history = await bench.client.workflow.getHandle(id).fetchHistory().catch((err: Error) => {
        if (err instanceof WorkflowNotFoundError || (err as { code?: number }).code === GRPC_NOT_FOUND) return undefined;
        throw err;
      });
      const events = history?.events;
      for (const e of events ?? []) {
        if (e.workflowTaskScheduledEventAttributes) total.workflowTasks++;
        if (e.activityTaskScheduledEventAttributes) total.activityTasks++;
        if (e.timerStartedEventAttributes) total.timers++;
      }
    }
  }
  return { workflowTasks: round(total.workflowTasks / picked.length), activityTasks: round(total.activityTasks / picked.length), timers: round(total.timers / picked.length) };
}

/** Waits until `block` is mined and `confirmations` more on top of it; returns the moment the last of them existed. */
async function confirmedAt(bench: Bench, block: number): Promise<number> {
  const target = block + bench.confirmations;
  await waitUntil(`block ${target}`, () => bench.miner.minedAt.has(target), 60_000);
  return bench.miner.minedAt.get(target)!;
}

// ——— Deposits ———

interface MintedDeposit {
  id: string;
  block: number;
}

/**
 * Mints the token to each address from the node's account #0 while no block is mined, then mines until all are in (as
 * few blocks as the block gas limit allows) and goes back to the regular cadence.
 */
async function depositBurst(bench: Bench, addresses: string[]): Promise<{ deposits: MintedDeposit[]; blocks: number[] }> {
  const { provider, miner, token, stack } = bench;
  const deployer = stack.evm.deployer;
  const units = BigInt(toBaseUnits(DEPOSIT_AMOUNT, token));
  const gas = ((await provider.estimateGas({ from: deployer, to: token.address, data: MINT.encodeFunctionData('mint', [newRecipient(), units]) })) * 11n) / 10n;
  await miner.pause();
  const blocks: number[] = [];
  let hashes: string[];
  try {
    const nonce = await provider.getTransactionCount(deployer, 'pending');
    hashes = await mapConcurrent(addresses, 32, (to, i) =>
      provider.send('eth_sendTransaction', [{ from: deployer, to: token.address, data: MINT.encodeFunctionData('mint', [to, units]), gas: toQuantity(gas), nonce: toQuantity(nonce + i) }]),
    );
    do blocks.push(await miner.mineNow());
    while ((await provider.getTransactionCount(deployer, 'latest')) < nonce + addresses.length);
  } finally {
    miner.resume();
  }
  const receipts = await mapConcurrent(hashes, 16, (hash) => provider.getTransactionReceipt(hash));
  const deposits = receipts.map((r) => {
    if (!r || r.status !== 1) throw new Error(`mint ${r?.hash} failed`);
    return { id: depositWorkflowId(bench.stack.evm.chainId, r.hash, r.logs[0].index), block: r.blockNumber };
  });
  return { deposits, blocks };
}

/** Users with deposit addresses on the local network, uids from `firstUid`. */
async function givenDepositors(db: Db, firstUid: number, count: number): Promise<string[]> {
  const uids = range(count).map((i) => firstUid + i);
  await givenFundedUsers(db, uids, '0', TOKEN);
  return mapConcurrent(uids, 8, async (uid) => (await depositAddressFor(db, uid, LOCAL_NETWORK_ID)).depositAddress.address);
}

async function waitForTopups(bench: Bench, deposits: MintedDeposit[], timeoutMs: number): Promise<void> {
  const { first } = bench.receiver;
  const count = (status: number) => deposits.filter((d) => first.has(`${d.id}:${status}`)).length;
  await waitUntil(`the topup notifications of ${deposits.length} deposits`, () => count(2) + count(1) + count(0) >= 2 * deposits.length, timeoutMs, () =>
    `${count(2)} pending, ${count(1)} final, ${count(0)} reorged of ${deposits.length}`,
  );
}

/** Medians of each step of the deposits, from the blocks' moments, the rows' timestamps and the receiver's clock. */
async function depositStages(bench: Bench, deposits: MintedDeposit[]) {
  const ids = deposits.map((d) => d.id);
  const rows: { id: string; created_at: string; confirmed_at: string | null }[] = await bench.db('deposits').whereIn('id', ids).select('id', 'created_at', 'confirmed_at');
  const notices: { id: string; created_at: string }[] = await bench
    .db('notifications')
    .whereIn('id', ids.flatMap((id) => [`${id}:2`, `${id}:1`]))
    .select('id', 'created_at');
  const row = new Map(rows.map((r) => [r.id, r]));
  const noticeAt = new Map(notices.map((n) => [n.id, dbTime(n.created_at)]));
  const steps = {
    pending: { minedToRecorded: [] as number[], recordedToNoticeStarted: [] as number[], noticeStartedToDelivered: [] as number[] },
    final: { nthConfirmationToCredited: [] as number[], creditedToNoticeStarted: [] as number[], noticeStartedToDelivered: [] as number[] },
  };
  for (const d of deposits) {
    const { created_at, confirmed_at } = row.get(d.id)!;
    const recorded = dbTime(created_at);
    const credited = dbTime(confirmed_at!);
    steps.pending.minedToRecorded.push(recorded - bench.miner.minedAt.get(d.block)!);
    steps.pending.recordedToNoticeStarted.push(noticeAt.get(`${d.id}:2`)! - recorded);
    steps.pending.noticeStartedToDelivered.push(bench.receiver.first.get(`${d.id}:2`)!.at - noticeAt.get(`${d.id}:2`)!);
    steps.final.nthConfirmationToCredited.push(credited - (await confirmedAt(bench, d.block)));
    steps.final.creditedToNoticeStarted.push(noticeAt.get(`${d.id}:1`)! - credited);
    steps.final.noticeStartedToDelivered.push(bench.receiver.first.get(`${d.id}:1`)!.at - noticeAt.get(`${d.id}:1`)!);
  }
  const medians = (group: Record<string, number[]>) => Object.fromEntries(Object.entries(group).map(([step, values]) => [step, spread(values).p50]));
  return { pending: medians(steps.pending), final: medians(steps.final) };
}

async function benchDeposits(bench: Bench, count: number): Promise<void> {
  const { db, receiver, miner } = bench;
  log(`${count + WARMUP} users with deposit addresses`);
  const addresses = await givenDepositors(db, 7_000_000, count + WARMUP);
  const head = Number(await bench.provider.send('eth_blockNumber', []));
  await waitUntil('the USDT scanner to reach the head', async () => ((await getScanCursor(db, LOCAL_NETWORK_ID, TOKEN))?.lastBlock ?? -1) >= head, 60_000);

  log(`warming up with ${WARMUP} deposits`);
  const warm = await depositBurst(bench, addresses.slice(count));
  await waitForTopups(bench, warm.deposits, 120_000);

  log(`${count} deposits to ${count} addresses`);
  const { deposits, blocks } = await depositBurst(bench, addresses.slice(0, count));
  log(`  mined in blocks ${blocks.join(', ')}; waiting for their pending and final notifications`);
  await waitForTopups(bench, deposits, 30 * 60_000);

  const firstMined = Math.min(...blocks.map((b) => miner.minedAt.get(b)!));
  const pending = deposits.map((d) => receiver.first.get(`${d.id}:2`)!.at);
  const toPending = deposits.map((d, i) => pending[i] - miner.minedAt.get(d.block)!);
  const finals = deposits.map((d) => receiver.first.get(`${d.id}:1`) ?? receiver.first.get(`${d.id}:0`)!);
  const toFinal = await Promise.all(deposits.map(async (d, i) => finals[i].at - (await confirmedAt(bench, d.block))));
  const topups = [...receiver.first.values()].filter((d) => d.channel === 'topup');

  const ids = deposits.map((d) => d.id);
  const stages = await depositStages(bench, deposits);
  const tasks = await temporalTasksPerItem(bench, ids.map((id) => [id, notificationWorkflowId(`${id}:2`), notificationWorkflowId(`${id}:1`)]));
  const credits: { reference: string; amount: string }[] = await db('transfers').where({ kind: 'deposit' }).whereIn('reference', ids).select('reference', 'amount');
  const credited = new Set(credits.map((c) => c.reference));
  const invariants = await checkInvariants(db);
  const { repeats, badSignatures } = receiver.counts();
  const detection = spread(toPending);
  console.log(
    JSON.stringify({
      bench: 'chain-deposits',
      deposits: count,
      blocks: blocks.length,
      depositsDetectedPerSecond: round(count / ((Math.max(...pending) - firstMined) / 1000)),
      blockToPendingP50Ms: detection.p50,
      blockToPendingP99Ms: detection.p99,
      blockToPendingMaxMs: detection.max,
      pendingNotifications: deposits.filter((d) => receiver.first.has(`${d.id}:2`)).length,
      credited: credited.size,
      duplicateCredits: credits.length - credited.size,
      wrongAmounts: credits.filter((c) => Number(c.amount) !== Number(DEPOSIT_AMOUNT)).length,
      repeatedDeliveries: repeats,
      badSignatures,
      ledgerInvariantsOk: invariants.ok,
      stagesP50Ms: stages.pending,
      scanIntervalMs: bench.config.deposits.scanIntervalMs,
      blockMs: bench.blockMs,
    }),
  );
  const final = spread(toFinal);
  console.log(
    JSON.stringify({
      bench: 'chain-confirmations',
      deposits: count,
      confirmations: bench.confirmations,
      nthConfirmationToFinalP50Ms: final.p50,
      nthConfirmationToFinalP99Ms: final.p99,
      nthConfirmationToFinalMaxMs: final.max,
      finalNotifications: finals.filter((f) => f.payload.status === 1).length,
      reorged: finals.filter((f) => f.payload.status === 0).length,
      topupNotificationsReceived: topups.length,
      stagesP50Ms: stages.final,
      temporalPerDeposit: tasks,
      checkIntervalMs: bench.config.deposits.checkIntervalMs,
      blockMs: bench.blockMs,
    }),
  );
}

// ——— Withdrawals ———

interface SendRun {
  seconds: number;
  perSecond: number;
  /** Sent → N-th confirmation, per transaction. */
  latency: { p50: number; p99: number; max: number };
}

/** The token's Transfer logs from `from` since `fromBlock`, counted per recipient. */
async function transfersFrom(bench: Bench, from: string, fromBlock: number): Promise<Map<string, number>> {
  const logs = await bench.provider.getLogs({ address: bench.token.address, fromBlock, toBlock: 'latest', topics: [TRANSFER_TOPIC, zeroPadValue(from, 32)] });
  const counts = new Map<string, number>();
  for (const l of logs) {
    const to = `0x${l.topics[2].slice(26)}`;
    counts.set(to, (counts.get(to) ?? 0) + 1);
  }
  return counts;
}

/**
 * What the engine is measured against: `count` token transfers signed with the hot wallet's key (the engine's own signer,
 * which opens the sealed key per signature), at nonces counted from the node's, sent at once, timed from the first
 * signature to the N-th confirmation of the last.
 */
async function rawSends(bench: Bench, hot: string, count: number): Promise<SendRun> {
  const { provider, token, db } = bench;
  const signer = createWalletSigner(db, bench.config.secrets.keys);
  const units = BigInt(toBaseUnits(WITHDRAWAL_AMOUNT, token));
  const recipients = range(count).map(newRecipient);
  const fees = await provider.getFeeData();
  const gasLimit = ((await provider.estimateGas({ from: hot, to: token.address, data: ERC20.encodeFunctionData('transfer', [newRecipient(), units]) })) * 12n) / 10n;
  const fromBlock = Number(await provider.send('eth_blockNumber', [])) + 1;
  const nonce = await provider.getTransactionCount(hot, 'pending');
  const started = Date.now();
  const sent = await Promise.all(
    recipients.map(async (to, i) => {
      const raw = await signer.signTransaction(hot, {
        type: 2,
        chainId: BigInt(bench.stack.evm.chainId),
        nonce: nonce + i,
        to: token.address,
        data: ERC20.encodeFunctionData('transfer', [to, units]),
        gasLimit,
        maxFeePerGas: fees.maxFeePerGas,
        maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      });
      return { hash: (await provider.send('eth_sendRawTransaction', [raw])) as string, sentAt: Date.now() };
    }),
  );
  await waitUntil('the raw sends to be mined', async () => (await provider.getTransactionCount(hot, 'latest')) >= nonce + count, 120_000);
  const receipts = await mapConcurrent(sent, 16, ({ hash }) => provider.getTransactionReceipt(hash));
  const done = await Promise.all(receipts.map((r) => confirmedAt(bench, r!.blockNumber)));
  const seconds = (Math.max(...done) - started) / 1000;
  const logs = await transfersFrom(bench, hot, fromBlock);
  if (recipients.some((r) => logs.get(r) !== 1)) throw new Error('a raw send did not make exactly one Transfer');
  return { seconds: round(seconds, 2), perSecond: round(count / seconds), latency: spread(done.map((t, i) => t - sent[i].sentAt)) };
}

interface WithdrawalRun {
  started: number;
  ids: string[];
  recipients: string[];
  accepted: number[];
  refused: number;
}

/** `count` withdrawals through the API at once, one per user, each to a fresh address. */
async function startWithdrawals(bench: Bench, prefix: string, uids: number[]): Promise<WithdrawalRun> {
  const recipients = uids.map(newRecipient);
  const started = Date.now();
  let refused = 0;
  const failed: string[] = [];
  const accepted = await Promise.all(
    uids.map(async (uid, i) => {
      const res = await fetch(`${bench.stack.apiUrl}/api/v1/withdrawals`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': `${prefix}-${i}` },
        body: JSON.stringify({ uid, toAddress: recipients[i], amount: WITHDRAWAL_AMOUNT, network: LOCAL_NETWORK_ID, token: TOKEN }),
      });
      if (res.status !== 202) {
        refused++;
        const text = await res.text();
        log(`  withdrawal ${prefix}-${i} answered ${res.status}: ${text}`);
        const requestId = /"requestId":"([^"]+)"/.exec(text)?.[1];
        if (res.status >= 500 && requestId) failed.push(requestId);
      }
      return Date.now();
    }),
  );
  // The API logs the cause of a 5xx under its request id, once the response has gone.
  await sleep(1000);
  for (const line of bench.api.tail().split('\n').filter((l) => failed.some((id) => l.includes(id)))) log(`    api: ${line.slice(0, 1500)}`);
  return { started, ids: uids.map((_, i) => withdrawalWorkflowId(`${prefix}-${i}`)), recipients, accepted, refused };
}

async function waitForWithdrawals(bench: Bench, run: WithdrawalRun): Promise<Delivery[]> {
  const noticeOf = (id: string) => bench.receiver.first.get(finalNotificationId(id));
  await waitUntil(`${run.ids.length} withdrawals' final notifications`, () => run.ids.every(noticeOf), 10 * 60_000, () =>
    `${run.ids.filter(noticeOf).length} of ${run.ids.length} notified`,
  );
  return run.ids.map((id) => noticeOf(id)!);
}

/** Medians of each step of the withdrawals, from the bench's clock, the rows' timestamps and the blocks' moments. */
async function withdrawalStages(bench: Bench, run: WithdrawalRun, notices: Delivery[]) {
  const rows: { id: string; created_at: string; updated_at: string }[] = await bench.db('withdrawals').whereIn('id', run.ids).select('id', 'created_at', 'updated_at');
  const txs: { reference: string; hash: string; created_at: string; broadcast_at: string | null; block_number: string | null; attempt: number }[] = await bench
    .db('chain_txs')
    .whereIn('reference', run.ids)
    .select('reference', 'hash', 'created_at', 'broadcast_at', 'block_number', 'attempt');
  const byId = new Map(rows.map((r) => [r.id, r]));
  const firstTx = new Map(txs.filter((t) => t.attempt === 0).map((t) => [t.reference, t]));
  const steps = { requestToHeld: [] as number[], heldToSigned: [] as number[], signedToBroadcast: [] as number[], broadcastToMined: [] as number[], minedToNthConfirmation: [] as number[], nthConfirmationToSettled: [] as number[], settledToNotified: [] as number[] };
  const signed: number[] = [];
  const nthConfirmations: number[] = [];
  for (const [i, id] of run.ids.entries()) {
    const row = byId.get(id)!;
    const tx = firstTx.get(id)!;
    const held = dbTime(row.created_at);
    const signedAt = dbTime(tx.created_at);
    const broadcast = dbTime(tx.broadcast_at!);
    const block = Number(tx.block_number);
    const mined = bench.miner.minedAt.get(block)!;
    const nth = await confirmedAt(bench, block);
    const settled = dbTime(row.updated_at);
    signed.push(signedAt);
    nthConfirmations.push(nth);
    steps.requestToHeld.push(held - run.started);
    steps.heldToSigned.push(signedAt - held);
    steps.signedToBroadcast.push(broadcast - signedAt);
    steps.broadcastToMined.push(mined - broadcast);
    steps.minedToNthConfirmation.push(nth - mined);
    steps.nthConfirmationToSettled.push(settled - nth);
    steps.settledToNotified.push(notices[i].at - settled);
  }
  if (process.env.BENCH_TRACE) await traceWithdrawals(bench, run, {
    answered: run.accepted,
    held: run.ids.map((id) => dbTime(byId.get(id)!.created_at)),
    signed: run.ids.map((id) => dbTime(firstTx.get(id)!.created_at)),
    broadcast: run.ids.map((id) => dbTime(firstTx.get(id)!.broadcast_at!)),
    settled: run.ids.map((id) => dbTime(byId.get(id)!.updated_at)),
    notified: notices.map((n) => n.at),
  });
  const p50s = Object.fromEntries(Object.entries(steps).map(([step, values]) => [step, spread(values).p50]));
  const tasks = await temporalTasksPerItem(
    bench,
    run.ids.map((id) => [id, confirmationWorkflowId(bench.stack.evm.chainId, firstTx.get(id)!.hash), notificationWorkflowId(finalNotificationId(id))]),
  );
  return {
    tasks,
    stagesP50Ms: p50s,
    signedPerSecond: round(run.ids.length / ((Math.max(...signed) - Math.min(...signed)) / 1000 || 1)),
    lastNthConfirmation: Math.max(...nthConfirmations),
    replacements: txs.filter((t) => t.attempt > 0).length,
  };
}

/**
 * BENCH_TRACE=1: when each step of the withdrawals happened, as deciles of ms from the first request; the spread of the
 * waits around their first workflow task; and the history of a few of them, event by event: where a burst waits.
 */
async function traceWithdrawals(bench: Bench, run: WithdrawalRun, moments: Record<string, number[]>): Promise<void> {
  const deciles = (values: number[]) => {
    const sorted = values.map((t) => t - run.started).sort((a, b) => a - b);
    return [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1].map((q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]);
  };
  for (const [step, values] of Object.entries(moments)) log(`  trace ${step}: ${JSON.stringify(deciles(values))}`);
  const histories = await mapConcurrent(run.ids, 16, async (id) => (await bench.client.workflow.getHandle(id).fetchHistory()).events ?? []);
  const timed = histories.map((events) =>
    events.map((e) => ({
      kind: Object.keys(e).find((k) => k.endsWith('EventAttributes'))!.replace('EventAttributes', ''),
      at: Number(e.eventTime!.seconds) * 1000 + Math.floor((e.eventTime!.nanos ?? 0) / 1e6),
    })),
  );
  // The first workflow task (the hold and the send, as local activities) from the server's side, against the rows' moments.
  const first = (i: number, kind: string) => timed[i].find((e) => e.kind === kind)!.at;
  const latest = (i: number, kind: string) => timed[i].filter((e) => e.kind === kind).pop()?.at;
  const gaps = {
    startedToTaskPicked: (i: number) => first(i, 'workflowTaskStarted') - first(i, 'workflowExecutionStarted'),
    taskPickedToHeld: (i: number) => moments.held[i] - first(i, 'workflowTaskStarted'),
    heldToSigned: (i: number) => moments.signed[i] - moments.held[i],
    broadcastToTaskDone: (i: number) => first(i, 'workflowTaskCompleted') - moments.broadcast[i],
    taskDoneToAnswered: (i: number) => moments.answered[i] - first(i, 'workflowTaskCompleted'),
    // From the end of the wait for the confirmations (the payout's own first look due, or its child's end) to the settlement.
    followedToSettled: (i: number) => moments.settled[i] - (latest(i, 'childWorkflowExecutionCompleted') ?? latest(i, 'timerFired')!),
  };
  for (const [gap, of] of Object.entries(gaps)) log(`  trace ${gap}: ${JSON.stringify(spread(run.ids.map((_, i) => of(i))))}`);
  for (const i of [0, 0.25, 0.5, 0.75, 1].map((q) => Math.min(run.ids.length - 1, Math.floor(q * run.ids.length)))) {
    log(`  trace ${run.ids[i]}: ${timed[i].map((e) => `${e.kind}@${e.at - run.started}`).join(' ')}`);
  }
}

async function benchWithdrawals(bench: Bench, count: number): Promise<void> {
  const { db, receiver } = bench;
  const hot = (await hotWallet(db, LOCAL_NETWORK_ID)).address;
  const uids = range(count + WARMUP).map((i) => 8_000_000 + i);
  await givenFundedUsers(db, uids, '10', TOKEN);

  log(`warming up with ${WARMUP} withdrawals`);
  await waitForWithdrawals(bench, await startWithdrawals(bench, 'warm', uids.slice(count)));

  // The raw sends run before and after ours, never beside them: each side's nonces are then the node's next ones (the
  // engine's allocator steps over nonces the node counts as used), and a slow spell of the machine is shared out.
  log(`${count} raw signed sends from the hot wallet ${hot}`);
  const rawBefore = await rawSends(bench, hot, count);
  log(`  ${JSON.stringify(rawBefore)}`);

  log(`${count} withdrawals through the API at once`);
  const fromBlock = Number(await bench.provider.send('eth_blockNumber', [])) + 1;
  const run = await startWithdrawals(bench, 'bench', uids.slice(0, count));
  const notices = await waitForWithdrawals(bench, run);
  const end = Math.max(...notices.map((n) => n.at));
  const seconds = (end - run.started) / 1000;
  const stages = await withdrawalStages(bench, run, notices);

  log(`${count} raw signed sends again`);
  const rawAfter = await rawSends(bench, hot, count);
  log(`  ${JSON.stringify(rawAfter)}`);

  const logs = await transfersFrom(bench, hot, fromBlock);
  const ours = run.recipients.map((r) => logs.get(r) ?? 0);
  const statuses: { status: string; n: number }[] = await db('withdrawals').whereIn('id', run.ids).select('status').count({ n: '*' }).groupBy('status');
  const invariants = await checkInvariants(db);
  const { repeats, badSignatures } = receiver.counts();
  const perSecond = count / seconds;
  const rawPerSecond = (2 * count) / (rawBefore.seconds + rawAfter.seconds);
  const ratio = perSecond / rawPerSecond;
  console.log(
    JSON.stringify({
      bench: 'chain-withdrawals',
      withdrawals: count,
      withdrawalsPerSecond: round(perSecond),
      requestToFinalNotificationP50Ms: spread(notices.map((n) => n.at - run.started)).p50,
      requestToFinalNotificationP99Ms: spread(notices.map((n) => n.at - run.started)).p99,
      onChainConfirmedPerSecond: round(count / ((stages.lastNthConfirmation - run.started) / 1000)),
      rawSendsPerSecond: round(rawPerSecond),
      rawBefore,
      rawAfter,
      ratio: round(ratio, 3),
      targetMet: ratio >= 0.5,
      confirmed: Number(statuses.find((s) => s.status === 'confirmed')?.n ?? 0),
      notConfirmed: statuses.filter((s) => s.status !== 'confirmed').reduce((n, s) => n + Number(s.n), 0),
      refusedByApi: run.refused,
      successNotices: notices.filter((n) => n.payload.status === 1).length,
      transferLogs: ours.reduce((a, b) => a + b, 0),
      duplicateTransfers: ours.filter((n) => n > 1).length,
      missingTransfers: ours.filter((n) => n === 0).length,
      feeReplacements: stages.replacements,
      repeatedDeliveries: repeats,
      badSignatures,
      ledgerInvariantsOk: invariants.ok,
      stagesP50Ms: stages.stagesP50Ms,
      signedPerSecond: stages.signedPerSecond,
      temporalPerWithdrawal: stages.tasks,
      confirmPollMs: bench.config.chain.sends.confirmPollMs || bench.blockMs,
      confirmations: bench.confirmations,
      blockMs: bench.blockMs,
    }),
  );
}

export async function benchChain(options: ChainBenchOptions): Promise<void> {
  const config = loadConfig();
  const receiver = await startReceiver(config.m2pool.webhooks.secret);
  const webhooks = { M2POOL_TOPUP_WEBHOOK_URL: `${receiver.url}/topup`, M2POOL_WITHDRAW_WEBHOOK_URL: `${receiver.url}/withdraw`, M2POOL_PAY_WEBHOOK_URL: `${receiver.url}/pay` };
  const stack = await startPrivateStack('bench-chain', webhooks).catch(async (err) => {
    await receiver.close();
    throw err;
  });
  const blockMs = config.chain.localNode.miningIntervalMs || 1000;
  const provider = new JsonRpcProvider(stack.evm.rpcUrl, stack.evm.chainId, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1, pollingInterval: 50 });
  let miner: Miner | undefined;
  let connection: Connection | undefined;
  // Interrupted: exiting runs the stack's exit hook, which stops every process it started.
  const interrupted = () => process.exit(130);
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await provider.send('evm_setIntervalMining', [0]);
    miner = startMiner(provider, blockMs);
    await stack.startWorker();
    const api = await stack.startApi();
    connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection, namespace: config.temporal.namespace });
    await startChainScanners(client, stack.db, scannerSettings(config));
    const bench: Bench = {
      stack,
      api,
      client,
      db: stack.db,
      config,
      provider,
      miner,
      receiver,
      token: stack.evm.tokens.find((t) => t.symbol === TOKEN)!,
      confirmations: config.chain.localNode.confirmations,
      blockMs,
    };
    if (options.deposits > 0) await benchDeposits(bench, options.deposits);
    if (options.withdrawals > 0) await benchWithdrawals(bench, options.withdrawals);
  } finally {
    await miner?.stop();
    provider.destroy();
    await connection?.close();
    await receiver.close();
    await stack.stop();
  }
}
