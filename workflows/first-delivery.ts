// A notification's first delivery attempt: one POST as a local activity, made by NotificationWorkflow, or by a payout for
// its own final notification. A refused attempt is an answer (false), for the retried activity to follow; a cancellation
// is not.
import { CancelledFailure, proxyLocalActivities, TemporalFailure } from '@temporalio/workflow';
import type { notifyActivities } from '../activities/notify';

const { deliverWebhook } = proxyLocalActivities<ReturnType<typeof notifyActivities>>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } });

/** Whether one attempt at delivery run `run` of notification `id` was answered 2xx (and recorded as attempt 1). */
export async function deliveredAtFirstAttempt(id: string, run: number): Promise<boolean> {
  try {
    await deliverWebhook(id, run);
    return true;
  } catch (err) {
    // A local activity's failure comes as its cause itself (an ApplicationFailure, a TimeoutFailure), not wrapped.
    if (!(err instanceof TemporalFailure) || err instanceof CancelledFailure) throw err;
    return false;
  }
}
