// The Alipay adapter of the donation gateway contract: alipay-sdk's exec over the open API (gateway.do, RSA2 both ways,
// answers' signatures checked), and the trade_status_sync notify read and verified.
import { AlipayRequestError, AlipaySdk, type AlipaySdkCommonResult } from 'alipay-sdk';
import { formatAmount, parseAmount } from '../../domain/money';
import {
  CallbackRejected,
  GatewayError,
  type CallbackAnswer,
  type CloseOutcome,
  type DonationGateway,
  type GatewayTrade,
  type PaymentNotice,
  type RawCallback,
  type RefundRequest,
  type RefundStatus,
  type TradeStatus,
} from './donation-gateway';

export interface AlipayGatewayOptions {
  appId: string;
  /** The app's private key (PKCS#8), PEM or bare base64 as the Alipay console's key tool gives it. */
  appPrivateKey: string;
  /** Alipay's public key for this app, PEM or bare base64: answers and notifications are checked against it. */
  alipayPublicKey: string;
  /** e.g. https://openapi.alipay.com/gateway.do; locally the sandbox's /alipay/gateway.do. */
  gatewayUrl: string;
  timeoutMs: number;
}

// Alipay's times are Beijing wall-clock time without a zone; China has kept UTC+8 without daylight saving since 1991.
const SHANGHAI_OFFSET_MS = 8 * 3_600_000;

