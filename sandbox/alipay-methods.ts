// The open API methods the Alipay emulator serves, each reading its biz_content and answering as the gateway does:
// alipay.trade.precreate, .query, .close, .refund and .fastpay.refund.query.
import { z } from 'zod';
import { formatAmount, parseAmount } from '../domain/money';
import { businessFailed, parseShanghaiTime, shanghaiTime, success, type AlipayReply } from './alipay-protocol';
import { AlipayTradeBook, refundedAmount, type AlipayRefund, type AlipayTrade } from './alipay-trade-book';

/** What a method did that the emulator must follow up: count it, send a notification. */
export type MethodEvent = { kind: 'precreated' | 'closed'; trade: AlipayTrade } | { kind: 'refunded'; trade: AlipayTrade; refund: AlipayRefund };

export interface MethodCall {
  biz: unknown;
  /** The request's public parameters (notify_url…). */
  params: Record<string, string>;
  now: Date;
  emit(event: MethodEvent): void;
}

/** When neither time_expire nor timeout_express is given, an unpaid precreated trade closes after 2 hours. */
const DEFAULT_TIMEOUT_MS = 2 * 3_600_000;
/** Alipay's limits on one trade's amount, in yuan. */
const MAX_AMOUNT = '100000000';
const TIMEOUT_UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const OutNo = z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'letters, digits and _, at most 64');
/** Alipay takes amounts as JSON strings or numbers, in yuan with at most 2 places. */
const Amount = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    try {
      const amount = parseAmount(value, 'CNY');
      if (amount.gt(MAX_AMOUNT)) throw new Error(`at most ${MAX_AMOUNT}`);
      return formatAmount(amount, 'CNY');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  });
const PrecreateBiz = z.object({
  out_trade_no: OutNo,
  total_amount: Amount,
  subject: z.string().min(1).max(256),
  time_expire: z.string().optional(),
  timeout_express: z
    .string()
    .regex(/^\d{1,4}[mhdc]$/, 'a number and m, h, d or c')
    .optional(),
});
const TradeBiz = z.object({ out_trade_no: OutNo });
const RefundBiz = z.object({
  out_trade_no: OutNo,
  refund_amount: Amount,
  /** Without one, the refund is the whole trade's, named by the out_trade_no. */
  out_request_no: OutNo.optional(),
  refund_reason: z.string().max(256).optional(),
});
const RefundQueryBiz = z.object({ out_trade_no: OutNo, out_request_no: OutNo, query_options: z.array(z.string()).optional() });

// Alipay answers a business parameter it cannot take with ACQ.INVALID_PARAMETER, whatever the parameter.
function parseBiz<T extends z.ZodType>(schema: T, biz: unknown): { ok: true; value: z.infer<T> } | { ok: false; reply: AlipayReply } {
  const parsed = schema.safeParse(biz);
  if (parsed.success) return { ok: true, value: parsed.data };
  return { ok: false, reply: businessFailed('ACQ.INVALID_PARAMETER', `参数无效: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`) };
}

const tradeNotExist = () => businessFailed('ACQ.TRADE_NOT_EXIST', '交易不存在');

/** time_expire wins over timeout_express; `c` is the end of the current day in Beijing. */
function expiryOf(biz: z.infer<typeof PrecreateBiz>, now: Date): Date | string {
  if (biz.time_expire !== undefined) {
    const at = parseShanghaiTime(biz.time_expire);
    if (!at) return 'time_expire must be "yyyy-MM-dd HH:mm:ss"';
    return at > now ? at : 'time_expire is in the past';
  }
  if (biz.timeout_express !== undefined) {
    const count = Number(biz.timeout_express.slice(0, -1));
    const unit = biz.timeout_express.slice(-1) as 'm' | 'h' | 'd' | 'c';
    if (count < 1) return 'timeout_express must be at least 1';
    if (unit === 'c') {
      const midnight = parseShanghaiTime(`${shanghaiTime(now).slice(0, 10)} 00:00:00`)!;
      return new Date(midnight.getTime() + TIMEOUT_UNIT_MS.d);
    }
    const ms = count * TIMEOUT_UNIT_MS[unit];
    return ms > 15 * TIMEOUT_UNIT_MS.d ? 'timeout_express is at most 15d' : new Date(now.getTime() + ms);
  }
  return new Date(now.getTime() + DEFAULT_TIMEOUT_MS);
}

/** The fields of a paid trade as query reports them. */
function paymentFields(trade: AlipayTrade): Record<string, string> {
  if (!trade.paidAt) return { buyer_pay_amount: '0.00' };
  return {
    ...(trade.buyerId ? { buyer_user_id: trade.buyerId } : {}),
    send_pay_date: shanghaiTime(trade.paidAt),
    receipt_amount: trade.totalAmount,
    buyer_pay_amount: trade.totalAmount,
    invoice_amount: trade.totalAmount,
    point_amount: '0.00',
  };
}

