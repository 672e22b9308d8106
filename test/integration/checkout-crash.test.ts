// Worker processes killed with SIGKILL around a checkout session's payment (seed 003): while its transfer waits for its
// confirmations, while no worker runs when the transfer comes, and between the merchant's credit and the session's record
// of it. Once a worker runs again the session ends paid, credited to the merchant once, and the ledger balances.
import type { Knex } from 'knex';
import { checkInvariants, getBalances } from '../../db/ledger';
import { getNetwork } from '../../db/networks';
import { CHECKOUT_MERCHANT_ACCOUNT, checkoutTransferId } from '../../domain/checkout';
import { money } from '../../domain/money';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import { startTestApp, type TestApp } from '../support/app';
import { connectTestChain, type MinedTransaction, type TestChain } from '../support/chain';
import { creditsOfPayment, FAST_CHECKOUT, givenPayment, paymentReaches, type Payment } from '../support/checkout';
import { startTestScanners } from '../support/deposits';
import { spawnEntry, waitFor, type Spawned } from '../support/processes';

let app: TestApp;
let chain: TestChain;
let chainAtStart: string;
let scanners: Awaited<ReturnType<typeof startTestScanners>>;
let confirmations: number;
const workers: Spawned[] = [];

/** The payer: account #8 of the node, with tokens minted to it. */
const PAYER = 8;

beforeAll(async () => {
  app = await startTestApp({ checkout: FAST_CHECKOUT });
  chain = connectTestChain();
  chainAtStart = await chain.snapshot();
  scanners = await startTestScanners(app.client, app.db);
  confirmations = (await getNetwork(app.db, LOCAL_NETWORK_ID))!.confirmations;
  await chain.mint('USDT', (await chain.signer(PAYER)).address, '1000');
});
// No worker of this file may still look at the chain when it is reverted.
afterAll(async () => {
  await scanners?.stop();
  for (const worker of workers) worker.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
  await chain?.revert(chainAtStart);
  chain?.close();
  await app?.close();
});
afterEach(async () => {
  expect((await checkInvariants(app.db)).violations).toEqual([]);
});

/** A worker process, once it says it has started: the API waits only 15 s for a new session's address. */
async function startWorker(): Promise<Spawned> {
  const worker = spawnEntry('workers/main.ts', { LOG_LEVEL: 'info' });
  workers.push(worker);
  await waitFor('the worker to start', async () => worker.output().includes('worker started') || worker.child.exitCode !== null, 60_000);
  if (worker.child.exitCode !== null) throw new Error(`the worker exited (${worker.child.exitCode}) before it started:\n${worker.output()}`);
  return worker;
}
async function kill(worker: Spawned): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}
/** Every worker of this file still running, killed: each test starts with none. */
async function killAll(): Promise<void> {
  for (const worker of workers) if (worker.child.exitCode === null && worker.child.signalCode === null) await kill(worker);
}

const merchantBalance = async () => (await getBalances(app.db, [CHECKOUT_MERCHANT_ACCOUNT], 'USDT'))[0]?.balance ?? '0';
const statusOf = async (payment: Payment): Promise<string> => (await app.api(`/api/v1/payments/${payment.id}`, { key: null })).body.status;

/** The session is paid by `tx` alone: one posted credit of `amount` to the merchant, whose balance went up by it once. */
async function expectPaidOnce(payment: Payment, tx: MinedTransaction, amount: string, merchantBefore: string): Promise<void> {
  const paid = await paymentReaches(app, payment.id, ['paid', 'overpaid'], { timeoutMs: 90_000 });
  const transferId = checkoutTransferId(31337, tx.hash, 0);
  expect(paid).toMatchObject({ status: 'paid', receivedAmount: amount, dueAmount: '0', excessAmount: '0', pendingAmount: '0', transactionHash: tx.hash });
  expect(paid.transactions).toEqual([expect.objectContaining({ txHash: tx.hash, status: 'confirmed', onChain: true, transferId })]);
  const credits = await creditsOfPayment(app.db, payment.id);
  expect(credits).toEqual([{ id: transferId, amount: expect.any(String), currency: 'USDT', state: 'posted', credit: CHECKOUT_MERCHANT_ACCOUNT }]);
  expect(money(credits[0].amount).toFixed()).toBe(amount);
  expect(money(await merchantBalance()).minus(merchantBefore).toFixed()).toBe(amount);
}

it('pays a session once when the worker is killed while its transfer waits for its confirmations', async () => {
  // Given a session whose exact payment a first worker has seen (processing), short of its confirmations
  await killAll();
  const first = await startWorker();
  const payment = await givenPayment(app, { amount: '12.5' });
  const merchantBefore = await merchantBalance();
  const tx = await chain.transferToken('USDT', PAYER, payment.address, '12.5');
  const processing = await paymentReaches(app, payment.id, ['processing']);
  expect(processing).toMatchObject({ transactionHash: tx.hash, pendingAmount: '12.5', receivedAmount: '0' });
  expect(processing.confirmations).toBeLessThan(confirmations);
  expect(await creditsOfPayment(app.db, payment.id)).toEqual([]);

  // When the worker is killed, the block gets its confirmations while no worker runs, and a new worker starts
  await kill(first);
  await chain.mine(confirmations);
  expect(await statusOf(payment)).toBe('processing');
  await startWorker();

  // Then the session is paid, credited to the merchant once
  await expectPaidOnce(payment, tx, '12.5', merchantBefore);
});

it('pays a session once when its transfer comes while no worker runs', async () => {
  // Given a session made while a worker ran, and no worker running any more
  await killAll();
  const first = await startWorker();
  const payment = await givenPayment(app, { amount: '7.25' });
  const merchantBefore = await merchantBalance();
  await kill(first);

  // When the exact amount is sent and confirmed while no worker runs (nobody sees it), and a new worker starts
  const tx = await chain.transferToken('USDT', PAYER, payment.address, '7.25');
  await chain.mine(confirmations);
  expect(await statusOf(payment)).toBe('new');
  await startWorker();

  // Then the new worker's scanner finds it, and the session is paid, credited to the merchant once
  await expectPaidOnce(payment, tx, '7.25', merchantBefore);
});

it('credits a session once when the worker is killed after the credit is written but before the session records it', async () => {
  // Given a session whose exact payment a worker has seen (processing), and the session's row locked by the test: the
  // worker's next write of its progress waits
  await killAll();
  const worker = await startWorker();
  const payment = await givenPayment(app, { amount: '3.5' });
  const merchantBefore = await merchantBalance();
  const tx = await chain.transferToken('USDT', PAYER, payment.address, '3.5');
  await paymentReaches(app, payment.id, ['processing']);
  const lock: Knex.Transaction = await app.db.transaction();
  try {
    await lock('checkout_sessions').where({ id: payment.id }).forUpdate().first('id');

    // When the transfer gets its confirmations, the worker credits the merchant, and it is killed while the session
    // still says processing
    await chain.mine(confirmations);
    await waitFor('the merchant credited', async () => (await creditsOfPayment(app.db, payment.id)).length > 0, 60_000, 20);
    await kill(worker);
    expect(await creditsOfPayment(app.db, payment.id)).toEqual([expect.objectContaining({ state: 'posted' })]);
    expect(await statusOf(payment)).toBe('processing');
  } finally {
    await lock.rollback();
  }
  await startWorker();

  // Then the new worker, running the step again, finds the credit and records it: paid, credited once
  await expectPaidOnce(payment, tx, '3.5', merchantBefore);
});
