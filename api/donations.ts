// The API's side of DonationWorkflow and RefundWorkflow: validate against categories, payment configs and users,
// start (or join) the run for an order, wait for its QR, and show orders and refunds from their read models.
import { createHash, randomBytes } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { GatewayRegistry } from '../activities/providers/gateways';
import type { PaymentMethod } from '../activities/providers/donation-gateway';
import type { Config } from '../config';
import { getCategory } from '../db/categories';
import { getDonation, getRefund, listRefunds, type DonationRecord, type RefundRecord } from '../db/donations';
import type { Db } from '../db/knex';
import { uidForOpenid } from '../db/wechat-users';
import {
  awaitQrUpdate,
  donationStartOptions,
  refundStartOptions,
  refundWorkflowId,
  type DonationOrder,
  type RefundOrder,
  type RefundResult,
} from '../domain/donation';
import { DomainError, isErrorCode } from '../domain/errors';
import { formatAmount, money, parseAmount } from '../domain/money';
import type { DonationWorkflow } from '../workflows/donation';
import type { RefundWorkflow } from '../workflows/refund';
import { isCallDeadline } from './errors';
import { assertUsersExist } from './users';

export interface DonationDeps {
  client: Client;
  db: Db;
  config: Config;
  gateways: GatewayRegistry;
}

export interface DonationCommand {
  idempotencyKey: string | undefined;
  category: string;
  amount: string | number;
  method: PaymentMethod;
  uid?: number;
  openid?: string;
  name?: string;
  message?: string;
}

