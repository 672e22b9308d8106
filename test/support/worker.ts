// Runs the real payments worker in the test process, against the test stack started by globalSetup.
import { readFileSync } from 'node:fs';
import { NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { loadConfig } from '../../config';
import { createDb } from '../../db/knex';
import { createPaymentsWorker } from '../../workers/create-worker';

let runtimeInstalled = false;

/** Keeps the SDK's core logs to warnings so test output stays readable. */
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: console.error } });
  } catch {
    // Already installed by an earlier worker in this process.
  }
}

export interface TestWorker {
  worker: Worker;
  shutdown(): Promise<void>;
}

export async function startTestWorker(env: NodeJS.ProcessEnv = process.env): Promise<TestWorker> {
  quietRuntime();
  const config = loadConfig(env);
  const bundlePath = env.WORKFLOW_BUNDLE_PATH;
  if (!bundlePath) throw new Error('WORKFLOW_BUNDLE_PATH is not set: run the tests through `npm test`');
  const db = createDb(config.db.url, config.db.poolMax);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await createPaymentsWorker({ connection, db, config, workflowBundleCode: readFileSync(bundlePath, 'utf8') });
  const running = worker.run();
  return {
    worker,
    async shutdown() {
      worker.shutdown();
      await running;
      await connection.close();
      await db.destroy();
    },
  };
}
