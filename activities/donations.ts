// Donation and refund activities: the order's records, the gateway calls, and the paid / refunded settlements
// (ledger + ranking), each safe to run twice.
import { ApplicationFailure } from '@temporalio/common';
import { closeDonation, finishRefund, getDonation, getRefund, insertDonation, insertRefund, markDonationPaid, setQrContent } from '../db/donations';
import type { Db } from '../db/knex';
import { createTransfer, settleMany } from '../db/ledger';
import { applyToRanking, rankingDay } from '../db/rankings';
import {
  categoryAccount,
  donationTransferId,
  donationWorkflowId,
  donorKey,
  gatewayAccount,
  refundTransferId,
  refundWorkflowId,
  type DonationOrder,
  type RefundOrder,
} from '../domain/donation';
import { DomainError } from '../domain/errors';
import { money } from '../domain/money';
import { failingAsDomain } from './failures';
import { GatewayError, type CloseOutcome, type PaymentMethod, type RefundStatus, type TradeStatus } from './providers/donation-gateway';
import type { GatewayRegistry } from './providers/gateways';

/** A gateway refusal retrying cannot fix ends the attempt for good; anything else (5xx, timeouts) is retried by Temporal. */
async function callingGateway<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await failingAsDomain(call);
  } catch (err) {
    if (err instanceof GatewayError && !err.retryable) {
      throw ApplicationFailure.create({ message: err.message, type: 'gateway_refused', nonRetryable: true, details: [{ gatewayCode: err.code }] });
    }
    throw err;
  }
}

export interface SettlePayment {
  orderNo: string;
  providerTradeNo: string;
  buyerId: string | null;
  paidAt: string;
  late: boolean;
}

