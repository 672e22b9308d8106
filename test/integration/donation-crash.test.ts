// Worker processes killed with SIGKILL while donations wait for payment and while they settle: every donation paid
// at the gateway ends paid, with one ledger credit and one ranking increment each.
import { checkInvariants } from '../../db/ledger';
import { startTestApp, type TestApp } from '../support/app';
import { alipaySandbox } from '../support/alipay-sandbox';
import { givenDonation, payAtGateway } from '../support/donations';
import { givenUser } from '../support/ledger';
import { spawnEntry, waitFor, type Spawned } from '../support/processes';
import { wechatSandbox } from '../support/wechat-sandbox';

let app: TestApp;
const workers: Spawned[] = [];

beforeAll(async () => {
  app = await startTestApp({ donations: { pollInitialMs: 500, pollMaxMs: 2_000 } });
  await Promise.all([alipaySandbox.reset(), wechatSandbox.reset()]);
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await app?.close();
});

const DONATIONS = 20;

async function killWorker(worker: Spawned): Promise<void> {
  worker.child.kill('SIGKILL');
  await worker.exited;
}

async function paidAmong(orderNos: string[]): Promise<number> {
  const [{ n }] = await app.db('donations').whereIn('order_no', orderNos).whereIn('status', ['paid', 'paid_late']).count({ n: '*' });
  return Number(n);
}

it('completes every donation paid while workers crash, each credited and ranked once', async () => {
  // Given donations waiting for payment, made while a first worker runs; Alipay's notifies are lost (only the poll
  // can find those), WeChat's arrive while no worker runs
  await alipaySandbox.configure({ notify: { mode: 'lost' } });
  const first = spawnEntry('workers/main.ts');
  workers.push(first);
  const uids = await Promise.all(Array.from({ length: DONATIONS }, () => givenUser(app.db)));
  const donations = await Promise.all(
    uids.map((uid, i) => givenDonation(app, { method: i % 2 ? 'wechat' : 'alipay', uid, amount: `${i + 1}.00`, category: 'general' })),
  );
  const orderNos = donations.map((d) => d.orderNo);

  // When the worker is killed, the buyers pay, and new workers start and are killed again mid-way
  await killWorker(first);
  await Promise.all(donations.map((d) => payAtGateway(d.method, d.orderNo)));
  const second = spawnEntry('workers/main.ts');
  workers.push(second);
  await waitFor('a first donation to be paid', async () => (await paidAmong(orderNos)) >= 1, 60_000, 5);
  await killWorker(second);
  const third = spawnEntry('workers/main.ts');
  workers.push(third);

  // Then all are paid, each with exactly one ledger credit and one ranking increment
  await waitFor('every donation to be paid', async () => (await paidAmong(orderNos)) === DONATIONS, 90_000);
  const transfers = await app.db('transfers').whereIn('id', orderNos.map((o) => `donation:${o}`)).select('id', 'state');
  expect(transfers).toHaveLength(DONATIONS);
  expect(transfers.every((t: { state: string }) => t.state === 'posted')).toBe(true);
  const ranked = await app.db('donor_totals').where({ category_id: '*' }).whereIn('donor_key', uids.map((u) => `uid:${u}`)).select('donations');
  expect(ranked.map((r: { donations: number }) => r.donations)).toEqual(Array(DONATIONS).fill(1));
  expect((await checkInvariants(app.db)).violations).toEqual([]);
});
