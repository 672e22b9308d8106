// The worker process (`npm run worker`): runs every workflow and activity until SIGINT/SIGTERM.
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { loadConfig } from '../config';
import { createDb } from '../db/knex';
import { createPaymentsWorker } from './create-worker';
import { ensureSearchAttributes } from './search-attributes';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { process: 'worker' } });
  const db = createDb(config.db.url, config.db.poolMax);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const registered = await ensureSearchAttributes(connection, config.temporal.namespace);
  if (registered.length) log.info({ registered }, 'registered search attributes');

  const worker = await createPaymentsWorker({ connection, db, config });
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