export function donationActivities(db: Db, gateways: GatewayRegistry, rankingTimeZone: string) {
  return {
    /** Idempotent by orderNo: a second call finds the stored order and returns its request digest. */
    async createDonationOrder(order: DonationOrder): Promise<{ requestDigest: string }> {
      const stored = await insertDonation(db, order, donationWorkflowId(order.orderNo));
      return { requestDigest: stored.requestDigest };
    },

    /** Idempotent by orderNo: the gateway returns the same QR for the same out_trade_no. */
    async precreateTrade(order: DonationOrder): Promise<{ qrContent: string }> {
      return callingGateway(async () => {
        const gateway = await gateways.gateway(order.method);
        const { qrContent } = await gateway.precreate({
          orderNo: order.orderNo,
          amount: order.amount,
          subject: `Donation ${order.orderNo}`,
          expiresAt: order.expiresAt,
          notifyUrl: order.notifyUrl,
        });
        await setQrContent(db, order.orderNo, qrContent);
        return { qrContent };
      });
    },

    /** A read. */
    async queryTrade(method: PaymentMethod, orderNo: string): Promise<TradeStatus> {
      return callingGateway(async () => (await gateways.gateway(method)).query(orderNo));
    },

    /** Idempotent: closing a closed trade is `closed`. */
    async closeTrade(method: PaymentMethod, orderNo: string): Promise<CloseOutcome> {
      return callingGateway(async () => (await gateways.gateway(method)).close(orderNo));
    },

    /**
     * Idempotent by orderNo: the ledger transfer has the order's id, and the order flips to paid (and the ranking
     * counts it) in one transaction, only if it was not paid yet.
     */
    async settleDonation(payment: SettlePayment): Promise<void> {
      await failingAsDomain(async () => {
        const order = await getDonation(db, payment.orderNo);
        if (!order) throw new DomainError('not_found', `no donation ${payment.orderNo}`);
        const reference = donationWorkflowId(order.orderNo);
        await createTransfer(db, {
          id: donationTransferId(order.orderNo),
          debitAccount: gatewayAccount(order.method),
          creditAccount: categoryAccount(order.categoryId),
          amount: order.amount,
          currency: order.currency,
          kind: 'donation',
          reference,
        });
        await db.transaction(async (trx) => {
          const changed = await markDonationPaid(trx, order.orderNo, {
            status: payment.late ? 'paid_late' : 'paid',
            providerTradeNo: payment.providerTradeNo,
            buyerId: payment.buyerId,
            paidAt: payment.paidAt,
          });
          if (!changed) return;
          await applyToRanking(trx, {
            donorKey: donorKey(order),
            uid: order.uid,
            name: order.donorName,
            categoryId: order.categoryId,
            day: rankingDay(payment.paidAt, rankingTimeZone),
            amount: order.amount,
            donations: 1,
          });
        });
      });
    },

    /** Idempotent: only a pending order changes. */
    async closeDonationOrder(orderNo: string, status: 'expired' | 'failed', reason: string | null): Promise<void> {
      await closeDonation(db, orderNo, status, reason);
    },

    /**
     * Records the refund within what is left to refund and holds its amount on the category's account. Idempotent by
     * refundNo (the refund row and the pending ledger transfer both carry it).
     */
    async reserveRefund(refund: RefundOrder): Promise<{ method: PaymentMethod; totalAmount: string }> {
      return failingAsDomain(async () => {
        await db.transaction((trx) => insertRefund(trx, refund));
        const order = (await getDonation(db, refund.orderNo))!;
        try {
          await createTransfer(db, {
            id: refundTransferId(refund.refundNo),
            debitAccount: categoryAccount(order.categoryId),
            creditAccount: gatewayAccount(order.method),
            amount: refund.amount,
            currency: order.currency,
            kind: 'refund',
            reference: refundWorkflowId(refund.refundNo),
            pending: true,
          });
        } catch (err) {
          if (err instanceof DomainError) await db.transaction((trx) => finishRefund(trx, refund.refundNo, { status: 'failed', reason: err.message }));
          throw err;
        }
        return { method: order.method, totalAmount: order.amount };
      });
    },

    /** Idempotent by refundNo: the gateway refunds a refund number once. */
    async requestRefund(refund: RefundOrder, method: PaymentMethod, totalAmount: string): Promise<RefundStatus> {
      return callingGateway(async () =>
        (await gateways.gateway(method)).refund({ orderNo: refund.orderNo, refundNo: refund.refundNo, amount: refund.amount, totalAmount, reason: refund.reason }),
      );
    },

    /** A read. */
    async queryRefund(method: PaymentMethod, orderNo: string, refundNo: string): Promise<RefundStatus> {
      return callingGateway(async () => (await gateways.gateway(method)).queryRefund(orderNo, refundNo));
    },

    /**
     * Ends the refund: on success the hold is posted, the order's refunded amount and the ranking go down; on failure
     * the hold is voided. Idempotent: the refund row changes once, in the transaction that settles the hold.
     */
    async completeRefund(
      refundNo: string,
      outcome: { status: 'succeeded'; providerRefundNo: string; refundedAt: string } | { status: 'failed'; reason: string },
    ): Promise<void> {
      await failingAsDomain(async () => {
        const refund = await getRefund(db, refundNo);
        if (!refund) throw new DomainError('not_found', `no refund ${refundNo}`);
        const order = (await getDonation(db, refund.orderNo))!;
        const transferId = refundTransferId(refundNo);
        await settleMany(db, outcome.status === 'succeeded' ? { post: [transferId] } : { void: [transferId] }, async (trx) => {
          const changed = await finishRefund(trx, refundNo, outcome);
          if (!changed || outcome.status !== 'succeeded') return;
          await applyToRanking(trx, {
            donorKey: donorKey(order),
            uid: order.uid,
            name: null,
            categoryId: order.categoryId,
            day: rankingDay(order.paidAt!, rankingTimeZone),
            amount: money(refund.amount).negated().toFixed(),
            donations: 0,
          });
        });
      });
    },
  };
}
