// Jest globalSetup: the tests' own stack (a private MariaDB, an in-memory Temporal dev server and the sandbox on free ports, beside any `npm start` stack), migrated, with the workflows bundled once; test files learn where it is from process.env (see test-env.ts).
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, ROOT_DIR } from '../../config';
import { createDb } from '../../db/knex';
import { migrateLatest } from '../../db/migrate';
import { LOCAL_CHAIN_ID, provisionLocalNetwork, startEvmNode, type RunningEvmNode } from '../../scripts/stack/evm-node';
import { acquireStackLock, type StackLock } from '../../scripts/stack/lock';
import { startMariadb, type RunningMariadb } from '../../scripts/stack/mariadb';
import { freePorts } from '../../scripts/stack/ports';
import { provisionSandboxGateways } from '../../scripts/stack/provision-gateways';
import { fundLocalWallets, provisionWallets } from '../../scripts/stack/provision-wallets';
import { ServiceGroup } from '../../scripts/stack/processes';
import { resolveTemporalCli, startTemporal } from '../../scripts/stack/temporal';
import { bundleWorkflows } from '../../workers/bundle';
import { waitForSandbox } from './sandbox';

export interface TestStack {
  services: ServiceGroup;
  lock: StackLock;
}

declare global {
  // Read by global-teardown.ts, which runs in the same process.
  var __durapayTestStack: TestStack | undefined;
}

const TEST_DATABASE = 'durapay_test';
const MAX_CONCURRENT_RUNS = 8;

/** `<DATA_DIR>/test`, or `test-2`, `test-3`… while other test runs in this checkout hold the first ones; each keeps its datadir between runs. */
async function claimStackDir(dataDir: string): Promise<{ dir: string; lock: StackLock }> {
  for (let slot = 1; slot <= MAX_CONCURRENT_RUNS; slot++) {
    const dir = path.join(dataDir, slot === 1 ? 'test' : `test-${slot}`);
    fs.mkdirSync(dir, { recursive: true });
    const attempt = await acquireStackLock(path.join(dir, 'stack.lock'), {});
    if (attempt.acquired) return { dir, lock: attempt.lock };
  }
  throw new Error(`${MAX_CONCURRENT_RUNS} test runs are already using ${dataDir}/test*: let one finish first`);
}

export default async function globalSetup(): Promise<void> {
  const started = Date.now();
  const config = loadConfig(process.env);
  const { dir, lock } = await claimStackDir(path.resolve(config.dataDir));
  const services = new ServiceGroup((service) => lock.addService(service));
  globalThis.__durapayTestStack = { services, lock };
  // Ctrl-C or a kill of jest skips globalTeardown: the stack's processes are told to stop all the same.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      services.signalAll('SIGTERM');
      lock.release();
      process.exit(130);
    });
  }

  try {
    const [mysqlPort, temporalPort, temporalUiPort, sandboxPort, evmPort] = await freePorts(5);
    const sandboxUrl = `http://127.0.0.1:${sandboxPort}`;
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    // Side by side; all attempts finish before a failure is reported, so the cleanup below finds every process.
    const results = await Promise.allSettled([
      startMariadb(services, { baseDir: dir, port: mysqlPort, database: TEST_DATABASE, durable: false, recreateDatabase: true }),
      resolveTemporalCli(config.stack).then(async (cli) => {
        process.env.TEMPORAL_CLI = cli; // tests that run their own server (TestWorkflowEnvironment.createLocal) reuse this binary
        await startTemporal(services, { cli, port: temporalPort, uiPort: temporalUiPort, namespace: config.temporal.namespace });
      }),
      bundleWorkflows().then((code) => fs.writeFileSync(bundlePath, code)),
      waitForSandbox(
        sandboxUrl,
        services.spawn({
          name: 'sandbox',
          command: process.execPath,
          args: ['--import', 'tsx', 'sandbox/main.ts'],
          cwd: ROOT_DIR,
          env: { SANDBOX_PORT: String(sandboxPort), SANDBOX_DATA_DIR: path.join(dir, 'sandbox'), NODE_ENV: 'test', LOG_LEVEL: 'warn' },
        }),
      ),
      // Automine: a block per transaction; tests that need confirmations mine them (test/support/chain.ts).
      startEvmNode(services, { port: evmPort, mining: 'auto', mnemonic: config.chain.localNode.mnemonic }),
    ]);
    for (const result of results) if (result.status === 'rejected') throw result.reason;
    const databaseUrl = (results[0] as PromiseFulfilledResult<RunningMariadb>).value.url;
    const evm = (results[4] as PromiseFulfilledResult<RunningEvmNode>).value;

    const db = createDb(databaseUrl, 2);
    try {
      await migrateLatest(db);
      // The donation tests pay through the sandbox: its merchant credentials become the payment configs.
      await provisionSandboxGateways(db, config.secrets.keys, sandboxUrl);
      // The chain tests find the node as the network `local`, with its tokens.
      await provisionLocalNetwork(db, evm, { confirmations: config.chain.localNode.confirmations, blockTimeMs: 1000 });
      // The wallet seed, each network's hot and collection wallet, and gas and tokens for those of the local chain.
      await provisionWallets(db, config);
      await fundLocalWallets(db, evm);
    } finally {
      await db.destroy();
    }

    Object.assign(process.env, {
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      TEMPORAL_UI_URL: `http://localhost:${temporalUiPort}`,
      WORKFLOW_BUNDLE_PATH: bundlePath,
      SANDBOX_URL: sandboxUrl,
      PAYOUT_API_URL: `${sandboxUrl}/thirdpart/onePass`,
      EVM_RPC_URL: evm.rpcUrl,
      EVM_TOKENS: JSON.stringify(evm.tokens),
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      // Every test client is 127.0.0.1: the rate limit tests set their own.
      RATE_LIMIT_PER_SECOND: '100000',
    });
    console.log(`\n[test stack] MariaDB :${mysqlPort}, Temporal :${temporalPort} (UI :${temporalUiPort}), sandbox :${sandboxPort}, EVM node :${evmPort} (chain ${LOCAL_CHAIN_ID}), ready in ${((Date.now() - started) / 1000).toFixed(1)}s`);
  } catch (err) {
    await services.stopAll();
    lock.release();
    globalThis.__durapayTestStack = undefined;
    throw err;
  }
}
