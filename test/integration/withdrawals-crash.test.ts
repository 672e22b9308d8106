// Worker processes killed with SIGKILL at each step of a withdrawal's send, and RPC outages: one transfer on chain, one hold
// posted, one notification, whatever happened in between. The workers reach the chain through an RPC gate the test controls.
import { WorkflowNotFoundError } from '@temporalio/client';
import { startWithdrawal } from '../../api/withdrawals';
import { chainTxsOf } from '../../db/chain-sends';
import { getTransfer } from '../../db/ledger';
import { confirmationWorkflowId } from '../../domain/chain';
import { LOCAL_CHAIN_ID } from '../../scripts/stack/evm-node';
import { startTestApp, type TestApp } from '../support/app';
import { chainEnv, type TestChain } from '../support/chain';
import { spawnEntry, waitFor, type Spawned } from '../support/processes';
import { useWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import {
  givenTokenHolder,
  newRecipient,
  notificationsOf,
  payoutReaches,
  payoutTxReaches,
  pointLocalNetworkAt,
  startRpcGate,
  transfersTo,
  useChainSendSettings,
  useChainSnapshot,
  withConfirmPollMs,
  type RpcGate,
} from '../support/withdrawals';

let app: TestApp;
let chain: TestChain;
let receiver: WebhookReceiver;
let gate: RpcGate;
let restoreNetwork: (() => Promise<void>) | undefined;
const workers: Spawned[] = [];

// Declared first, so that it runs first after the file: no worker of this file may still send when the chain is reverted.
afterAll(async () => {
  for (const worker of workers) worker.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await restoreNetwork?.();
  await gate?.close();
  await app?.close();
});
useChainSendSettings({ pollMs: 200 });
useChainSnapshot((c) => (chain = c));
useWebhookReceiver((r) => (receiver = r));
beforeAll(async () => {
  app = await startTestApp();
  gate = await startRpcGate();
  restoreNetwork = await pointLocalNetworkAt(app.db, [gate.url]);
});

const startWorker = (): Spawned => {
  const worker = spawnEntry('workers/main.ts');
  workers.push(worker);
  return worker;
};
async function kill(worker: Spawned): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}

let seq = 0;
async function withdrawal(amount: string): Promise<{ id: string; key: string; to: string }> {
  const uid = await givenTokenHolder(app, 'USDT', '100');
  const to = newRecipient();
  const key = `crash-${Date.now().toString(36)}-${++seq}`;
  const res = await app.api('/api/v1/withdrawals', { headers: { 'Idempotency-Key': key }, body: { uid, toAddress: to, amount, network: 'local', token: 'USDT' } });
  // 202 held once a worker took it; 202 processing when none has within the API's wait
  expect(res.status).toBe(202);
  return { id: `withdrawal-${key}`, key, to };
}

/** Confirms the payout (3 blocks once it is mined) and checks it moved the tokens once, posted once and notified once. */
async function expectPaidOnce(payout: { id: string; to: string }, units: bigint): Promise<void> {
  const [tx] = await payoutTxReaches(app.db, payout.id, ['mined', 'confirmed'], 90_000);
  await chain.mine(3);
  const done = await payoutReaches(app.db, payout.id, ['confirmed'], { timeoutMs: 90_000 });
  expect(done.txHash).toBe(tx.hash);
  expect(await transfersTo(chain, 'USDT', payout.to)).toEqual([expect.objectContaining({ txHash: tx.hash, value: units })]);
  expect(await chain.tokenBalance('USDT', payout.to)).toBe(units.toString());
  expect(await chainTxsOf(app.db, payout.id)).toHaveLength(1);
  expect(await getTransfer(app.db, payout.id)).toMatchObject({ state: 'posted' });
  const [delivery] = await receiver.waitForDeliveries(1, (d) => d.notificationId === `${payout.id}:final`, 60_000);
  expect(JSON.parse(delivery.body)).toMatchObject({ status: 1, tx_hash: tx.hash });
  expect((await notificationsOf(app.db, payout.id)).map((n) => n.id)).toEqual([`${payout.id}:final`]);
}

test('sends once when the worker is killed between signing the transaction and broadcasting it', async () => {
  // given a worker whose broadcasts cannot reach the node
  gate.mode = 'refuse-sends';
  const first = startWorker();
  const payout = await withdrawal('1.5');

  // when it is killed once the transaction is signed and persisted, and has tried to send it
  await waitFor('the transaction signed, and a send tried', async () => (await chainTxsOf(app.db, payout.id))[0]?.status === 'signed' && gate.sends > 0, 60_000);
  await kill(first);
  expect(await chain.tokenBalance('USDT', payout.to)).toBe('0');

  // then a new worker broadcasts the persisted bytes, and the tokens move once
  gate.mode = 'pass';
  startWorker();
  await expectPaidOnce(payout, 1_500_000n);
});

