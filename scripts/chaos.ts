// `npm run chaos`: a 10,000-item batch payout while the worker is killed with SIGKILL three times and the
// Temporal dev server is restarted once (same database file). Prints one JSON line; exits 1 unless every item
// was paid exactly once at the provider and the ledger's invariants hold.
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { batchCounts } from '../db/batch-payouts';
import { checkInvariants } from '../db/ledger';
import { givenFundedUsers, startBatch } from './fixtures';
import { startPrivateStack } from './stack/private-stack';

const ITEMS = 10_000;
const log = (msg: string) => process.stderr.write(`[chaos] ${msg}\n`);

async function main(): Promise<void> {
  const stack = await startPrivateStack('chaos');
  let ok = false;
  try {
    const executed = async () => (await stack.sandbox<{ total: number }>(`/executions?batchPayId=${batchPayId}`)).total;
    const uids = Array.from({ length: ITEMS }, (_, i) => 7_000_000 + i);
    log(`funding ${ITEMS} users`);
    await givenFundedUsers(stack.db, uids, '10.00');
    await stack.sandbox('/config', { latencyMs: 50, jitterMs: 20, capacity: 64, failureRate: 0.05, lostResponseRate: 0.01 });

    let worker = await stack.startWorker();
    const connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection });
    const batchPayId = `chaos-${Date.now()}`;
    const started = Date.now();
    await startBatch(stack.db, client, { batchPayId, items: uids.map((uid) => ({ uid, amount: '10.00' })) });

    const events: string[] = [];
    for (const [i, threshold] of [1500, 4000, 6500].entries()) {
      while ((await executed()) < threshold) await sleep(100);
      process.kill(worker.pid, 'SIGKILL');
      await worker.exited;
      events.push(`worker SIGKILLed at ${await executed()} payouts`);
      log(events[events.length - 1]);
      if (i === 1) {
        await stack.restartTemporal();
        events.push(`Temporal restarted at ${await executed()} payouts`);
        log(events[events.length - 1]);
      }
      worker = await stack.startWorker();
    }

    // The client reconnects after the server's restart; poll the read model until the batch is over.
    for (;;) {
      const row = await stack.db('batch_payouts').where({ batch_pay_id: batchPayId }).first('status');
      if (row.status === 'completed' || row.status === 'cancelled') break;
      await sleep(500);
    }
    const seconds = (Date.now() - started) / 1000;
    const executions = await stack.sandbox<{ total: number; distinctItems: number; duplicates: number }>(`/executions?batchPayId=${batchPayId}`);
    const { byStatus } = await batchCounts(stack.db, batchPayId);
    const invariants = await checkInvariants(stack.db);
    ok = executions.total === ITEMS && executions.duplicates === 0 && byStatus.paid === ITEMS && invariants.ok;
    console.log(
      JSON.stringify({
        chaos: 'batch',
        ok,
        items: ITEMS,
        paidInLedger: byStatus.paid,
        providerExecutions: executions.total,
        duplicates: executions.duplicates,
        ledgerInvariantsOk: invariants.ok,
        wallSeconds: Math.round(seconds),
        events,
      }),
    );
    await connection.close();
  } finally {
    await stack.stop();
  }
  process.exitCode = ok ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
