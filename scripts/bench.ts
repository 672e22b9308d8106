// `npm run bench -- transfers [--transfers N] [--concurrency C]`: brings up a private stack (MariaDB, Temporal dev
// server with a SQLite file, one worker process, one API process), then prints one JSON line: end-to-end transfers
// per second (HTTP accepted → workflow completed) with p50/p99, against the rate of a no-op workflow with one no-op
// activity on the same server, and their ratio.
import { rmSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DEV_API_KEY, loadConfig, ROOT_DIR } from '../config';
import { createDb } from '../db/knex';
import { checkInvariants, createTransfer } from '../db/ledger';
import { migrateLatest } from '../db/migrate';
import { createUser } from '../db/users';
import { userAccount } from '../domain/ledger';
import { transferStartOptions, transferWorkflowId, type TransferInput } from '../domain/transfer';
import { bundleWorkflows } from '../workers/bundle';
import { startMariadb } from './stack/mariadb';
import { freePorts } from './stack/ports';
import { ServiceGroup } from './stack/processes';
import { resolveTemporalCli, startTemporal, waitForWorker } from './stack/temporal';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { transfers: { type: 'string', default: '2000' }, concurrency: { type: 'string', default: '32' }, warmup: { type: 'string', default: '300' } },
});

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const round = (n: number, places = 1) => Number(n.toFixed(places));

/** Runs `total` jobs with `concurrency` in flight; returns the wall time and each job's latency. */
async function drive(total: number, concurrency: number, job: (i: number) => Promise<void>) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await job(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latencies: latencies.sort((a, b) => a - b) };
}

