// DonationWorkflow (`donation-{orderNo}`): order → QR at the gateway → wait for the verified notice, or poll the
// gateway when none comes → paid: ledger + ranking, once; not paid by expiry: close the trade and expire the order,
// still taking a late payment for a while.
import { ActivityFailure, ApplicationFailure, condition, proxyActivities, proxyLocalActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { donationActivities, SettlePayment } from '../activities/donations';
import type { PaymentNotice, TradeStatus } from '../activities/providers/donation-gateway';
import { awaitQrUpdate, donationStatusQuery, paymentNoticeSignal } from '../domain/donation';
import type { DonationOrder, DonationProgress, DonationResult, DonationStatusName } from '../domain/donation';
import { money } from '../domain/money';
import { PaymentStatus } from '../domain/search-attributes';

type Activities = ReturnType<typeof donationActivities>;

// DB writes, as local activities (short transactions, no round trip through the task queue), retried until they
// succeed: they are idempotent and the order must reach its final state.
const { createDonationOrder, settleDonation, closeDonationOrder } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s' },
});
// The QR is awaited by the caller: a gateway that stays down gives a clear error within seconds, not a hung request.
const { precreateTrade } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '4s', maximumAttempts: 4, nonRetryableErrorTypes: ['gateway_refused', 'method_disabled'] },
});
// A poll that fails is simply tried again at the next poll.
const { queryTrade, closeTrade } = proxyActivities<Activities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
});

export async function DonationWorkflow(order: DonationOrder): Promise<DonationResult> {
  let progress: DonationProgress = { orderNo: order.orderNo, status: 'pending', qrContent: null, paidAt: null, failure: null };
  let providerTradeNo: string | null = null;
  let notice: PaymentNotice | undefined;

  setHandler(donationStatusQuery, () => progress);
  setHandler(paymentNoticeSignal, (n) => {
    // The API checked signature, order and amount; the first notice wins, repeats change nothing.
    if (!notice && n.orderNo === order.orderNo && money(n.amount).equals(order.amount)) notice = n;
  });
  setHandler(awaitQrUpdate, async () => {
    await condition(() => progress.qrContent !== null || progress.failure !== null);
    if (progress.qrContent === null && progress.failure) {
      throw ApplicationFailure.create({ message: progress.failure.message, type: progress.failure.code, nonRetryable: true });
    }
    return progress;
  });

  const setStatus = (status: DonationStatusName, changes: Partial<DonationProgress> = {}) => {
    progress = { ...progress, ...changes, status };
    upsertSearchAttributes([{ key: PaymentStatus, value: status }]);
  };
  const result = (): DonationResult => ({ orderNo: order.orderNo, status: progress.status, providerTradeNo, paidAt: progress.paidAt });

  async function settle(payment: SettlePayment): Promise<DonationResult> {
    await settleDonation(payment);
    providerTradeNo = payment.providerTradeNo;
    setStatus(payment.late ? 'paid_late' : 'paid', { paidAt: payment.paidAt });
    return result();
  }

  await createDonationOrder(order);
  try {
    const { qrContent } = await precreateTrade(order);
    progress = { ...progress, qrContent };
  } catch (err) {
    const failure = gatewayFailure(err);
    setStatus('failed', { failure });
    await closeDonationOrder(order.orderNo, 'failed', failure.message);
    return result();
  }

  const payment = await waitForPayment(order, () => notice);
  if (payment) return settle(payment);

  const paidMeanwhile = (await closeAtGateway(order)) ?? paidBy(order, notice, false);
  if (paidMeanwhile) return settle(paidMeanwhile);
  setStatus('expired');
  await closeDonationOrder(order.orderNo, 'expired', null);

  // The gateway keeps notifying for about a day; a payment it reports now is recorded, as paid late.
  if (await condition(() => notice !== undefined, order.lateWindowMs)) return settle(paidBy(order, notice, true)!);
  return result();
}

/** Until expiry: the notice as soon as it comes, else a poll of the gateway on a doubling backoff. */
async function waitForPayment(order: DonationOrder, notice: () => PaymentNotice | undefined): Promise<SettlePayment | undefined> {
  const deadline = Date.parse(order.expiresAt);
  let wait = order.pollInitialMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return undefined;
    if (await condition(() => notice() !== undefined, Math.min(wait, left))) return paidBy(order, notice(), false);
    const paid = fromStatus(order, await pollGateway(order));
    if (paid) return paid;
    wait = Math.min(wait * 2, order.pollMaxMs);
  }
}

/** At expiry: one last look, then close the trade so it can no longer be paid. A trade found paid is returned. */
async function closeAtGateway(order: DonationOrder): Promise<SettlePayment | undefined> {
  const before = fromStatus(order, await pollGateway(order));
  if (before) return before;
  let outcome;
  try {
    outcome = await closeTrade(order.method, order.orderNo);
  } catch {
    return undefined; // the trade may stay open: a payment the gateway reports later is still taken, as late
  }
  if (outcome === 'already_paid') return fromStatus(order, await pollGateway(order));
  return undefined;
}

async function pollGateway(order: DonationOrder): Promise<TradeStatus | undefined> {
  try {
    return await queryTrade(order.method, order.orderNo);
  } catch {
    return undefined;
  }
}

function fromStatus(order: DonationOrder, status: TradeStatus | undefined): SettlePayment | undefined {
  if (status?.state !== 'paid' || !money(status.amount).equals(order.amount)) return undefined;
  return { orderNo: order.orderNo, providerTradeNo: status.providerTradeNo, buyerId: status.buyerId, paidAt: status.paidAt, late: false };
}

function paidBy(order: DonationOrder, notice: PaymentNotice | undefined, late: boolean): SettlePayment | undefined {
  if (!notice) return undefined;
  return { orderNo: order.orderNo, providerTradeNo: notice.providerTradeNo, buyerId: notice.buyerId, paidAt: notice.paidAt, late };
}

/** Why the QR could not be made: the gateway refused (its code), or it stayed unreachable through the retries. */
function gatewayFailure(err: unknown): { code: string; message: string } {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure && cause.nonRetryable && cause.type) return { code: cause.type, message: cause.message };
  const message = cause instanceof Error ? cause.message : String(cause);
  return { code: 'gateway_unavailable', message: `the gateway did not answer after several attempts: ${message}` };
}
