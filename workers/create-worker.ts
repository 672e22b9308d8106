// Builds the worker of the `payments` task queue from its dependencies.
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { WORKFLOWS_PATH } from './bundle';

export interface WorkerDeps {
  connection: NativeConnection;
  db: Db;
  config: Config;
  /** Pre-bundled workflow code (tests bundle once); without it the worker bundles on start. */
  workflowBundleCode?: string;
}

export function createPaymentsWorker({ connection, db, config, workflowBundleCode }: WorkerDeps): Promise<Worker> {
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    ...(workflowBundleCode ? { workflowBundle: { code: workflowBundleCode } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities({ db }),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentLocalActivityExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
  });
}
