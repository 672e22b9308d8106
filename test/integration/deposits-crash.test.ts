// A worker process killed with SIGKILL between a deposit's detection and its confirmation, or in the middle of the scan
// step that finds it: once a worker runs again the deposit is confirmed, credited once, and M2Pool hears "pending" then
// "confirmed", once each.
import { checkInvariants } from '../../db/ledger';
import { getNetwork } from '../../db/networks';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import { startTestApp, type TestApp } from '../support/app';
import { connectTestChain, type MinedTransaction, type TestChain } from '../support/chain';
import { creditsOf, depositIdOf, depositReaches, givenDepositor, startTestScanners } from '../support/deposits';
import { spawnEntry, waitFor, type Spawned } from '../support/processes';
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

/** Each transfer's deposit confirmed and credited once, notified 2 then 1 (a delivery cut by a kill may be repeated), the ledger whole. */
async function expectConfirmedOnce(txs: MinedTransaction[]): Promise<void> {
  for (const tx of txs) await depositReaches(app.db, depositIdOf(tx), ['confirmed'], { timeoutMs: 90_000 });
  for (const tx of txs) expect(await creditsOf(app.db, depositIdOf(tx))).toHaveLength(1);
  // Counted by notice, not by delivery: a repeated one must not stand for one still to come.
  const noticesOf = (tx: MinedTransaction) => [...new Set(receiver.deliveries().filter((d) => d.answered === 200 && d.json.tx_hash === tx.hash).map((d) => d.notificationId))];
  await waitFor('each deposit\'s two notices', async () => txs.every((tx) => noticesOf(tx).length >= 2), 60_000);
  for (const tx of txs) expect(noticesOf(tx)).toEqual([`${depositIdOf(tx)}:2`, `${depositIdOf(tx)}:1`]);
  expect((await checkInvariants(app.db)).violations).toEqual([]);
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
  await expectConfirmedOnce(txs);
  second.child.kill('SIGTERM');
  await second.exited;
});

it('goes on finding deposits when the worker is killed in the middle of a scan step', async () => {
  const confirmations = (await getNetwork(app.db, LOCAL_NETWORK_ID))!.confirmations;
  const users = await Promise.all([givenDepositor(app.db), givenDepositor(app.db)]);
  await chain.mint('USDT', (await chain.signer(8)).address, '100');

  // Given a worker whose scan step has read the block of a deposit and waits to move the cursor (its row locked here)
  const first = spawnEntry('workers/main.ts');
  workers.push(first);
  const cursor = () => app.db('chain_scan_cursors').where({ network_id: LOCAL_NETWORK_ID, token_symbol: 'USDT' }).first();
  await waitFor('the USDT scanner to have a cursor', async () => (await cursor()) !== undefined, 60_000);
  const lock = await app.db.transaction();
  const txs: MinedTransaction[] = [];
  try {
    await lock('chain_scan_cursors').where({ network_id: LOCAL_NETWORK_ID, token_symbol: 'USDT' }).forUpdate().first();
    txs.push(await chain.transferToken('USDT', 8, users[0].address, '4'));
    // The worker's connections are the test's user's: their statements are in its process list.
    const cursorUpdates = async () => Number((await app.db.raw("SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE INFO LIKE 'update%chain_scan_cursors%'"))[0][0].n);
    await waitFor('the scan step to wait for the cursor', async () => (await cursorUpdates()) > 0, 60_000, 50);

    // When the worker is killed there, a new worker starts, and a second deposit comes
    await killWorker(first);
  } finally {
    await lock.rollback();
  }
  const second = spawnEntry('workers/main.ts');
  workers.push(second);
  txs.push(await chain.transferToken('USDT', 8, users[1].address, '5'));

  // Then the step cut short is run again once its heartbeat is late (not after its 2 minute limit), and the scanner goes
  // on: both deposits are found, confirmed and credited once, notified 2 then 1
  const ids = txs.map((tx) => depositIdOf(tx));
  for (const id of ids) await depositReaches(app.db, id, ['pending', 'confirmed'], { timeoutMs: 60_000 });
  await chain.mine(confirmations);
  await expectConfirmedOnce(txs);
  second.child.kill('SIGTERM');
  await second.exited;
});
