// Builds the worker of the `payments` task queue from its dependencies.
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createChainClients } from '../activities/chain-clients';
import { createGatewayRegistry } from '../activities/providers/gateways';
import { createPayoutApiClient } from '../activities/providers/payout-api-client';
import { createWalletSigner } from '../activities/providers/wallet-keys';
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
      webhooks: config.m2pool.webhooks,
      deposits: { rpcTimeoutMs: config.chain.rpcTimeoutMs, m2poolChains: config.m2pool.chains },
      chains: createChainClients(db, { timeoutMs: config.chain.rpcTimeoutMs }),
      walletSigner: createWalletSigner(db, config.secrets.keys),
    }),
    maxConcurrentActivityTaskExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentLocalActivityExecutions: config.worker.maxConcurrentActivities,
    maxConcurrentWorkflowTaskExecutions: config.worker.maxConcurrentWorkflowTasks,
    workflowTaskPollerBehavior: pollers(config.worker.workflowTaskPollers),
    activityTaskPollerBehavior: pollers(config.worker.activityTaskPollers),
  });
}

const pollers = (setting: number | 'autoscaling'): NonNullable<WorkerOptions['workflowTaskPollerBehavior']> =>
  setting === 'autoscaling' ? { type: 'autoscaling' } : { type: 'simple-maximum', maximum: setting };
