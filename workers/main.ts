// The worker process (`npm run worker`): runs every workflow and activity until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { loadConfig } from '../config';
import { createDb } from '../db/knex';
import { bundleWorkflows } from './bundle';
import { createPaymentsWorker } from './create-worker';
import { ensureSearchAttributes } from './search-attributes';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { process: 'worker' } });
  const db = createDb(config.db.url, config.db.poolMax);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const registered = await ensureSearchAttributes(connection, config.temporal.namespace);
  if (registered.length) log.info({ registered }, 'registered search attributes');

  const bundlePath = config.worker.workflowBundlePath;
  // Bundled here rather than by Worker.create, whose webpack report would flood the stack's output.
  const workflowBundleCode = bundlePath ? readFileSync(bundlePath, 'utf8') : await bundleWorkflows();
  const worker = await createPaymentsWorker({ connection, db, config, workflowBundleCode });
  log.info({ taskQueue: config.temporal.taskQueue, temporal: config.temporal.address }, 'worker started');
  // The SDK shuts the worker down gracefully on SIGINT/SIGTERM; run() returns once in-flight tasks finish.
  await worker.run();
  await connection.close();
  await db.destroy();
  log.info('worker stopped');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