export function alipayMethods(book: AlipayTradeBook): Record<string, (call: MethodCall) => AlipayReply> {
  return {
    'alipay.trade.precreate': ({ biz, params, now, emit }) => {
      const parsed = parseBiz(PrecreateBiz, biz);
      if (!parsed.ok) return parsed.reply;
      const { out_trade_no: outTradeNo, total_amount: totalAmount, subject } = parsed.value;
      // A known trade keeps the expiry it was made with: asking again after it passed gets TRADE_HAS_CLOSE, not a refusal of the time.
      const expiresAt = book.find(outTradeNo, now)?.expiresAt ?? expiryOf(parsed.value, now);
      if (typeof expiresAt === 'string') return businessFailed('ACQ.INVALID_PARAMETER', `参数无效: ${expiresAt}`);
      const outcome = book.precreate({ outTradeNo, totalAmount, subject, notifyUrl: params.notify_url || null, expiresAt }, now);
      switch (outcome.kind) {
        case 'created':
          emit({ kind: 'precreated', trade: outcome.trade });
          return success({ out_trade_no: outTradeNo, qr_code: outcome.trade.qrCode });
        case 'existing':
          return success({ out_trade_no: outTradeNo, qr_code: outcome.trade.qrCode });
        case 'amount_differs':
          return businessFailed('ACQ.CONTEXT_INCONSISTENT', '交易信息被篡改');
        case 'paid':
          return businessFailed('ACQ.TRADE_HAS_SUCCESS', '交易已被支付');
        case 'closed':
          return businessFailed('ACQ.TRADE_HAS_CLOSE', '交易已经关闭');
      }
    },

    'alipay.trade.query': ({ biz, now }) => {
      const parsed = parseBiz(TradeBiz, biz);
      if (!parsed.ok) return parsed.reply;
      const trade = book.find(parsed.value.out_trade_no, now);
      if (!trade) return tradeNotExist();
      return success({
        trade_no: trade.tradeNo,
        out_trade_no: trade.outTradeNo,
        trade_status: trade.status,
        total_amount: trade.totalAmount,
        ...paymentFields(trade),
      });
    },

    'alipay.trade.close': ({ biz, now, emit }) => {
      const parsed = parseBiz(TradeBiz, biz);
      if (!parsed.ok) return parsed.reply;
      const outcome = book.close(parsed.value.out_trade_no, now);
      if (outcome.kind === 'not_found') return tradeNotExist();
      if (outcome.kind === 'paid') return businessFailed('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
      emit({ kind: 'closed', trade: outcome.trade });
      return success({ trade_no: outcome.trade.tradeNo, out_trade_no: outcome.trade.outTradeNo });
    },

    'alipay.trade.refund': ({ biz, now, emit }) => {
      const parsed = parseBiz(RefundBiz, biz);
      if (!parsed.ok) return parsed.reply;
      const { out_trade_no: outTradeNo, refund_amount: amount, out_request_no: outRequestNo = outTradeNo, refund_reason: reason = null } = parsed.value;
      const outcome = book.refund(outTradeNo, outRequestNo, amount, reason, now);
      switch (outcome.kind) {
        case 'not_found':
          return tradeNotExist();
        case 'not_paid':
          return businessFailed('ACQ.TRADE_STATUS_ERROR', '交易状态不合法');
        case 'exceeds':
          return businessFailed('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', '退款金额超限', { out_trade_no: outTradeNo, refund_fee: refundedAmount(outcome.trade) });
        case 'refunded': {
          const { trade, refund, replayed } = outcome;
          if (!replayed) emit({ kind: 'refunded', trade, refund });
          return success({
            trade_no: trade.tradeNo,
            out_trade_no: trade.outTradeNo,
            ...(trade.buyerId ? { buyer_user_id: trade.buyerId } : {}),
            // "N": this out_request_no was refunded before and no money moved this time.
            fund_change: replayed ? 'N' : 'Y',
            refund_fee: refundedAmount(trade),
            send_back_fee: refund.amount,
            gmt_refund_pay: shanghaiTime(refund.refundedAt),
          });
        }
      }
    },

    'alipay.trade.fastpay.refund.query': ({ biz, now }) => {
      const parsed = parseBiz(RefundQueryBiz, biz);
      if (!parsed.ok) return parsed.reply;
      const { out_trade_no: outTradeNo, out_request_no: outRequestNo, query_options: options = [] } = parsed.value;
      const trade = book.find(outTradeNo, now);
      if (!trade) return tradeNotExist();
      const refund = trade.refunds.find((r) => r.outRequestNo === outRequestNo);
      // Alipay answers a refund it never made with success and no refund_amount.
      if (!refund) return success({ trade_no: trade.tradeNo, out_trade_no: outTradeNo, out_request_no: outRequestNo });
      return success({
        trade_no: trade.tradeNo,
        out_trade_no: outTradeNo,
        out_request_no: outRequestNo,
        total_amount: trade.totalAmount,
        refund_amount: refund.amount,
        refund_status: 'REFUND_SUCCESS',
        ...(refund.reason === null ? {} : { refund_reason: refund.reason }),
        ...(options.includes('gmt_refund_pay') ? { gmt_refund_pay: shanghaiTime(refund.refundedAt) } : {}),
      });
    },
  };
}

