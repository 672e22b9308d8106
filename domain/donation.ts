// DonationWorkflow's and RefundWorkflow's contracts: inputs, results, signals, queries and updates, workflow ID
// rules and start options, shared by the API and the worker.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { PaymentMethod, PaymentNotice } from '../activities/providers/donation-gateway';
import { PaymentKind, PaymentStatus, Uid } from './search-attributes';

export type DonationStatusName = 'pending' | 'paid' | 'paid_late' | 'expired' | 'failed';

/** Everything the workflow needs, fixed by the API when the donation is created. */
export interface DonationOrder {
  orderNo: string;
  categoryId: string;
  method: PaymentMethod;
  /** CNY, two places. */
  amount: string;
  currency: string;
  uid: number | null;
  donorName: string | null;
  message: string | null;
  /** sha256 of the canonical request: the same Idempotency-Key with another body is a conflict. */
  requestDigest: string;
  /** The trade is closed at the gateway and the order expired at this instant (ISO, UTC). */
  expiresAt: string;
  /** The gateway's callback URL for this method. */
  notifyUrl: string;
  /** Polling the gateway when no notify comes: first after pollInitialMs, doubling up to pollMaxMs. */
  pollInitialMs: number;
  pollMaxMs: number;
  /** After expiry, how long a late payment notice is still taken (recorded as paid_late). */
  lateWindowMs: number;
}

/** What the API shows of a donation while its workflow runs. */
export interface DonationProgress {
  orderNo: string;
  status: DonationStatusName;
  qrContent: string | null;
  paidAt: string | null;
  failure: { code: string; message: string } | null;
}

export interface DonationResult {
  orderNo: string;
  status: DonationStatusName;
  providerTradeNo: string | null;
  paidAt: string | null;
}

/** A verified payment notice from the gateway's callback (the API verified signature, app id, order and amount). */
export const paymentNoticeSignal = defineSignal<[PaymentNotice]>('paymentNotice');
export const donationStatusQuery = defineQuery<DonationProgress>('status');
/** Waits until the QR is ready and returns the order's progress; fails with the gateway's error when it could not be made. */
export const awaitQrUpdate = defineUpdate<DonationProgress>('awaitQr');

export const donationWorkflowId = (orderNo: string): string => `donation-${orderNo}`;

export function donationStartOptions(order: DonationOrder, taskQueue: string) {
  return {
    taskQueue,
    workflowId: donationWorkflowId(order.orderNo),
    args: [order] as [DonationOrder],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: PaymentKind, value: 'donation' },
      { key: PaymentStatus, value: 'pending' },
      { key: Uid, value: order.uid === null ? [] : [String(order.uid)] },
    ],
  };
}

// ---- refunds ----

export type RefundStatusName = 'processing' | 'succeeded' | 'failed';

export interface RefundOrder {
  refundNo: string;
  orderNo: string;
  amount: string;
  reason: string | null;
  /** Polling the gateway while the refund is processing: first after pollInitialMs, doubling up to pollMaxMs. */
  pollInitialMs: number;
  pollMaxMs: number;
}

export interface RefundResult {
  refundNo: string;
  orderNo: string;
  amount: string;
  status: RefundStatusName;
  providerRefundNo: string | null;
  failureReason: string | null;
}

export const refundStatusQuery = defineQuery<RefundResult>('status');
export const refundWorkflowId = (refundNo: string): string => `refund-${refundNo}`;

export function refundStartOptions(order: RefundOrder, taskQueue: string) {
  return {
    taskQueue,
    workflowId: refundWorkflowId(order.refundNo),
    args: [order] as [RefundOrder],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'REJECT_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: PaymentKind, value: 'refund' },
      { key: PaymentStatus, value: 'processing' },
    ],
  };
}

/** The ledger account a category's donations are credited to, and the one standing for money at a gateway. */
export const categoryAccount = (categoryId: string): string => `donations:${categoryId}`;
export const gatewayAccount = (method: PaymentMethod): string => `external:${method}`;
export const donationTransferId = (orderNo: string): string => `donation:${orderNo}`;
export const refundTransferId = (refundNo: string): string => `refund:${refundNo}`;

/** Who the ranking counts a donation for: the donor's uid, or the donation itself when it has none. */
export const donorKey = (donation: { uid: number | null; orderNo: string }): string => (donation.uid === null ? `guest:${donation.orderNo}` : `uid:${donation.uid}`);