function toShanghaiTime(iso: string): string {
  return new Date(new Date(iso).getTime() + SHANGHAI_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ');
}

/** "yyyy-MM-dd HH:mm:ss" (Beijing) to ISO UTC; undefined when it is no such time. */
function fromShanghaiTime(text: unknown): string | undefined {
  if (typeof text !== 'string' || !/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(text)) return undefined;
  const at = new Date(`${text.replace(' ', 'T')}+08:00`);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

const cny = (amount: unknown): string => formatAmount(parseAmount(amount, 'CNY'), 'CNY');

/** A refusal in the answer (code other than 10000). Retryable when Alipay says it is busy: 20000 (service unavailable), ACQ.SYSTEM_ERROR, isp.*. */
function refusal(result: AlipaySdkCommonResult): GatewayError {
  const code: string = result.subCode ?? result.code;
  const retryable = result.code === '20000' || code === 'ACQ.SYSTEM_ERROR' || code.startsWith('isp.');
  return new GatewayError('alipay', code, `${result.msg}${result.subMsg ? `: ${result.subMsg}` : ''}`, retryable);
}

/**
 * A call that got no usable answer. alipay-sdk tells these apart only by its error's message and cause, so they are
 * read from there: an HTTP status other than 200, an answer whose signature does not verify, an answer that is not
 * JSON, or no answer at all (timeout, connection refused or cut), the last with the transport error as its cause.
 */
function transportFailure(err: unknown): GatewayError {
  if (!(err instanceof AlipayRequestError)) {
    // alipay-sdk throws a plain Error when the answer has no sign at all.
    return new GatewayError('alipay', 'invalid_response', (err as Error).message, false);
  }
  const http = /status: (\d{3})/.exec(err.message);
  if (http) {
    const status = Number(http[1]);
    return new GatewayError('alipay', `http_${status}`, err.message, status >= 500 || status === 429 || status === 408);
  }
  if (err.message.startsWith('验签失败')) return new GatewayError('alipay', 'invalid_response_signature', 'the answer is not signed with Alipay\'s key', false);
  if (err.cause) {
    const cause = err.cause as Error;
    return new GatewayError('alipay', /timeout/i.test(cause.name) ? 'timeout' : 'connection_failed', cause.message, true);
  }
  return new GatewayError('alipay', 'malformed_response', err.message, true);
}

const PAID_STATES = new Set(['TRADE_SUCCESS', 'TRADE_FINISHED']);

export function createAlipayGateway(options: AlipayGatewayOptions): DonationGateway {
  // alipay-sdk rebuilds the PEM from the key's lines and keeps a trailing empty line as key material: trim it first.
  const sdk = new AlipaySdk({
    appId: options.appId,
    privateKey: options.appPrivateKey.trim(),
    alipayPublicKey: options.alipayPublicKey.trim(),
    gateway: options.gatewayUrl,
    timeout: options.timeoutMs,
    keyType: 'PKCS8',
  });

  async function call(method: string, bizContent: Record<string, unknown>, params: Record<string, string> = {}): Promise<AlipaySdkCommonResult> {
    let result: AlipaySdkCommonResult;
    try {
      result = await sdk.exec(method, { ...params, bizContent }, { validateSign: true });
    } catch (err) {
      throw transportFailure(err);
    }
    // Refusals come back as answers for each method to read; Alipay being busy is thrown here, retryable, for all of them.
    const refused = result.code === '10000' ? null : refusal(result);
    if (refused?.retryable) throw refused;
    return result;
  }

  async function query(orderNo: string): Promise<TradeStatus> {
    const result = await call('alipay.trade.query', { out_trade_no: orderNo });
    if (result.code !== '10000') {
      if (result.subCode === 'ACQ.TRADE_NOT_EXIST') return { state: 'not_found' };
      throw refusal(result);
    }
    // A paid trade refunded in full reads TRADE_CLOSED, but keeps the date it was paid.
    if (PAID_STATES.has(result.tradeStatus) || (result.tradeStatus === 'TRADE_CLOSED' && result.sendPayDate)) {
      const paidAt = fromShanghaiTime(result.sendPayDate);
      if (!paidAt) throw new GatewayError('alipay', 'malformed_response', `send_pay_date ${result.sendPayDate} is no time`, false);
      return { state: 'paid', providerTradeNo: result.tradeNo, amount: cny(result.totalAmount), paidAt, buyerId: result.buyerUserId ?? result.buyerOpenId ?? null };
    }
    if (result.tradeStatus === 'TRADE_CLOSED') return { state: 'closed' };
    if (result.tradeStatus === 'WAIT_BUYER_PAY') return { state: 'waiting' };
    throw new GatewayError('alipay', 'malformed_response', `unknown trade_status ${result.tradeStatus}`, false);
  }

  async function queryRefund(orderNo: string, refundNo: string): Promise<RefundStatus> {
    const result = await call('alipay.trade.fastpay.refund.query', { out_trade_no: orderNo, out_request_no: refundNo, query_options: ['gmt_refund_pay'] });
    if (result.code !== '10000') {
      if (result.subCode === 'ACQ.TRADE_NOT_EXIST') return { state: 'not_found' };
      throw refusal(result);
    }
    // Alipay answers a refund it has no record of with success and no refund_amount; one it made has no status or REFUND_SUCCESS.
    if (!result.refundAmount) return { state: 'not_found' };
    if (result.refundStatus && result.refundStatus !== 'REFUND_SUCCESS') return { state: 'processing' };
    return {
      state: 'succeeded',
      providerRefundNo: result.tradeNo,
      amount: cny(result.refundAmount),
      // gmt_refund_pay comes only when asked for in query_options; should it still be missing, when we learnt of it stands in.
      refundedAt: fromShanghaiTime(result.gmtRefundPay) ?? new Date().toISOString(),
    };
  }

  return {
    method: 'alipay',

    async precreate(trade: GatewayTrade): Promise<{ qrContent: string }> {
      const result = await call(
        'alipay.trade.precreate',
        { out_trade_no: trade.orderNo, total_amount: cny(trade.amount), subject: trade.subject, time_expire: toShanghaiTime(trade.expiresAt) },
        { notify_url: trade.notifyUrl },
      );
      // The same order again gets its QR code again; ACQ.TRADE_HAS_SUCCESS means it was paid in between, ACQ.TRADE_HAS_CLOSE closed.
      if (result.code !== '10000') throw refusal(result);
      return { qrContent: result.qrCode };
    },

    query,

    async close(orderNo: string): Promise<CloseOutcome> {
      const result = await call('alipay.trade.close', { out_trade_no: orderNo });
      if (result.code === '10000') return 'closed';
      if (result.subCode === 'ACQ.TRADE_NOT_EXIST') return 'not_found';
      // Alipay refuses to close a paid trade, and may refuse one already closed, both with TRADE_STATUS_ERROR: ask which.
      if (result.subCode === 'ACQ.TRADE_STATUS_ERROR') {
        const status = await query(orderNo);
        if (status.state === 'paid') return 'already_paid';
        if (status.state === 'closed') return 'closed';
      }
      throw refusal(result);
    },

    async refund(request: RefundRequest): Promise<RefundStatus> {
      const result = await call('alipay.trade.refund', {
        out_trade_no: request.orderNo,
        out_request_no: request.refundNo,
        refund_amount: cny(request.amount),
        ...(request.reason ? { refund_reason: request.reason } : {}),
      });
      if (result.code === '40004') return { state: 'failed', reason: `${result.subCode}: ${result.subMsg}` };
      if (result.code !== '10000') throw refusal(result);
      // fund_change N: this refund number was refunded before, maybe with another amount; its record says what it was.
      if (result.fundChange !== 'Y') return queryRefund(request.orderNo, request.refundNo);
      return {
        state: 'succeeded',
        providerRefundNo: result.tradeNo,
        amount: cny(request.amount),
        refundedAt: fromShanghaiTime(result.gmtRefundPay) ?? new Date().toISOString(),
      };
    },

    queryRefund,

    verifyCallback(callback: RawCallback): PaymentNotice | null {
      const fields = Object.fromEntries(new URLSearchParams(callback.body));
      if (!fields.sign) throw new CallbackRejected('alipay', 'no sign');
      if (fields.sign_type !== 'RSA2') throw new CallbackRejected('alipay', `sign_type ${fields.sign_type ?? '(none)'} is not RSA2`);
      // V2: the values are verified as the form decoded them, not URL-decoded a second time.
      if (!sdk.checkNotifySignV2(fields)) throw new CallbackRejected('alipay', 'the sign does not verify with Alipay\'s key');
      if (fields.app_id !== options.appId) throw new CallbackRejected('alipay', `app_id ${fields.app_id ?? '(none)'} is not ours`);
      // A refund's notify says TRADE_SUCCESS (partial) or TRADE_CLOSED (full) and carries gmt_refund: it reports no payment.
      if (fields.gmt_refund || fields.trade_status === 'WAIT_BUYER_PAY' || fields.trade_status === 'TRADE_CLOSED') return null;
      if (!PAID_STATES.has(fields.trade_status ?? '')) throw new CallbackRejected('alipay', `unknown trade_status ${fields.trade_status ?? '(none)'}`);
      const paidAt = fromShanghaiTime(fields.gmt_payment);
      if (!fields.out_trade_no || !fields.trade_no || !paidAt) throw new CallbackRejected('alipay', 'out_trade_no, trade_no or gmt_payment missing');
      let amount: string;
      try {
        amount = cny(fields.total_amount);
      } catch {
        throw new CallbackRejected('alipay', `total_amount ${fields.total_amount ?? '(none)'} is no CNY amount`);
      }
      return {
        method: 'alipay',
        orderNo: fields.out_trade_no,
        providerTradeNo: fields.trade_no,
        amount,
        paidAt,
        buyerId: fields.buyer_id ?? fields.buyer_open_id ?? null,
        appId: fields.app_id,
      };
    },

    callbackAnswer(accepted: boolean): CallbackAnswer {
      return { status: 200, contentType: 'text/plain', body: accepted ? 'success' : 'failure' };
    },
  };
}
