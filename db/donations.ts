// Donation orders and their refunds: written by the donation and refund workflows' activities, read by the API.
import type { Knex } from 'knex';
import type { PaymentMethod } from '../activities/providers/donation-gateway';
import type { DonationOrder, DonationStatusName, RefundStatusName } from '../domain/donation';
import { DomainError } from '../domain/errors';
import { formatAmount, money } from '../domain/money';
import { isoTime, sqlTime, type Db } from './knex';

export interface DonationRecord {
  orderNo: string;
  workflowId: string;
  requestDigest: string;
  categoryId: string;
  method: PaymentMethod;
  amount: string;
  currency: string;
  uid: number | null;
  donorName: string | null;
  message: string | null;
  status: DonationStatusName;
  qrContent: string | null;
  providerTradeNo: string | null;
  expiresAt: string;
  paidAt: string | null;
  refundedAmount: string;
  failureReason: string | null;
  createdAt: string;
}

interface DonationRow {
  order_no: string;
  workflow_id: string;
  request_digest: string;
  category_id: string;
  method: PaymentMethod;
  amount: string;
  currency: string;
  uid: string | null;
  donor_name: string | null;
  message: string | null;
  status: DonationStatusName;
  qr_content: string | null;
  provider_trade_no: string | null;
  expires_at: string;
  paid_at: string | null;
  refunded_amount: string;
  failure_reason: string | null;
  created_at: string;
}

/** MySQL DATETIME in UTC ↔ ISO 8601. */

const toRecord = (r: DonationRow): DonationRecord => ({
  orderNo: r.order_no,
  workflowId: r.workflow_id,
  requestDigest: r.request_digest,
  categoryId: r.category_id,
  method: r.method,
  amount: formatAmount(r.amount, r.currency),
  currency: r.currency,
  uid: r.uid === null ? null : Number(r.uid),
  donorName: r.donor_name,
  message: r.message,
  status: r.status,
  qrContent: r.qr_content,
  providerTradeNo: r.provider_trade_no,
  expiresAt: isoTime(r.expires_at),
  paidAt: r.paid_at === null ? null : isoTime(r.paid_at),
  refundedAmount: formatAmount(r.refunded_amount, r.currency),
  failureReason: r.failure_reason,
  createdAt: isoTime(r.created_at),
});

export async function getDonation(db: Db | Knex.Transaction, orderNo: string, lock = false): Promise<DonationRecord | undefined> {
  const query = db<DonationRow>('donations').where({ order_no: orderNo });
  const row = await (lock ? query.forUpdate() : query).first();
  return row && toRecord(row);
}

/** Records the order. Idempotent by orderNo: a second call returns the stored order (whose digest the caller compares). */
export async function insertDonation(db: Db, order: DonationOrder, workflowId: string): Promise<DonationRecord> {
  await db.raw(
    `INSERT IGNORE INTO donations (order_no, workflow_id, request_digest, category_id, method, amount, currency, uid, donor_name, message, expires_at)
     VALUES (?, ?, ?, ?, ?, CAST(? AS DECIMAL(38,18)), ?, ?, ?, ?, ?)`,
    [order.orderNo, workflowId, order.requestDigest, order.categoryId, order.method, order.amount, order.currency, order.uid, order.donorName, order.message, sqlTime(order.expiresAt)],
  );
  return (await getDonation(db, order.orderNo))!;
}

export async function setQrContent(db: Db, orderNo: string, qrContent: string): Promise<void> {
  await db('donations').where({ order_no: orderNo }).update({ qr_content: qrContent, updated_at: db.fn.now(3) });
}

/** Moves a pending order to expired or failed; an order already paid is left as it is. */
export async function closeDonation(db: Db, orderNo: string, status: 'expired' | 'failed', reason: string | null): Promise<void> {
  await db('donations').where({ order_no: orderNo, status: 'pending' }).update({ status, failure_reason: reason, updated_at: db.fn.now(3) });
}

/**
 * Marks the order paid (or paid late) inside `trx`, once: true when this call made the change, false when it was
 * already paid. The caller updates the ranking in the same transaction only when it is true.
 */
export async function markDonationPaid(
  trx: Knex.Transaction,
  orderNo: string,
  payment: { status: 'paid' | 'paid_late'; providerTradeNo: string; buyerId: string | null; paidAt: string },
): Promise<boolean> {
  const changed = await trx('donations')
    .where({ order_no: orderNo })
    .whereIn('status', ['pending', 'expired', 'failed'])
    .update({
      status: payment.status,
      provider_trade_no: payment.providerTradeNo,
      buyer_id: payment.buyerId,
      paid_at: sqlTime(payment.paidAt),
      failure_reason: null,
      updated_at: trx.fn.now(3),
    });
  return changed === 1;
}

// ---- refunds ----