async function benchTransfers(): Promise<void> {
  const total = Number(values.transfers);
  const concurrency = Number(values.concurrency);
  const warmup = Number(values.warmup);
  const config = loadConfig();
  const baseDir = path.join(config.dataDir, 'bench');
  rmSync(path.join(baseDir, 'temporal.db'), { force: true });
  rmSync(path.join(baseDir, 'temporal.db-wal'), { force: true });
  rmSync(path.join(baseDir, 'temporal.db-shm'), { force: true });
  mkdirSync(baseDir, { recursive: true });
  const group = new ServiceGroup();
  const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

  try {
    const [mysqlPort, temporalPort, uiPort, apiPort] = await freePorts(4);
    const mariadb = await startMariadb(group, { baseDir, port: mysqlPort, database: 'durapay_bench', durable: true, recreateDatabase: true });
    const cli = await resolveTemporalCli(config.stack);
    await startTemporal(group, { cli, port: temporalPort, uiPort, namespace: 'default', dbFile: path.join(baseDir, 'temporal.db') });
    const address = `127.0.0.1:${temporalPort}`;

    const db = createDb(mariadb.url);
    await migrateLatest(db);
    const senders = Array.from({ length: 100 }, (_, i) => 1_000_000 + i);
    const receivers = Array.from({ length: 100 }, (_, i) => 2_000_000 + i);
    for (const uid of [...senders, ...receivers]) await createUser(db, { uid }, 'CNY');
    for (const uid of senders) {
      await createTransfer(db, { id: `bench-fund-${uid}`, debitAccount: 'external:bank', creditAccount: userAccount(uid), amount: '1000000', currency: 'CNY', kind: 'credit', reference: 'bench' });
    }

    const bundlePath = path.join(baseDir, 'workflow-bundle.js');
    writeFileSync(bundlePath, await bundleWorkflows());
    const env = {
      DATABASE_URL: mariadb.url,
      TEMPORAL_ADDRESS: address,
      API_PORT: String(apiPort),
      WORKFLOW_BUNDLE_PATH: bundlePath,
      RATE_LIMIT_PER_SECOND: '1000000',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
    };
    const tsx = ['--import', 'tsx'];
    const worker = group.spawn({ name: 'worker', command: process.execPath, args: [...tsx, 'workers/main.ts'], cwd: ROOT_DIR, env, echo: () => false });
    group.spawn({ name: 'api', command: process.execPath, args: [...tsx, 'api/main.ts'], cwd: ROOT_DIR, env, echo: () => false });
    await waitForWorker(address, 'default', config.temporal.taskQueue, () => worker);
    const base = `http://127.0.0.1:${apiPort}`;
    for (let up = false; !up; ) up = await fetch(`${base}/health`).then((r) => r.ok, () => false);

    let failures = 0;
    const transfer = (prefix: string) => async (i: number) => {
      const res = await fetch(`${base}/api/v1/transfers`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${DEV_API_KEY}`, 'idempotency-key': `${prefix}-${i}` },
        body: JSON.stringify({ sourceUid: senders[i % senders.length], targetUid: receivers[(i * 7) % receivers.length], amount: '1.00' }),
      });
      const body = (await res.json()) as { status?: string };
      if (res.status !== 200 || body.status !== 'posted') failures++;
    };
    const connection = await Connection.connect({ address });
    const client = new Client({ connection });
    // The same workflow started straight through the client: what the API hop costs on top of it.
    const direct = (prefix: string) => async (i: number) => {
      const input: TransferInput = {
        transferId: transferWorkflowId(`${prefix}-${i}`),
        kind: 'transfer',
        sourceUid: senders[i % senders.length],
        targetUid: receivers[(i * 7) % receivers.length],
        amount: '1.00',
        currency: 'CNY',
      };
      await client.workflow.execute('TransferWorkflow', transferStartOptions(input, config.temporal.taskQueue));
    };
    const noop = (prefix: string) => async (i: number) => {
      await client.workflow.execute('NoopWorkflow', { taskQueue: config.temporal.taskQueue, workflowId: `${prefix}-${i}` });
    };

    log(`warming up with ${warmup} transfers and ${warmup} no-op workflows`);
    await drive(warmup, concurrency, transfer('warm'));
    await drive(warmup, concurrency, noop('warm-noop'));
    // The phases alternate in rounds, so that a slow spell of the machine does not land on one of them only.
    const rounds = 4;
    const per = Math.ceil(total / rounds);
    const transfers = { seconds: 0, latencies: [] as number[] };
    const noops = { seconds: 0, latencies: [] as number[] };
    const directs = { seconds: 0, latencies: [] as number[] };
    const add = (into: typeof transfers, run: typeof transfers) => {
      into.seconds += run.seconds;
      into.latencies.push(...run.latencies);
    };
    for (let round = 0; round < rounds; round++) {
      log(`round ${round + 1}/${rounds}: ${per} transfers through the API, ${per} no-op workflows, ${per} TransferWorkflows direct, at concurrency ${concurrency}`);
      add(transfers, await drive(per, concurrency, transfer(`bench-${round}`)));
      add(noops, await drive(per, concurrency, noop(`noop-${round}`)));
      add(directs, await drive(per, concurrency, direct(`direct-${round}`)));
    }
    for (const phase of [transfers, noops, directs]) phase.latencies.sort((a, b) => a - b);
    const done = per * rounds;

    const transfersPerSecond = done / transfers.seconds;
    const noopPerSecond = done / noops.seconds;
    const invariants = await checkInvariants(db);
    console.log(
      JSON.stringify({
        bench: 'transfers',
        transfers: done,
        concurrency,
        transfersPerSecond: round(transfersPerSecond),
        p50Ms: round(quantile(transfers.latencies, 0.5)),
        p99Ms: round(quantile(transfers.latencies, 0.99)),
        failures,
        noopWorkflowsPerSecond: round(noopPerSecond),
        noopP50Ms: round(quantile(noops.latencies, 0.5)),
        transferWorkflowsDirectPerSecond: round(done / directs.seconds),
        ratio: round(transfersPerSecond / noopPerSecond, 3),
        ledgerInvariantsOk: invariants.ok,
        setup: 'api + worker processes, Temporal dev server (SQLite file, WAL), private MariaDB (durable), 2 cores',
      }),
    );
    await connection.close();
    await db.destroy();
  } finally {
    await group.stopAll();
  }
}

const benches: Record<string, () => Promise<void>> = { transfers: benchTransfers };
const name = positionals[0] ?? 'transfers';
const bench = benches[name];
if (!bench) {
  console.error(`unknown bench "${name}"; one of: ${Object.keys(benches).join(', ')}`);
  process.exit(64);
}
bench().catch((err) => {
  console.error(err);
  process.exit(1);
});
