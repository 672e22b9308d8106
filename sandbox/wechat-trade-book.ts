// The WeChat Pay platform's records: Native trades and their refunds, their states, and how they read on the wire.
import { randomAlphanumeric, randomDigits } from './wechat-credentials';

/** A Native order as the merchant placed it; amounts in fen. */
export interface NativeOrder {
  appid: string;
  mchid: string;
  description: string;
  outTradeNo: string;
  expiresAt: number;
  notifyUrl: string;
  total: number;
  currency: string;
}

export type TradeState = 'NOTPAY' | 'SUCCESS' | 'REFUND' | 'CLOSED';

export interface Trade extends NativeOrder {
  codeUrl: string;
  createdAt: number;
  payment?: { transactionId: string; paidAt: number; openid: string };
  closed?: { at: number; by: 'merchant' | 'expiry' };
  refundNos: string[];
}

export interface Refund {
  outRefundNo: string;
  refundId: string;
  outTradeNo: string;
  transactionId: string;
  refund: number;
  total: number;
  currency: string;
  reason: string | null;
  createdAt: number;
  /** PROCESSING until then, SUCCESS after, as the money takes a moment to go back to the buyer. */
  settlesAt: number;
}

export type PrecreateDecision =
  | { kind: 'created' | 'existing'; trade: Trade }
  /** The out_trade_no is known with other fields. */
  | { kind: 'conflict' }
  | { kind: 'paid' }
  | { kind: 'closed' };

export type PayDecision = { kind: 'paid'; trade: Trade } | { kind: 'not_found' } | { kind: 'closed' } | { kind: 'already_paid' };

export type CloseDecision = 'closed' | 'paid' | 'not_found';

export interface RefundOrder {
  outTradeNo: string;
  outRefundNo: string;
  refund: number;
  total: number;
  currency: string;
  reason: string | null;
}

export type RefundDecision =
  | { kind: 'accepted' | 'existing'; refund: Refund }
  | { kind: 'trade_not_found' }
  /** Refused for good, with the platform's message. */
  | { kind: 'refused'; message: string };

/** RFC 3339 in China Standard Time, as the platform writes every time: 2024-05-01T10:00:00+08:00. */
export function beijingTime(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().replace(/\.\d{3}Z$/, '+08:00');
}

export class WechatTradeBook {
  private trades = new Map<string, Trade>();
  private refunds = new Map<string, Refund>();

  clear(): void {
    this.trades.clear();
    this.refunds.clear();
  }

  /** Idempotent by out_trade_no while the trade waits for payment: the same order again gets the same code_url. */
  precreate(order: NativeOrder): PrecreateDecision {
    const known = this.trade(order.outTradeNo);
    if (known) {
      if (!sameOrder(known, order)) return { kind: 'conflict' };
      if (known.payment) return { kind: 'paid' };
      if (known.closed) return { kind: 'closed' };
      return { kind: 'existing', trade: known };
    }
    const trade: Trade = { ...order, codeUrl: `weixin://wxpay/bizpayurl?pr=${randomAlphanumeric(9)}`, createdAt: Date.now(), refundNos: [] };
    this.trades.set(order.outTradeNo, trade);
    return { kind: 'created', trade };
  }

  /** The trade, closed first if it expired unpaid. */
  trade(outTradeNo: string): Trade | undefined {
    const trade = this.trades.get(outTradeNo);
    if (trade && !trade.payment && !trade.closed && Date.now() >= trade.expiresAt) trade.closed = { at: trade.expiresAt, by: 'expiry' };
    return trade;
  }

  state(trade: Trade): TradeState {
    if (trade.payment) return trade.refundNos.length ? 'REFUND' : 'SUCCESS';
    return trade.closed ? 'CLOSED' : 'NOTPAY';
  }

  /** The buyer scanning the code and paying. */
  pay(outTradeNo: string, openid: string): PayDecision {
    const trade = this.trade(outTradeNo);
    if (!trade) return { kind: 'not_found' };
    if (trade.payment) return { kind: 'already_paid' };
    if (trade.closed) return { kind: 'closed' };
    // The platform's times have whole seconds: the control API shows what the query and the callback say.
    trade.payment = { transactionId: `4200${randomDigits(24)}`, paidAt: Math.floor(Date.now() / 1000) * 1000, openid };
    return { kind: 'paid', trade };
  }

