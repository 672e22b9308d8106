// Builds the worker of the `payments` task queue from its dependencies.
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createGatewayRegistry } from '../activities/providers/gateways';
import { createPayoutApiClient } from '../activities/providers/payout-api-client';
import type { Config } from '../config';
import type { Db } from '../db/knex';

export interface WorkerDeps {
  connection: NativeConnection;
  db: Db;
  config: Config;
  /** The workflow bundle (workers/bundle.ts), built once per process or ahead of time. */
  workflowBundleCode: string;
}

export function createPaymentsWorker({ connection, db, config, workflowBundleCode }: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: { code: workflowBundleCode },
    activities: createActivities({
      db,
      payouts: createPayoutApiClient(config.payouts),
      gateways: createGatewayRegistry(db, config.secrets.keys, config.donations.gatewayTimeoutMs),
      rankingTimeZone: config.donations.rankingTimeZone,
    }),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentLocalActivityExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
  });
}
