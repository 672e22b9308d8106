// `npx tsx scripts/record-histories.ts [name…]`: runs each recorded scenario on the stack at TEMPORAL_ADDRESS/DATABASE_URL
// with an in-process worker and writes its event history to test/histories/, which CI replays. Names (of scenarios or of
// histories, see SCENARIOS; `--only=a,b` too) record just those, leaving the other files as they are.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection, type Workflow, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { NativeConnection } from '@temporalio/worker';
import { Contract, JsonRpcProvider, Wallet, type InterfaceAbi } from 'ethers';
import { createPayment, processPayment, type CheckoutDeps } from '../api/checkout';
import { createMetrics } from '../api/metrics';
import { startMerchantPayment, startWithdrawal, type ChainPayoutDeps } from '../api/withdrawals';
import TestTokenArtifact from '../chain/artifacts/TestToken.json';
import { loadConfig, ROOT_DIR } from '../config';
import { getDeposit } from '../db/deposits';
import { createDb, type Db } from '../db/knex';
import { getNetwork, getToken } from '../db/networks';
import { depositAddressFor } from '../db/wallets';
import { toBaseUnits } from '../domain/chain';
import { notificationWorkflowId, type NotificationRequest } from '../domain/notification';
import { scannerStartOptions } from '../domain/deposit';
import { donationStartOptions, donationStatusQuery, refundStartOptions, type DonationOrder } from '../domain/donation';
import { transferStartOptions, transferWorkflowId, type TransferInput } from '../domain/transfer';
import type { CheckoutSessionWorkflow } from '../workflows/checkout-session';
import type { NotificationWorkflow } from '../workflows/notification';
import type { ChainConfirmationWorkflow } from '../workflows/chain-confirmation';
import type { WithdrawalWorkflow } from '../workflows/withdrawal';
import { bundleWorkflows } from '../workers/bundle';
import { createPaymentsWorker } from '../workers/create-worker';
import { givenFundedUsers, startBatch } from './fixtures';

/** Each scenario and the histories it records, in the order they run. */
const SCENARIOS = {
  deposits: ['deposit-confirmed', 'chain-scanner'],
  notifications: ['notification-delivered'],
  donations: ['donation-paid-by-poll', 'refund-succeeded', 'donation-expired'],
  batches: ['batch-payout-completed'],
  transfers: ['transfer-posted', 'transfer-insufficient-funds', 'credit-posted'],
  withdrawals: ['withdrawal-confirmed', 'withdrawal-handed-over', 'chain-confirmation-carried'],
  'merchant-payments': ['merchant-payment-confirmed'],
  checkout: ['checkout-paid'],
} satisfies Record<string, string[]>;
type Scenario = keyof typeof SCENARIOS;

/** The histories the command line names (a scenario names all of its own); none named, every one. */
function chosenHistories(args: string[]): Set<string> {
  const all = Object.values(SCENARIOS).flat();
  const names = args.flatMap((arg) => (arg.startsWith('--only=') ? arg.slice('--only='.length).split(',') : [arg])).filter(Boolean);
  if (names.length === 0) return new Set(all);
  return new Set(
    names.flatMap((name) => {
      if (name in SCENARIOS) return SCENARIOS[name as Scenario];
      if (all.includes(name)) return [name];
      throw new Error(`no scenario or history '${name}': name some of ${[...Object.keys(SCENARIOS), ...all].join(', ')}`);
    }),
  );
}

/** The run a workflow started as its child of `type` (the first, when it started several). */
async function childOf<T extends Workflow>(client: Client, parent: WorkflowHandle, type: string): Promise<WorkflowHandle<T>> {
  const { events } = await parent.fetchHistory();
  const started = events?.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name === type);
  const workflowId = started?.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
  if (!workflowId) throw new Error(`${parent.workflowId} started no ${type}`);
  return client.workflow.getHandle<T>(workflowId);
}

