// NotificationWorkflow (`notify-{id}`): record the notification, then deliver it as a signed webhook, retried with backoff
// until the receiver answers 2xx or the retry window closes (24 h by default), after which it is failed until an admin
// redelivers it (a new run of the same id). A second start of a notification already delivered or failed sends nothing.
import {
  ActivityFailure,
  defineQuery,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { notifyActivities } from '../activities/notify';
import type { NotificationState } from '../db/notifications';
import type { NotificationRequest } from '../domain/notification';
import { PaymentKind, PaymentStatus } from '../domain/search-attributes';
import { deliveredAtFirstAttempt } from './first-delivery';
import { FIRST_DELIVERY_LOCAL } from './patches';

type Activities = ReturnType<typeof notifyActivities>;

export interface NotificationOutcome {
  id: string;
  state: NotificationState;
  /** The delivery run this workflow run made, or found finished. */
  run: number;
}

export const notificationStatusQuery = defineQuery<NotificationOutcome>('status');

// DB writes, retried until they succeed: they are idempotent, and the notification must reach its final state.
const { recordNotification, giveUpNotification } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: ['exists_with_different_fields', 'invalid_amount'] },
});


export async function NotificationWorkflow(request: NotificationRequest): Promise<NotificationOutcome> {
  let outcome: NotificationOutcome = { id: request.id, state: 'pending', run: 0 };
  setHandler(notificationStatusQuery, () => outcome);
  upsertSearchAttributes([
    { key: PaymentKind, value: 'notification' },
    { key: PaymentStatus, value: 'pending' },
  ]);
  const finish = (state: NotificationState, run: number): NotificationOutcome => {
    outcome = { id: request.id, state, run };
    upsertSearchAttributes([{ key: PaymentStatus, value: state }]);
    return outcome;
  };

  const plan = await recordNotification(request);
  if (plan.state !== 'pending') return finish(plan.state, plan.run);
  outcome = { ...outcome, run: plan.run };

  // Every non-2xx answer and every network error is retried, doubling the wait, until the window closes. One attempt is a
  // POST that times out after 10 s (activities/notify.ts), then its record.
  const { deliverWebhook } = proxyActivities<Activities>({
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: plan.retryForMs,
    retry: { initialInterval: plan.retryInitialMs, backoffCoefficient: 2, maximumInterval: plan.retryMaxMs },
  });
  // Since FIRST_DELIVERY_LOCAL, the first attempt is a local activity: a receiver that answers at once costs the server
  // no task of its own. Any failure goes on to the retried activity above, its attempts numbered after this one.
  // A notification taken over from the workflow that sent it first has had its immediate attempt: the retried ones follow,
  // the first after the retry interval, as a retry would.
  const taken = request.attemptsMade?.run === plan.run ? request.attemptsMade.attempts : 0;
  if (taken) await sleep(plan.retryInitialMs);
  let priorAttempts = taken;
  if (!taken && patched(FIRST_DELIVERY_LOCAL)) {
    if (await deliveredAtFirstAttempt(request.id, plan.run)) return finish('delivered', plan.run);
    priorAttempts += 1;
  }
  try {
    await deliverWebhook(request.id, plan.run, priorAttempts);
    return finish('delivered', plan.run);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    await giveUpNotification(request.id, plan.run, `not delivered within ${plan.retryForMs} ms: ${(err.cause ?? err).message}`);
    return finish('failed', plan.run);
  }
}