/** A donation as the API shows it. */
export interface DonationView {
  orderNo: string;
  status: DonationRecord['status'];
  category: string;
  amount: string;
  currency: string;
  method: PaymentMethod;
  donor: { uid: number | null; name: string | null };
  message: string | null;
  qrContent: string | null;
  qrImage: { png: string; svg: string } | null;
  expiresAt: string;
  paidAt: string | null;
  refundedAmount: string;
  failure: string | null;
  createdAt: string;
  workflowId: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** 32 characters of [A-Za-z0-9], as both gateways accept for out_trade_no: derived from the key, so a retry names the same order. */
function orderNoFor(idempotencyKey: string | undefined, now: Date): string {
  if (idempotencyKey !== undefined) return `D${sha256(`donation:${idempotencyKey}`).slice(0, 31)}`;
  const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
  return `D${stamp}${randomBytes(8).toString('hex')}`.slice(0, 32);
}

export function viewOf(record: DonationRecord): DonationView {
  const base = `/api/v1/donations/${record.orderNo}`;
  return {
    orderNo: record.orderNo,
    status: record.status,
    category: record.categoryId,
    amount: record.amount,
    currency: record.currency,
    method: record.method,
    donor: { uid: record.uid, name: record.donorName },
    message: record.message,
    qrContent: record.qrContent,
    qrImage: record.qrContent ? { png: `${base}/qr.png`, svg: `${base}/qr.svg` } : null,
    expiresAt: record.expiresAt,
    paidAt: record.paidAt,
    refundedAmount: record.refundedAmount,
    failure: record.failureReason,
    createdAt: record.createdAt,
    workflowId: record.workflowId,
  };
}

/** Everything a donation is checked against before anything starts: category, method, limits, donor. */
async function validatedOrder(deps: DonationDeps, command: DonationCommand): Promise<Omit<DonationOrder, 'orderNo' | 'expiresAt'>> {
  const { config } = deps;
  const currency = config.donations.currency;
  const amount = formatAmount(parseAmount(command.amount, currency), currency);
  const category = await getCategory(deps.db, command.category);
  if (!category || !category.active) throw new DomainError('unknown_category', `there is no active category "${command.category}"`);
  const payment = await deps.gateways.config(command.method);
  if (!payment?.enabled || !payment.credentials) throw new DomainError('method_disabled', `${command.method} is not enabled for donations`);
  if (money(amount).lt(payment.minAmount) || money(amount).gt(payment.maxAmount)) {
    throw new DomainError('amount_out_of_limits', `${command.method} takes donations from ${formatAmount(payment.minAmount, currency)} to ${formatAmount(payment.maxAmount, currency)} ${currency}`);
  }
  let uid: number | null = null;
  if (command.uid !== undefined) {
    await assertUsersExist(deps.db, [command.uid]);
    uid = command.uid;
  } else if (command.openid !== undefined) {
    uid = (await uidForOpenid(deps.db, command.openid)) ?? null;
    if (uid === null) throw new DomainError('unknown_user', 'no user has logged in with this openid: POST /api/v1/users/wechat first');
  }
  const donorName = command.name?.trim() || null;
  const message = command.message?.trim() || null;
  const requestDigest = sha256(JSON.stringify([command.category, amount, command.method, uid, donorName, message]));
  return {
    categoryId: command.category,
    method: command.method,
    amount,
    currency,
    uid,
    donorName,
    message,
    requestDigest,
    notifyUrl: `${config.api.publicUrl}/api/v1/callbacks/${command.method}`,
    pollInitialMs: config.donations.pollInitialMs,
    pollMaxMs: config.donations.pollMaxMs,
    lateWindowMs: config.donations.lateWindowMs,
  };
}

/**
 * Starts DonationWorkflow for the order (or joins the run the Idempotency-Key already started) and waits until its QR
 * is made. The same key with another body is an idempotency_conflict; a gateway that refuses or stays down is a
 * gateway_refused / gateway_unavailable, and the order is recorded as failed.
 */
export async function createDonation(deps: DonationDeps, command: DonationCommand): Promise<{ view: DonationView; created: boolean }> {
  const now = new Date();
  const order: DonationOrder = {
    ...(await validatedOrder(deps, command)),
    orderNo: orderNoFor(command.idempotencyKey, now),
    expiresAt: new Date(now.getTime() + deps.config.donations.expiryMs).toISOString(),
  };
  // A retry after the QR was made is answered from the read model; one that comes earlier waits for it below.
  const existing = await getDonation(deps.db, order.orderNo);
  if (existing && (existing.qrContent !== null || existing.status !== 'pending')) return { view: viewOf(sameRequest(existing, order)), created: false };

  const start = new WithStartWorkflowOperation<typeof DonationWorkflow>('DonationWorkflow', donationStartOptions(order, deps.config.temporal.taskQueue));
  try {
    await deps.client.withDeadline(Date.now() + QR_WAIT_MS, () => deps.client.workflow.executeUpdateWithStart(awaitQrUpdate, { startWorkflowOperation: start }));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && isErrorCode(err.cause.type)) {
      throw new DomainError(err.cause.type, err.cause.message);
    }
    if (isCallDeadline(err)) throw new DomainError('gateway_unavailable', 'the QR code was not ready in time; GET the donation to see when it is');
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  const stored = await getDonation(deps.db, order.orderNo);
  if (!stored) throw new DomainError('workflow_unavailable', 'the donation was accepted but is not recorded yet; retry with the same Idempotency-Key');
  return { view: viewOf(sameRequest(stored, order)), created: existing === undefined };
}

/** How long the API waits for the QR: the precreate retries (4 attempts, up to ~8 s of backoff) fit in it. */
const QR_WAIT_MS = 30_000;

function sameRequest(stored: DonationRecord, order: DonationOrder): DonationRecord {
  if (stored.requestDigest !== order.requestDigest) {
    throw new DomainError('idempotency_conflict', `this Idempotency-Key was used for another donation (${stored.orderNo})`, { orderNo: stored.orderNo });
  }
  return stored;
}

export async function findDonation(db: Db, orderNo: string): Promise<DonationRecord> {
  const record = /^[A-Za-z0-9]{1,32}$/.test(orderNo) ? await getDonation(db, orderNo) : undefined;
  if (!record) throw new DomainError('not_found', `no donation ${orderNo}`);
  return record;
}

// ---- refunds ----

export interface RefundCommand {
  idempotencyKey: string;
  orderNo: string;
  amount?: string | number;
  reason?: string;
}

export interface RefundView extends RefundRecord {
  workflowId: string;
}

const refundView = (record: RefundRecord): RefundView => ({ ...record, workflowId: refundWorkflowId(record.refundNo) });

/**
 * Starts RefundWorkflow for the key (the whole refundable amount unless one is given) and waits a bounded time for the
 * gateway's answer. A refund beyond what is left, or of an unpaid donation, starts nothing.
 */
export async function createRefund(deps: DonationDeps, command: RefundCommand): Promise<{ view: RefundView; done: boolean }> {
  const donation = await findDonation(deps.db, command.orderNo);
  const refundNo = `R${sha256(`refund:${command.orderNo}:${command.idempotencyKey}`).slice(0, 31)}`;
  const existing = await getRefund(deps.db, refundNo);
  if (existing) {
    if (command.amount !== undefined && !money(existing.amount).equals(parseAmount(command.amount, donation.currency))) {
      throw new DomainError('idempotency_conflict', `this Idempotency-Key was used for a refund of ${existing.amount}`);
    }
    return { view: refundView(existing), done: existing.status !== 'processing' };
  }
  if (donation.status !== 'paid' && donation.status !== 'paid_late') {
    throw new DomainError('donation_not_paid', `donation ${donation.orderNo} is ${donation.status}: only a paid donation can be refunded`);
  }
  const refunds = await listRefunds(deps.db, donation.orderNo);
  const left = refunds.filter((r) => r.status !== 'failed').reduce((rest, r) => rest.minus(r.amount), money(donation.amount));
  const amount = command.amount === undefined ? left : parseAmount(command.amount, donation.currency);
  if (amount.lte(0) || amount.gt(left)) {
    throw new DomainError('refund_exceeds_paid', `${formatAmount(left, donation.currency)} ${donation.currency} is left to refund on ${donation.orderNo}`, {
      refundable: formatAmount(left, donation.currency),
    });
  }
  const order: RefundOrder = {
    refundNo,
    orderNo: donation.orderNo,
    amount: formatAmount(amount, donation.currency),
    reason: command.reason?.trim() || null,
    pollInitialMs: deps.config.donations.pollInitialMs,
    pollMaxMs: deps.config.donations.pollMaxMs,
  };
  let handle;
  try {
    handle = await deps.client.workflow.start<typeof RefundWorkflow>('RefundWorkflow', refundStartOptions(order, deps.config.temporal.taskQueue));
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    handle = deps.client.workflow.getHandle<typeof RefundWorkflow>(refundWorkflowId(refundNo));
  }
  let result: RefundResult | undefined;
  try {
    result = await deps.client.withDeadline(Date.now() + deps.config.api.transferWaitMs, () => handle.result());
  } catch (err) {
    if (!isCallDeadline(err)) {
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof ApplicationFailure && isErrorCode(cause.type)) throw new DomainError(cause.type, cause.message);
      throw err;
    }
  }
  const stored = await getRefund(deps.db, refundNo);
  if (stored) return { view: refundView(stored), done: stored.status !== 'processing' };
  return {
    view: { refundNo, orderNo: order.orderNo, amount: order.amount, reason: order.reason, status: result?.status ?? 'processing', providerRefundNo: null, failureReason: null, refundedAt: null, createdAt: new Date().toISOString(), workflowId: refundWorkflowId(refundNo) },
    done: false,
  };
}

export async function findRefund(db: Db, refundNo: string): Promise<RefundView> {
  const record = /^[A-Za-z0-9]{1,64}$/.test(refundNo) ? await getRefund(db, refundNo) : undefined;
  if (!record) throw new DomainError('not_found', `no refund ${refundNo}`);
  return refundView(record);
}

export async function refundsOf(db: Db, orderNo: string): Promise<RefundView[]> {
  await findDonation(db, orderNo);
  return (await listRefunds(db, orderNo)).map(refundView);
}
