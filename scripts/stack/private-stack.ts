// A private stack for benchmarks and chaos runs: MariaDB, a Temporal dev server on a SQLite file (restartable), an EVM
// node (a block every second), the sandbox, and worker / api processes that can be killed and started again, all on free ports.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, ROOT_DIR } from '../../config';
import { createDb, type Db } from '../../db/knex';
import { migrateLatest } from '../../db/migrate';
import { bundleWorkflows } from '../../workers/bundle';
import { provisionLocalNetwork, startEvmNode, type RunningEvmNode } from './evm-node';
import { startMariadb } from './mariadb';
import { freePorts } from './ports';
import { provisionSandboxGateways } from './provision-gateways';
import { fundLocalWallets, provisionWallets } from './provision-wallets';
import { ServiceGroup, type Service } from './processes';
import { resolveTemporalCli, startTemporal, waitForWorker } from './temporal';

export interface PrivateStack {
  db: Db;
  temporalAddress: string;
  apiUrl: string;
  sandboxUrl: string;
  /** Its chain, registered as the network `local`. */
  evm: RunningEvmNode;
  /** The environment the stack's processes run with. */
  env: Record<string, string>;
  /** The sandbox's payout control API: GET without a body, POST with one (`/config`, `/reset`, `/executions?…`). */
  sandbox<T>(route: string, body?: unknown): Promise<T>;
  startWorker(): Promise<Service>;
  startApi(): Promise<Service>;
  restartTemporal(): Promise<void>;
  stop(): Promise<void>;
}

const log = (msg: string) => process.stderr.write(`[stack] ${msg}\n`);

export async function startPrivateStack(name: string, extraEnv: Record<string, string> = {}): Promise<PrivateStack> {
  const config = loadConfig();
  const baseDir = path.join(config.dataDir, name);
  mkdirSync(baseDir, { recursive: true });
  const dbFile = path.join(baseDir, 'temporal.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbFile}${suffix}`, { force: true });
  const group = new ServiceGroup();
  try {
    const [mysqlPort, temporalPort, uiPort, apiPort, sandboxPort, evmPort] = await freePorts(6);
    // Side by side; both attempts finish before a failure is reported, so the cleanup below finds every process.
    const [mariadbStart, evmStart] = await Promise.allSettled([
      startMariadb(group, { baseDir, port: mysqlPort, database: `durapay_${name}`, durable: true, recreateDatabase: true }),
      startEvmNode(group, { port: evmPort, mining: { intervalMs: config.chain.localNode.miningIntervalMs || 1000 }, mnemonic: config.chain.localNode.mnemonic }),
    ]);
    if (mariadbStart.status === 'rejected') throw mariadbStart.reason;
    if (evmStart.status === 'rejected') throw evmStart.reason;
    const [mariadb, evm] = [mariadbStart.value, evmStart.value];
    const cli = await resolveTemporalCli(config.stack);
    const temporal = { cli, port: temporalPort, uiPort, namespace: config.temporal.namespace, dbFile };
    let temporalService = await startTemporal(group, temporal);
    const temporalAddress = `127.0.0.1:${temporalPort}`;
    const db = createDb(mariadb.url);
    await migrateLatest(db);
    await provisionLocalNetwork(db, evm, { confirmations: config.chain.localNode.confirmations, blockTimeMs: config.chain.localNode.miningIntervalMs || 1000 });
    // The wallet seed, the networks' hot and collection wallets, and gas and tokens for the local chain's.
    await provisionWallets(db, config);
    await fundLocalWallets(db, evm);

    const bundlePath = path.join(baseDir, 'workflow-bundle.js');
    writeFileSync(bundlePath, await bundleWorkflows());
    const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    const env = {
      DATABASE_URL: mariadb.url,
      TEMPORAL_ADDRESS: temporalAddress,
      API_PORT: String(apiPort),
      SANDBOX_PORT: String(sandboxPort),
      SANDBOX_DATA_DIR: path.join(baseDir, 'sandbox'),
      PAYOUT_API_URL: `${sandboxUrl}/thirdpart/onePass`,
      WORKFLOW_BUNDLE_PATH: bundlePath,
      RATE_LIMIT_PER_SECOND: '1000000',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'development',
      ...extraEnv,
    };
    // BENCH_CPU_PROFILE_DIR=dir: the worker and API write V8 CPU profiles there when they stop (open them in Chrome's DevTools).
    const profile = process.env.BENCH_CPU_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE_DIR}`] : [];
    const spawnEntry = (entry: string, label: string) =>
      group.spawn({ name: label, command: process.execPath, args: [...profile, '--import', 'tsx', entry], cwd: ROOT_DIR, env, echo: () => false });
    const waitHealthy = async (url: string, service: Service) => {
      for (;;) {
        if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) return;
        if (!service.running()) throw new Error(`${service.name} ${await service.exited}:\n${service.tail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const sandbox = spawnEntry('sandbox/main.ts', 'sandbox');
    await waitHealthy(sandboxUrl, sandbox);
    // Donations go through the sandbox's gateways: its merchant credentials become the payment configs.
    await provisionSandboxGateways(db, config.secrets.keys, sandboxUrl);
    let workers = 0;

    return {
      db,
      temporalAddress,
      apiUrl: `http://127.0.0.1:${apiPort}`,
      sandboxUrl,
      evm,
      env,
      async sandbox<T>(route: string, body?: unknown): Promise<T> {
        const res = await fetch(`${sandboxUrl}/sandbox/payouts${route}`, {
          method: body === undefined ? 'GET' : 'POST',
          headers: { 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        if (!res.ok) throw new Error(`sandbox ${route} answered ${res.status}: ${await res.text()}`);
        return (await res.json()) as T;
      },
      async startWorker() {
        const worker = spawnEntry('workers/main.ts', `worker-${++workers}`);
        await waitForWorker(temporalAddress, config.temporal.namespace, config.temporal.taskQueue, () => worker);
        return worker;
      },
      async startApi() {
        const api = spawnEntry('api/main.ts', 'api');
        await waitHealthy(`http://127.0.0.1:${apiPort}`, api);
        return api;
      },
      async restartTemporal() {
        log('restarting the Temporal dev server (same database file)');
        await temporalService.stop();
        temporalService = await startTemporal(group, temporal);
      },
      async stop() {
        await db.destroy();
        await group.stopAll();
      },
    };
  } catch (err) {
    await group.stopAll();
    throw err;
  }
}
