// NoopWorkflow: one no-op local activity and nothing else; the benchmark's ceiling for a workflow on this server.
import { proxyLocalActivities } from '@temporalio/workflow';
import type { noopActivities } from '../activities/noop';

const { noop } = proxyLocalActivities<ReturnType<typeof noopActivities>>({ startToCloseTimeout: '30s' });

export async function NoopWorkflow(): Promise<void> {
  await noop();
}
