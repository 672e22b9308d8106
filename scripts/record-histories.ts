// `npx tsx scripts/record-histories.ts`: runs each recorded scenario on the stack at TEMPORAL_ADDRESS/DATABASE_URL
// with an in-process worker and writes its event history to test/histories/, which CI replays.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { NativeConnection } from '@temporalio/worker';
import { Contract, JsonRpcProvider, type InterfaceAbi } from 'ethers';
import TestTokenArtifact from '../chain/artifacts/TestToken.json';
import { loadConfig, ROOT_DIR } from '../config';
import { getDeposit } from '../db/deposits';
import { createDb, type Db } from '../db/knex';
import { getNetwork, getToken } from '../db/networks';
import { depositAddressFor } from '../db/wallets';
import { toBaseUnits } from '../domain/chain';
import { scannerStartOptions } from '../domain/deposit';
import { donationStartOptions, donationStatusQuery, refundStartOptions, type DonationOrder } from '../domain/donation';
import { transferStartOptions, transferWorkflowId, type TransferInput } from '../domain/transfer';
import { bundleWorkflows } from '../workers/bundle';
import { createPaymentsWorker } from '../workers/create-worker';
import { givenFundedUsers, startBatch } from './fixtures';

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

async function main(): Promise<void> {
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
  // `--only=deposits` records just these (the others need the sandbox's gateways).
  const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);

  const scenarios: Record<string, TransferInput> = {
    'transfer-posted': { transferId: transferWorkflowId(`history-ok-${stamp}`), kind: 'transfer', sourceUid: a, targetUid: b, amount: '12.50', currency: 'CNY' },
    'transfer-insufficient-funds': { transferId: transferWorkflowId(`history-nsf-${stamp}`), kind: 'transfer', sourceUid: a, targetUid: b, amount: '1000.00', currency: 'CNY' },
    'credit-posted': { transferId: transferWorkflowId(`history-credit-${stamp}`), kind: 'credit', sourceAccount: 'external:bank', targetUid: b, amount: '5.00', currency: 'CNY' },
  };

  const record = async (name: string, handle: WorkflowHandle) => {
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
    if (!only || only === 'deposits') await recordDeposits(db, client, config.temporal.taskQueue, depositor, record);
    if (only) return;
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

    const items = payees.map((uid) => ({ uid, amount: '3.00' }));
    const batch = await startBatch(db, client, { batchPayId: `history-batch-${stamp}`, items, limits: { min: 2, max: 4 }, fastPhaseMs: 30_000 });
    await batch.result();
    const batchFile = path.join(ROOT_DIR, 'test', 'histories', 'batch-payout-completed.json');
    writeFileSync(batchFile, `${historyToJSON(await batch.fetchHistory())}\n`);
    console.log(`recorded ${batch.workflowId} → ${path.relative(ROOT_DIR, batchFile)}`);
    for (const [name, input] of Object.entries(scenarios)) {
      const handle: WorkflowHandle = await client.workflow.start('TransferWorkflow', transferStartOptions(input, config.temporal.taskQueue));
      await handle.result().catch(() => undefined);
      const file = path.join(ROOT_DIR, 'test', 'histories', `${name}.json`);
      writeFileSync(file, `${historyToJSON(await handle.fetchHistory())}\n`);
      console.log(`recorded ${handle.workflowId} → ${path.relative(ROOT_DIR, file)}`);
    }
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