export interface RefundRecord {
  refundNo: string;
  orderNo: string;
  amount: string;
  reason: string | null;
  status: RefundStatusName;
  providerRefundNo: string | null;
  failureReason: string | null;
  refundedAt: string | null;
  createdAt: string;
}

interface RefundRow {
  refund_no: string;
  order_no: string;
  amount: string;
  reason: string | null;
  status: RefundStatusName;
  provider_refund_no: string | null;
  failure_reason: string | null;
  refunded_at: string | null;
  created_at: string;
}

const toRefund = (r: RefundRow, currency = 'CNY'): RefundRecord => ({
  refundNo: r.refund_no,
  orderNo: r.order_no,
  amount: formatAmount(r.amount, currency),
  reason: r.reason,
  status: r.status,
  providerRefundNo: r.provider_refund_no,
  failureReason: r.failure_reason,
  refundedAt: r.refunded_at === null ? null : isoTime(r.refunded_at),
  createdAt: isoTime(r.created_at),
});

export async function getRefund(db: Db | Knex.Transaction, refundNo: string): Promise<RefundRecord | undefined> {
  const row = await db<RefundRow>('donation_refunds').where({ refund_no: refundNo }).first();
  return row && toRefund(row);
}

export async function listRefunds(db: Db, orderNo: string): Promise<RefundRecord[]> {
  const rows = await db<RefundRow>('donation_refunds').where({ order_no: orderNo }).orderBy('created_at');
  return rows.map((r) => toRefund(r));
}

/**
 * What is left to refund on a paid order: paid amount minus every refund not failed. Run inside `trx` with the
 * order locked, so two refunds asked at once cannot both take the same remainder.
 */
export async function refundableAmount(trx: Knex.Transaction, order: DonationRecord): Promise<string> {
  const [{ taken }] = await trx('donation_refunds').where({ order_no: order.orderNo }).whereNot({ status: 'failed' }).sum({ taken: 'amount' });
  return money(order.amount).minus(taken ?? 0).toFixed();
}

/**
 * Records a refund of a paid order, within what is left to refund, in `trx`. Idempotent by refundNo: a refund
 * already recorded is returned as it is (the same number for another order or amount is a conflict).
 */
export async function insertRefund(trx: Knex.Transaction, refund: { refundNo: string; orderNo: string; amount: string; reason: string | null }): Promise<RefundRecord> {
  const existing = await getRefund(trx, refund.refundNo);
  if (existing) {
    if (existing.orderNo !== refund.orderNo || !money(existing.amount).equals(refund.amount)) {
      throw new DomainError('idempotency_conflict', `refund ${refund.refundNo} exists for another order or amount`, { refundNo: refund.refundNo });
    }
    return existing;
  }
  const order = await getDonation(trx, refund.orderNo, true);
  if (!order) throw new DomainError('not_found', `no donation ${refund.orderNo}`);
  if (order.status !== 'paid' && order.status !== 'paid_late') {
    throw new DomainError('donation_not_paid', `donation ${refund.orderNo} is ${order.status}: only a paid donation can be refunded`);
  }
  const left = await refundableAmount(trx, order);
  if (money(refund.amount).gt(left)) {
    throw new DomainError('refund_exceeds_paid', `refund of ${refund.amount} asked, ${left} ${order.currency} left to refund on ${refund.orderNo}`, { refundable: left });
  }
  await trx.raw('INSERT INTO donation_refunds (refund_no, order_no, amount, reason) VALUES (?, ?, CAST(? AS DECIMAL(38,18)), ?)', [
    refund.refundNo,
    refund.orderNo,
    refund.amount,
    refund.reason,
  ]);
  return (await getRefund(trx, refund.refundNo))!;
}

/** Ends a processing refund, once: true when this call made the change. A succeeded refund adds to the order's refunded amount. */
export async function finishRefund(
  trx: Knex.Transaction,
  refundNo: string,
  outcome: { status: 'succeeded'; providerRefundNo: string; refundedAt: string } | { status: 'failed'; reason: string },
): Promise<boolean> {
  const refund = await trx<RefundRow>('donation_refunds').where({ refund_no: refundNo }).forUpdate().first();
  if (!refund || refund.status !== 'processing') return false;
  if (outcome.status === 'succeeded') {
    await trx('donation_refunds')
      .where({ refund_no: refundNo })
      .update({ status: 'succeeded', provider_refund_no: outcome.providerRefundNo, refunded_at: sqlTime(outcome.refundedAt), updated_at: trx.fn.now(3) });
    await trx('donations')
      .where({ order_no: refund.order_no })
      .update({ refunded_amount: trx.raw('refunded_amount + CAST(? AS DECIMAL(38,18))', [money(refund.amount).toFixed()]), updated_at: trx.fn.now(3) });
  } else {
    await trx('donation_refunds').where({ refund_no: refundNo }).update({ status: 'failed', failure_reason: outcome.reason.slice(0, 255), updated_at: trx.fn.now(3) });
  }
  return true;
}
