// RefundWorkflow (`refund-{refundNo}`): reserve the refund within what was paid (a hold on the category's account) →
// ask the gateway → follow the refund until the gateway says it succeeded or failed → post or void the hold.
import { ActivityFailure, ApplicationFailure, proxyActivities, setHandler, sleep, upsertSearchAttributes } from '@temporalio/workflow';
import type { donationActivities } from '../activities/donations';
import type { RefundStatus } from '../activities/providers/donation-gateway';
import { refundStatusQuery } from '../domain/donation';
import type { RefundOrder, RefundResult } from '../domain/donation';
import { PaymentStatus } from '../domain/search-attributes';

type Activities = ReturnType<typeof donationActivities>;

const { reserveRefund, completeRefund } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
// The gateway dedupes by refund number, so asking again after a lost answer refunds once.
const { requestRefund, queryRefund } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m', nonRetryableErrorTypes: ['gateway_refused', 'method_disabled'] },
});

export async function RefundWorkflow(order: RefundOrder): Promise<RefundResult> {
  let result: RefundResult = { refundNo: order.refundNo, orderNo: order.orderNo, amount: order.amount, status: 'processing', providerRefundNo: null, failureReason: null };
  setHandler(refundStatusQuery, () => result);

  const { method, totalAmount } = await reserveRefund(order);

  let status: RefundStatus;
  try {
    status = await requestRefund(order, method, totalAmount);
    for (let wait = order.pollInitialMs; status.state === 'processing' || status.state === 'not_found'; wait = Math.min(wait * 2, order.pollMaxMs)) {
      await sleep(wait);
      status = await queryRefund(method, order.orderNo, order.refundNo);
      // Never arrived (its answer and the request were lost together): ask again under the same refund number.
      if (status.state === 'not_found') status = await requestRefund(order, method, totalAmount);
    }
  } catch (err) {
    status = { state: 'failed', reason: refusal(err) };
  }

  if (status.state === 'succeeded') {
    await completeRefund(order.refundNo, { status: 'succeeded', providerRefundNo: status.providerRefundNo, refundedAt: status.refundedAt });
    result = { ...result, status: 'succeeded', providerRefundNo: status.providerRefundNo };
  } else {
    await completeRefund(order.refundNo, { status: 'failed', reason: status.reason });
    result = { ...result, status: 'failed', failureReason: status.reason };
  }
  upsertSearchAttributes([{ key: PaymentStatus, value: result.status }]);
  return result;
}

function refusal(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.nonRetryable) return cause.message;
  throw err;
}
