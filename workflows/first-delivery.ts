// A notification's first delivery attempt: one POST as a local activity, made by NotificationWorkflow, or by the deposit or
// payout that produced the notification (which hands it over to NotificationWorkflow only when that attempt fails). A
// refused attempt is an answer (false), for the retried activity to follow; a cancellation is not.
import { CancelledFailure, proxyLocalActivities, TemporalFailure } from '@temporalio/workflow';
import type { notifyActivities } from '../activities/notify';
import type { NotificationRequest } from '../domain/notification';

type Activities = ReturnType<typeof notifyActivities>;

const { deliverWebhook } = proxyLocalActivities<Activities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } });
// A DB write, retried until it succeeds: it is idempotent, and the notification must be recorded.
const { recordNotification } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});

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

/**
 * Records `request`, delivered by the calling workflow, and makes the first attempt here. Null when nothing is left to do
 * (delivered now, or finished before); otherwise the request to hand over to NotificationWorkflow, with the attempt made.
 */
export async function deliverHereFirst(request: NotificationRequest): Promise<NotificationRequest | null> {
  const plan = await recordNotification(request);
  if (plan.state !== 'pending' || (await deliveredAtFirstAttempt(request.id, plan.run))) return null;
  return { ...request, attemptsMade: { run: plan.run, attempts: 1 } };
}