  /** Closing a closed trade is closing it again: nothing changes. */
  close(outTradeNo: string): CloseDecision {
    const trade = this.trade(outTradeNo);
    if (!trade) return 'not_found';
    if (trade.payment) return 'paid';
    trade.closed ??= { at: Date.now(), by: 'merchant' };
    return 'closed';
  }

  /** Idempotent by out_refund_no: the same refund again is the one made, never a second one. */
  refund(order: RefundOrder, settleMs: number): RefundDecision {
    const known = this.refunds.get(order.outRefundNo);
    if (known) {
      const same = known.outTradeNo === order.outTradeNo && known.refund === order.refund && known.total === order.total;
      return same ? { kind: 'existing', refund: known } : { kind: 'refused', message: '退款单号已存在，且请求参数与原退款不一致' };
    }
    const trade = this.trade(order.outTradeNo);
    if (!trade) return { kind: 'trade_not_found' };
    if (!trade.payment) return { kind: 'refused', message: '订单未支付，不能退款' };
    if (order.total !== trade.total) return { kind: 'refused', message: '订单金额 total 与原订单金额不一致' };
    const refunded = trade.refundNos.reduce((sum, no) => sum + this.refunds.get(no)!.refund, 0);
    if (refunded + order.refund > trade.total) return { kind: 'refused', message: '申请退款金额超过订单可退金额' };
    const now = Date.now();
    const refund: Refund = {
      ...order,
      refundId: `50${randomDigits(27)}`,
      transactionId: trade.payment.transactionId,
      createdAt: now,
      settlesAt: now + settleMs,
    };
    this.refunds.set(order.outRefundNo, refund);
    trade.refundNos.push(order.outRefundNo);
    return { kind: 'accepted', refund };
  }

  refundOf(outRefundNo: string): Refund | undefined {
    return this.refunds.get(outRefundNo);
  }

  refundsOf(trade: Trade): Refund[] {
    return trade.refundNos.map((no) => this.refunds.get(no)!);
  }
}

function sameOrder(trade: Trade, order: NativeOrder): boolean {
  return (
    trade.appid === order.appid &&
    trade.description === order.description &&
    trade.expiresAt === order.expiresAt &&
    trade.notifyUrl === order.notifyUrl &&
    trade.total === order.total &&
    trade.currency === order.currency
  );
}

/** A trade as the query answers it and the payment callback carries it (the callback's decrypted `resource`). */
export function transactionResource(trade: Trade, state: TradeState): Record<string, unknown> {
  const base = {
    appid: trade.appid,
    mchid: trade.mchid,
    out_trade_no: trade.outTradeNo,
    trade_state: state,
    trade_state_desc: { NOTPAY: '订单未支付', SUCCESS: '支付成功', REFUND: '订单发生过退款', CLOSED: '订单已关闭' }[state],
  };
  if (!trade.payment) return { ...base, amount: { total: trade.total, currency: trade.currency } };
  return {
    ...base,
    transaction_id: trade.payment.transactionId,
    trade_type: 'NATIVE',
    bank_type: 'OTHERS',
    attach: '',
    success_time: beijingTime(trade.payment.paidAt),
    payer: { openid: trade.payment.openid },
    amount: { total: trade.total, payer_total: trade.total, currency: trade.currency, payer_currency: trade.currency },
  };
}

export function refundStatus(refund: Refund): 'PROCESSING' | 'SUCCESS' {
  return Date.now() >= refund.settlesAt ? 'SUCCESS' : 'PROCESSING';
}

/** A refund as the refund API and the refund query answer it. */
export function refundResource(refund: Refund): Record<string, unknown> {
  const status = refundStatus(refund);
  return {
    refund_id: refund.refundId,
    out_refund_no: refund.outRefundNo,
    transaction_id: refund.transactionId,
    out_trade_no: refund.outTradeNo,
    channel: 'ORIGINAL',
    user_received_account: '支付用户零钱',
    ...(status === 'SUCCESS' ? { success_time: beijingTime(refund.settlesAt) } : {}),
    create_time: beijingTime(refund.createdAt),
    status,
    funds_account: 'AVAILABLE',
    amount: {
      total: refund.total,
      refund: refund.refund,
      payer_total: refund.total,
      payer_refund: refund.refund,
      settlement_total: refund.total,
      settlement_refund: refund.refund,
      discount_refund: 0,
      currency: refund.currency,
      refund_fee: 0,
    },
  };
}