test('sends once when the worker is killed after the node took the transaction but before it heard back', async () => {
  // given a worker whose broadcasts reach the node but whose answers are lost
  gate.mode = 'swallow-sends';
  const worker = startWorker();
  const payout = await withdrawal('2.5');

  // when the node has mined the transfer while the worker still waits for the answer, and the worker is killed
  await waitFor('the transfer on chain', async () => (await chain.tokenBalance('USDT', payout.to)) !== '0', 60_000);
  expect((await chainTxsOf(app.db, payout.id))[0].status).toBe('signed');
  await kill(worker);
  for (const w of workers) if (w.child.exitCode === null) await kill(w);

  // then the next worker's broadcast of the same bytes is known to the node, and nothing is sent twice
  gate.mode = 'pass';
  startWorker();
  await expectPaidOnce(payout, 2_500_000n);
});

test('confirms once when the worker is killed while the transaction waits for its confirmations', async () => {
  // given a withdrawal whose transaction is mined, and seen mined, but not yet confirmed
  gate.mode = 'pass';
  for (const w of workers) if (w.child.exitCode === null) await kill(w);
  const worker = startWorker();
  const payout = await withdrawal('3.5');
  await payoutTxReaches(app.db, payout.id, ['mined'], 60_000);

  // when the worker is killed, and the confirmations come while no worker runs
  await kill(worker);
  await chain.mine(5);

  // then a new worker finds them and posts it once
  startWorker();
  await expectPaidOnce(payout, 3_500_000n);
});

test('settles once when the worker is killed while the payout waits to take its own first look', async () => {
  // given a withdrawal whose transaction is broadcast, its payout waiting for its first look (4 looks' time, 4 s here)
  gate.mode = 'pass';
  for (const w of workers) if (w.child.exitCode === null) await kill(w);
  const worker = startWorker();
  const uid = await givenTokenHolder(app, 'USDT', '100');
  const to = newRecipient();
  const key = `crash-look-${Date.now().toString(36)}`;
  const { view } = await startWithdrawal(withConfirmPollMs(app, 1_000), { queueId: key, uid, toAddress: to, amount: '4.5', network: 'local', token: 'USDT' });
  const payout = { id: view.id, to };
  const [tx] = await payoutTxReaches(app.db, payout.id, ['broadcast']);

  // when the worker is killed before that look, and the confirmations come while no worker runs
  await kill(worker);
  await chain.mine(5);

  // then the next worker's payout takes the look, finds it final and posts it once, with no workflow to follow it
  startWorker();
  await expectPaidOnce(payout, 4_500_000n);
  await expect(app.client.workflow.getHandle(confirmationWorkflowId(LOCAL_CHAIN_ID, tx.hash)).describe()).rejects.toThrow(WorkflowNotFoundError);
});

test('waits while the RPC node is down and resumes when it is back', async () => {
  // given the only RPC URL down
  gate.mode = 'down';
  if (!workers.some((w) => w.child.exitCode === null)) startWorker();
  const payout = await withdrawal('4.5');

  // when a few seconds pass: the balance is held, nothing could be signed
  await payoutReaches(app.db, payout.id, ['held'], { timeoutMs: 60_000 });
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  expect(await chainTxsOf(app.db, payout.id)).toEqual([]);
  expect((await app.api(`/api/v1/withdrawals/${payout.id}`)).body.status).toBe('held');

  // then once it is back the withdrawal goes on to its end
  gate.mode = 'pass';
  await expectPaidOnce(payout, 4_500_000n);
});

test('uses the second RPC URL while the first one is down', async () => {
  // given the network's first URL down and a second one that works
  const down = await startRpcGate('down');
  const restore = await pointLocalNetworkAt(app.db, [down.url, chainEnv.rpcUrl]);
  try {
    if (!workers.some((w) => w.child.exitCode === null)) startWorker();
    // when a withdrawal is made, then it is paid through the second one
    const payout = await withdrawal('5.5');
    await expectPaidOnce(payout, 5_500_000n);
  } finally {
    await restore();
    await pointLocalNetworkAt(app.db, [gate.url]);
    await down.close();
  }
});
