// A worker process killed with SIGKILL between a deposit's detection and its confirmation: once a worker runs again the
// deposit is confirmed, credited once, and M2Pool hears "pending" then "confirmed", once each.
import { checkInvariants } from '../../db/ledger';
import { getNetwork } from '../../db/networks';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import { startTestApp, type TestApp } from '../support/app';
import { connectTestChain, type MinedTransaction, type TestChain } from '../support/chain';
import { creditsOf, depositIdOf, depositReaches, givenDepositor, startTestScanners } from '../support/deposits';
import { spawnEntry, type Spawned } from '../support/processes';
import { useWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

let app: TestApp;
let chain: TestChain;
let chainAtStart: string;
let receiver: WebhookReceiver;
let scanners: Awaited<ReturnType<typeof startTestScanners>>;
const workers: Spawned[] = [];

// The spawned workers inherit the environment: their webhooks go to this receiver.
useWebhookReceiver((r) => (receiver = r));

beforeAll(async () => {
  app = await startTestApp();
  chain = connectTestChain();
  chainAtStart = await chain.snapshot();
  scanners = await startTestScanners(app.client, app.db);
});
afterAll(async () => {
  await scanners?.stop();
  for (const w of workers) w.child.kill('SIGKILL');
  await chain?.revert(chainAtStart);
  chain?.close();
  await app?.close();
});

async function killWorker(worker: Spawned): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}

it('credits a deposit once when the worker is killed between its detection and its confirmation', async () => {
  const confirmations = (await getNetwork(app.db, LOCAL_NETWORK_ID))!.confirmations;
  const users = await Promise.all(Array.from({ length: 5 }, () => givenDepositor(app.db)));
  const sender = (await chain.signer(8)).address;
  await chain.mint('USDT', sender, '1000');

  // Given deposits detected (pending, notified 2) by a first worker
  const first = spawnEntry('workers/main.ts');
  workers.push(first);
  const txs: MinedTransaction[] = [];
  for (const [i, user] of users.entries()) txs.push(await chain.transferToken('USDT', 8, user.address, `${i + 2}`));
  const ids = txs.map((tx) => depositIdOf(tx));
  await Promise.all(ids.map((id) => depositReaches(app.db, id, ['pending'])));

  // When the worker is killed, the blocks get their confirmations while no worker runs, and a new worker starts
  await killWorker(first);
  await chain.mine(confirmations);
  const second = spawnEntry('workers/main.ts');
  workers.push(second);

  // Then each deposit is confirmed and credited once, and notified 2 then 1 (a delivery cut by the kill may be repeated)
  for (const id of ids) await depositReaches(app.db, id, ['confirmed'], { timeoutMs: 90_000 });
  for (const id of ids) expect(await creditsOf(app.db, id)).toHaveLength(1);
  await receiver.waitForDeliveries(2 * txs.length, (d) => d.answered === 200 && txs.some((tx) => tx.hash === d.json.tx_hash), 60_000);
  for (const tx of txs) {
    const notices = receiver.deliveries().filter((d) => d.answered === 200 && d.json.tx_hash === tx.hash);
    expect([...new Set(notices.map((d) => d.notificationId))]).toEqual([`${depositIdOf(tx)}:2`, `${depositIdOf(tx)}:1`]);
  }
  expect((await checkInvariants(app.db)).violations).toEqual([]);
  second.child.kill('SIGTERM');
  await second.exited;
});
