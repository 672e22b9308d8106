// The Alipay emulator's trades: created by precreate, paid by the tester's phone, closed by the merchant or by their
// expiry, refunded in parts. Every amount is canonical CNY text ("10.00").
import { randomBytes, randomInt } from 'node:crypto';
import { money, sumAmounts } from '../domain/money';
import { shanghaiTime } from './alipay-protocol';

export type AlipayTradeStatus = 'WAIT_BUYER_PAY' | 'TRADE_SUCCESS' | 'TRADE_CLOSED';

export interface AlipayRefund {
  outRequestNo: string;
  amount: string;
  reason: string | null;
  refundedAt: Date;
}

export interface AlipayTrade {
  outTradeNo: string;
  tradeNo: string;
  qrCode: string;
  totalAmount: string;
  subject: string;
  notifyUrl: string | null;
  createdAt: Date;
  expiresAt: Date;
  /** A paid trade refunded in full reads TRADE_CLOSED, as at Alipay; paidAt tells it from one closed unpaid. */
  status: AlipayTradeStatus;
  paidAt: Date | null;
  buyerId: string | null;
  closedAt: Date | null;
  refunds: AlipayRefund[];
}

export interface PrecreateInput {
  outTradeNo: string;
  totalAmount: string;
  subject: string;
  notifyUrl: string | null;
  expiresAt: Date;
}

export type PrecreateOutcome =
  | { kind: 'created' | 'existing'; trade: AlipayTrade }
  /** The order number is known with another amount. */
  | { kind: 'amount_differs'; trade: AlipayTrade }
  | { kind: 'paid'; trade: AlipayTrade }
  | { kind: 'closed'; trade: AlipayTrade };

export type CloseOutcome = { kind: 'closed'; trade: AlipayTrade } | { kind: 'not_found' } | { kind: 'paid'; trade: AlipayTrade };
export type PayOutcome = { kind: 'paid'; trade: AlipayTrade } | { kind: 'not_found' } | { kind: 'closed' | 'already_paid'; trade: AlipayTrade };
export type RefundOutcome =
  | { kind: 'refunded'; trade: AlipayTrade; refund: AlipayRefund; replayed: boolean }
  | { kind: 'not_found' }
  | { kind: 'not_paid'; trade: AlipayTrade }
  /** The refunds would come to more than was paid. */
  | { kind: 'exceeds'; trade: AlipayTrade };

const digits = (n: number) => Array.from({ length: n }, () => randomInt(10)).join('');

export const refundedAmount = (trade: AlipayTrade): string => sumAmounts(trade.refunds.map((r) => r.amount)).toFixed(2);

export class AlipayTradeBook {
  private readonly trades = new Map<string, AlipayTrade>();

  /** The trade, closed first if it was left unpaid past its expiry (Alipay closes it by itself). */
  find(outTradeNo: string, now: Date): AlipayTrade | undefined {
    const trade = this.trades.get(outTradeNo);
    if (trade && trade.status === 'WAIT_BUYER_PAY' && now >= trade.expiresAt) {
      trade.status = 'TRADE_CLOSED';
      trade.closedAt = trade.expiresAt;
    }
    return trade;
  }

  /** Idempotent by out_trade_no: the same order with the same amount gets its QR code again. */
  precreate(input: PrecreateInput, now: Date): PrecreateOutcome {
    const existing = this.find(input.outTradeNo, now);
    if (existing) {
      if (existing.paidAt) return { kind: 'paid', trade: existing };
      if (existing.status === 'TRADE_CLOSED') return { kind: 'closed', trade: existing };
      if (!money(existing.totalAmount).eq(input.totalAmount)) return { kind: 'amount_differs', trade: existing };
      return { kind: 'existing', trade: existing };
    }
    const trade: AlipayTrade = {
      ...input,
      tradeNo: `${shanghaiTime(now).slice(0, 10).replaceAll('-', '')}22001${digits(15)}`,
      qrCode: `https://qr.alipay.com/bax0${randomBytes(10).toString('hex')}`,
      createdAt: now,
      status: 'WAIT_BUYER_PAY',
      paidAt: null,
      buyerId: null,
      closedAt: null,
      refunds: [],
    };
    this.trades.set(trade.outTradeNo, trade);
    return { kind: 'created', trade };
  }

  close(outTradeNo: string, now: Date): CloseOutcome {
    const trade = this.find(outTradeNo, now);
    if (!trade) return { kind: 'not_found' };
    if (trade.paidAt) return { kind: 'paid', trade };
    if (trade.status === 'WAIT_BUYER_PAY') {
      trade.status = 'TRADE_CLOSED';
      trade.closedAt = now;
    }
    return { kind: 'closed', trade };
  }

  /** The buyer scans the QR code and pays. */
  pay(outTradeNo: string, buyerId: string | null, now: Date): PayOutcome {
    const trade = this.find(outTradeNo, now);
    if (!trade) return { kind: 'not_found' };
    if (trade.paidAt) return { kind: 'already_paid', trade };
    if (trade.status === 'TRADE_CLOSED') return { kind: 'closed', trade };
    trade.status = 'TRADE_SUCCESS';
    trade.paidAt = now;
    trade.buyerId = buyerId ?? `2088${digits(12)}`;
    return { kind: 'paid', trade };
  }

  /** Idempotent by out_request_no: a known refund is answered as it was, whatever amount is asked this time. */
  refund(outTradeNo: string, outRequestNo: string, amount: string, reason: string | null, now: Date): RefundOutcome {
    const trade = this.find(outTradeNo, now);
    if (!trade) return { kind: 'not_found' };
    const known = trade.refunds.find((r) => r.outRequestNo === outRequestNo);
    if (known) return { kind: 'refunded', trade, refund: known, replayed: true };
    if (!trade.paidAt) return { kind: 'not_paid', trade };
    const after = money(refundedAmount(trade)).plus(amount);
    if (after.gt(trade.totalAmount)) return { kind: 'exceeds', trade };
    const refund: AlipayRefund = { outRequestNo, amount, reason, refundedAt: now };
    trade.refunds.push(refund);
    if (after.eq(trade.totalAmount)) {
      trade.status = 'TRADE_CLOSED';
      trade.closedAt = now;
    }
    return { kind: 'refunded', trade, refund, replayed: false };
  }

  clear(): void {
    this.trades.clear();
  }
}