/** Answers 200 to every webhook: a deposit's final notification waits until its pending one is delivered. */
async function startWebhookSink(): Promise<{ url: string; close(): void }> {
  const server = http.createServer((req, res) => req.resume().on('end', () => res.writeHead(200).end('ok')));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`, close: () => server.close() };
}

/**
 * ChainScannerWorkflow (a scanner of its own, stopped once the deposit is done) and DepositWorkflow (confirmed), over the
 * stack's chain `local`: USDT minted to a fresh user's deposit address, confirmed by the blocks the node mines.
 */
async function recordDeposits(db: Db, client: Client, taskQueue: string, uid: number, record: (name: string, handle: WorkflowHandle) => Promise<void>) {
  const network = (await getNetwork(db, 'local'))!;
  const usdt = (await getToken(db, 'local', 'USDT'))!;
  const { depositAddress } = await depositAddressFor(db, uid, 'local');
  const scanner = await client.workflow.start(
    'ChainScannerWorkflow',
    scannerStartOptions(
      { networkId: 'local', chainId: network.chainId, tokenSymbol: 'USDT', pollIntervalMs: 300, maxBlocksPerScan: 500, depositCheckIntervalMs: 300 },
      `history-scanner-${Date.now()}`,
      taskQueue,
    ),
  );
  const provider = new JsonRpcProvider(network.rpcUrls[0], network.chainId, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1 });
  try {
    const token = new Contract(usdt.contractAddress, TestTokenArtifact.abi as InterfaceAbi, await provider.getSigner(0));
    const receipt = await (await token.mint(depositAddress.address, toBaseUnits('15.5', usdt))).wait();
    const depositId = `deposit-${network.chainId}-${receipt.hash.toLowerCase()}-${receipt.logs[0].index}`;
    while (!(await getDeposit(db, depositId))) await new Promise((r) => setTimeout(r, 100));
    const deposit = client.workflow.getHandle(depositId);
    await deposit.result();
    await record('deposit-confirmed', deposit);
    await scanner.terminate('recorded');
    await record('chain-scanner', scanner);
  } finally {
    provider.destroy();
  }
}

/**
 * WithdrawalWorkflow and MerchantPaymentWorkflow (confirmed at the payout's own first look, the final notification
 * delivered by the payout), and a WithdrawalWorkflow that looks too early (every 100 ms) and hands its transaction over to
 * ChainConfirmationWorkflow with what it saw, over the stack's chain `local`: USDT of a user's ledger balance sent from the
 * hot wallet to a fresh address, started as the API starts them, confirmed by the blocks the node mines.
 * (chain-confirmation-confirmed.json, a ChainConfirmationWorkflow that takes its own first look, was recorded before the
 * payouts looked first; it is kept, as such a follow is still started when a fee bump is asked for before that look.)
 */
async function recordChainPayouts(deps: ChainPayoutDeps, uid: number, chosen: Set<string>, record: (name: string, handle: WorkflowHandle) => Promise<void>) {
  const stamp = Date.now();
  const payment = { uid, amount: '12.5', network: 'local', token: 'USDT' };
  const confirmed = async (workflowId: string) => {
    const handle = deps.client.workflow.getHandle<typeof WithdrawalWorkflow>(workflowId);
    const progress = await handle.result();
    if (progress.status !== 'confirmed') throw new Error(`${workflowId} ended ${progress.status}: ${JSON.stringify(progress.failure)}`);
    return handle;
  };
  if (chosen.has('withdrawal-confirmed')) {
    const { view } = await startWithdrawal(deps, { ...payment, queueId: `history-w-${stamp}`, toAddress: Wallet.createRandom().address });
    await record('withdrawal-confirmed', await confirmed(view.workflowId));
  }
  if (chosen.has('withdrawal-handed-over') || chosen.has('chain-confirmation-carried')) {
    const early = { ...deps, config: { ...deps.config, chain: { ...deps.config.chain, sends: { ...deps.config.chain.sends, confirmPollMs: 100 } } } };
    const { view } = await startWithdrawal(early, { ...payment, queueId: `history-h-${stamp}`, toAddress: Wallet.createRandom().address });
    const withdrawal = await confirmed(view.workflowId);
    await record('withdrawal-handed-over', withdrawal);
    await record('chain-confirmation-carried', await childOf<typeof ChainConfirmationWorkflow>(deps.client, withdrawal, 'ChainConfirmationWorkflow'));
  }
  if (chosen.has('merchant-payment-confirmed')) {
    const { view } = await startMerchantPayment(deps, { ...payment, queueId: `history-p-${stamp}`, orderId: `history-order-${stamp}`, toAddress: Wallet.createRandom().address });
    await record('merchant-payment-confirmed', await confirmed(view.workflowId));
  }
}

/**
 * CheckoutSessionWorkflow (paid), over the stack's chain `local`: a session made as the API makes it, paid exactly by a
 * USDT transfer whose hash the payer hands in, watched until its short expiry and late window have passed.
 */
async function recordCheckout(deps: CheckoutDeps, record: (name: string, handle: WorkflowHandle) => Promise<void>) {
  const network = (await getNetwork(deps.db, 'local'))!;
  const usdt = (await getToken(deps.db, 'local', 'USDT'))!;
  const { view } = await createPayment(deps, { idempotencyKey: `history-checkout-${Date.now()}`, amount: '12.5', token: 'USDT', network: 'local', productName: 'history', expiresInSeconds: 20 });
  const provider = new JsonRpcProvider(network.rpcUrls[0], network.chainId, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1 });
  try {
    const payer = await provider.getSigner(0);
    const token = new Contract(usdt.contractAddress, TestTokenArtifact.abi as InterfaceAbi, payer);
    const units = toBaseUnits(view.amount, usdt);
    await (await token.mint(payer.address, units)).wait();
    const receipt = await (await token.transfer(view.address, units)).wait();
    await processPayment(deps, view.id, receipt.hash);
  } finally {
    provider.destroy();
  }
  const session = deps.client.workflow.getHandle<typeof CheckoutSessionWorkflow>(view.workflowId);
  const progress = await session.result();
  if (progress.status !== 'paid') throw new Error(`${view.workflowId} ended ${progress.status}`);
  await record('checkout-paid', session);
}

async function main(): Promise<void> {
  // Only the chosen files are written; a scenario runs when one of its histories is chosen. The donations need the sandbox's gateways.
  const chosen = chosenHistories(process.argv.slice(2));
  const runs = (scenario: Scenario) => SCENARIOS[scenario].some((name) => chosen.has(name));
  const config = loadConfig();
  const db = createDb(config.db.url);
  const webhooks = await startWebhookSink();
  config.m2pool.webhooks.urls = { topup: webhooks.url, withdraw: webhooks.url, pay: webhooks.url };
  const nativeConnection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await createPaymentsWorker({ connection: nativeConnection, db, config, workflowBundleCode: await bundleWorkflows() });
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const stamp = Date.now();
  const [a, b, ...payees] = [900_000_000, 910_000_000, 920_000_000, 930_000_000].map((base) => base + (stamp % 1_000_000));
  await givenFundedUsers(db, [a], '100.00');
  await givenFundedUsers(db, [b], '0');
  await givenFundedUsers(db, payees, '10.00');
  const depositor = 940_000_000 + (stamp % 1_000_000);
  await givenFundedUsers(db, [depositor], '0');
  const chainPayer = 950_000_000 + (stamp % 1_000_000);
  await givenFundedUsers(db, [chainPayer], '100', 'USDT');

  const scenarios: Record<string, TransferInput> = {
    'transfer-posted': { transferId: transferWorkflowId(`history-ok-${stamp}`), kind: 'transfer', sourceUid: a, targetUid: b, amount: '12.50', currency: 'CNY' },
    'transfer-insufficient-funds': { transferId: transferWorkflowId(`history-nsf-${stamp}`), kind: 'transfer', sourceUid: a, targetUid: b, amount: '1000.00', currency: 'CNY' },
    'credit-posted': { transferId: transferWorkflowId(`history-credit-${stamp}`), kind: 'credit', sourceAccount: 'external:bank', targetUid: b, amount: '5.00', currency: 'CNY' },
  };

  const record = async (name: string, handle: WorkflowHandle) => {
    if (!chosen.has(name)) return;
    const file = path.join(ROOT_DIR, 'test', 'histories', `${name}.json`);
    writeFileSync(file, `${historyToJSON(await handle.fetchHistory())}\n`);
    console.log(`recorded ${handle.workflowId} → ${path.relative(ROOT_DIR, file)}`);
  };
  // The sandbox's phone pays a trade; its notify goes to a URL nobody serves, so the workflow finds it by polling.
  const sandboxUrl = process.env.SANDBOX_URL ?? `http://127.0.0.1:${config.sandbox.port}`;
  const payAtSandbox = async (orderNo: string) => {
    const res = await fetch(`${sandboxUrl}/sandbox/alipay/trades/${orderNo}/pay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    if (!res.ok) throw new Error(`the sandbox did not take the payment of ${orderNo}: ${res.status} ${await res.text()}`);
  };
  const donationOrder = (orderNo: string, expiresInMs: number): DonationOrder => ({
    orderNo,
    categoryId: 'general',
    method: 'alipay',
    amount: '8.80',
    currency: 'CNY',
    uid: b,
    donorName: 'history',
    message: null,
    requestDigest: '0'.repeat(64),
    expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
    notifyUrl: 'http://127.0.0.1:9/unreachable',
    pollInitialMs: 300,
    pollMaxMs: 1_000,
    lateWindowMs: 1_000,
  });

  await worker.runUntil(async () => {
    if (runs('deposits')) await recordDeposits(db, client, config.temporal.taskQueue, depositor, record);
    if (runs('notifications')) {
      // Deposits and payouts make a notice's first attempt themselves: NotificationWorkflow runs when one took it over, or
      // when an admin redelivers it, as here.
      const request: NotificationRequest = {
        id: `history-notice-${stamp}:1`,
        channel: 'topup',
        payload: { address: '0x70997970c51812dc3a010c7d01b50e0d17dc79c8', status: 1, chain: 'ETH', symbol: 'USDT', amount: '15.5', tx_hash: `0x${'ab'.repeat(32)}` },
      };
      const notification = await client.workflow.start<typeof NotificationWorkflow>('NotificationWorkflow', {
        taskQueue: config.temporal.taskQueue,
        workflowId: notificationWorkflowId(request.id),
        args: [request],
      });
      const outcome = await notification.result();
      if (outcome.state !== 'delivered') throw new Error(`${notification.workflowId} ended ${outcome.state}`);
      await record('notification-delivered', notification);
    }
    if (runs('donations')) {
      const paid = await client.workflow.start('DonationWorkflow', donationStartOptions(donationOrder(`H${stamp}P`, 60_000), config.temporal.taskQueue));
      while (!(await paid.query(donationStatusQuery)).qrContent) await new Promise((r) => setTimeout(r, 100));
      await payAtSandbox(`H${stamp}P`);
      await paid.result();
      await record('donation-paid-by-poll', paid);
      const refund = await client.workflow.start('RefundWorkflow', refundStartOptions({ refundNo: `H${stamp}R`, orderNo: `H${stamp}P`, amount: '3.30', reason: null, pollInitialMs: 300, pollMaxMs: 1_000 }, config.temporal.taskQueue));
      await refund.result();
      await record('refund-succeeded', refund);
      const expired = await client.workflow.start('DonationWorkflow', donationStartOptions(donationOrder(`H${stamp}E`, 1_500), config.temporal.taskQueue));
      await expired.result();
      await record('donation-expired', expired);
    }

    if (runs('batches')) {
      const items = payees.map((uid) => ({ uid, amount: '3.00' }));
      const batch = await startBatch(db, client, { batchPayId: `history-batch-${stamp}`, items, limits: { min: 2, max: 4 }, fastPhaseMs: 30_000 });
      await batch.result();
      await record('batch-payout-completed', batch);
    }
    for (const [name, input] of Object.entries(scenarios)) {
      if (!chosen.has(name)) continue;
      const handle: WorkflowHandle = await client.workflow.start('TransferWorkflow', transferStartOptions(input, config.temporal.taskQueue));
      await handle.result().catch(() => undefined);
      await record(name, handle);
    }

    if (runs('withdrawals') || runs('merchant-payments')) await recordChainPayouts({ client, db, config }, chainPayer, chosen, record);
    // A session is watched until its late window has passed: a short one lets the run end.
    if (runs('checkout')) await recordCheckout({ client, db, config: { ...config, checkout: { ...config.checkout, lateWindowMs: 1_000 } }, metrics: createMetrics() }, record);
  });
  await connection.close();
  await nativeConnection.close();
  await db.destroy();
  webhooks.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
