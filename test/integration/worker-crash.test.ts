// A worker process killed with SIGKILL in the middle of a run of transfers loses nothing and pays nothing twice.
import type { Db } from '../../db/knex';
import { checkInvariants, getBalances } from '../../db/ledger';
import { userAccount } from '../../domain/ledger';
import { sumAmounts } from '../../domain/money';
import { transferWorkflowId } from '../../domain/transfer';
import type { TransferResult } from '../../domain/transfer';
import { startTestApp, type TestApp } from '../support/app';
import { freshUid, givenUser } from '../support/ledger';
import { spawnEntry, waitFor, type Spawned } from '../support/processes';

let app: TestApp;
let db: Db;
const workers: Spawned[] = [];

beforeAll(async () => {
  // The API answers 202 at once: a transfer is accepted when its workflow has started.
  app = await startTestApp({ api: { transferWaitMs: 0 } });
  db = app.db;
});
afterAll(async () => {
  for (const w of workers) w.child.kill('SIGKILL');
  await app?.close();
});

const TRANSFERS = 300;

async function postedAmong(ids: string[]): Promise<number> {
  const [{ n }] = await db('transfers').whereIn('id', ids).andWhere({ state: 'posted' }).count({ n: '*' });
  return Number(n);
}

describe('a worker killed mid-run', () => {
  it('completes every accepted transfer exactly once after a new worker starts', async () => {
    // Given 10 funded senders and 10 receivers, and a worker process
    const senders = await Promise.all(Array.from({ length: 10 }, () => givenUser(db, { balance: '1000.00' })));
    const receivers = await Promise.all(Array.from({ length: 10 }, () => givenUser(db)));

    // When transfers are accepted through the API (no worker yet: each answered 202 at once), a worker
    // starts on them, and it is killed as soon as the first one is posted
    const run = freshUid();
    const keys = Array.from({ length: TRANSFERS }, (_, i) => `crash-${run}-${i}`);
    const accepted = await Promise.all(
      keys.map((key, i) =>
        app.api('/api/v1/transfers', {
          headers: { 'idempotency-key': key },
          body: { sourceUid: senders[i % 10], targetUid: receivers[(i * 7) % 10], amount: '1.25' },
        }),
      ),
    );
    expect(accepted.every((r) => r.status === 202)).toBe(true);
    const ids = keys.map(transferWorkflowId);
    const first = spawnEntry('workers/main.ts');
    workers.push(first);
    await waitFor('a first transfer to be posted', async () => (await postedAmong(ids)) >= 1, 60_000, 5);
    first.child.kill('SIGKILL');
    await first.exited;
    const postedAtKill = await postedAmong(ids);

    const second = spawnEntry('workers/main.ts');
    workers.push(second);

    // Then every transfer completes, each posted once, and the money adds up
    const results: TransferResult[] = await Promise.all(ids.map((id) => app.client.workflow.getHandle(id).result()));
    expect(results.every((r) => r.state === 'posted')).toBe(true);
    expect(await postedAmong(ids)).toBe(TRANSFERS);
    const [{ n }] = await db('transfers').whereIn('reference', ids).count({ n: '*' });
    expect(Number(n)).toBe(TRANSFERS);

    const sent = await getBalances(db, senders.map(userAccount), 'CNY');
    const received = await getBalances(db, receivers.map(userAccount), 'CNY');
    expect(sumAmounts(sent.map((b) => b.balance)).toFixed()).toBe(String(10 * 1000 - TRANSFERS * 1.25));
    expect(sumAmounts(received.map((b) => b.balance)).toFixed()).toBe(String(TRANSFERS * 1.25));
    expect((await checkInvariants(db)).violations).toEqual([]);
    // A caller that retries after the crash gets the posted transfer back, and nothing moves again.
    const retried = await Promise.all(
      keys.slice(0, 20).map((key, i) =>
        app.api('/api/v1/transfers', { headers: { 'idempotency-key': key }, body: { sourceUid: senders[i % 10], targetUid: receivers[(i * 7) % 10], amount: '1.25' } }),
      ),
    );
    expect(retried.map((r) => `${r.status} ${r.body.status}`)).toEqual(Array(20).fill('200 posted'));
    expect(await postedAmong(ids)).toBe(TRANSFERS);
    // The kill really landed mid-run: some transfers were still to do when it happened.
    expect(postedAtKill).toBeLessThan(TRANSFERS);

    second.child.kill('SIGTERM');
    await second.exited;
  });
});
