// What the engine needs of a QR payment gateway (Alipay, WeChat Pay Native): one contract, one adapter per provider
// (alipay.ts, wechat-pay.ts). Amounts are CNY decimal strings with two places ("10.00"); times are ISO 8601 in UTC.

export type PaymentMethod = 'alipay' | 'wechat';
export const PAYMENT_METHODS: readonly PaymentMethod[] = ['alipay', 'wechat'];

export interface GatewayTrade {
  /** Our order number: the gateway's out_trade_no and its idempotency key. [A-Za-z0-9_], at most 32 characters. */
  orderNo: string;
  amount: string;
  subject: string;
  /** The gateway stops accepting payment after this (Alipay time_expire / WeChat time_expire). */
  expiresAt: string;
  /** Where the gateway sends its asynchronous payment notification. */
  notifyUrl: string;
}

/** The gateway's view of a trade. A trade paid and then (partly or fully) refunded still reads `paid`. */
export type TradeStatus =
  | { state: 'not_found' }
  | { state: 'waiting' }
  | { state: 'paid'; providerTradeNo: string; amount: string; paidAt: string; buyerId: string | null }
  | { state: 'closed' };

export type CloseOutcome = 'closed' | 'already_paid' | 'not_found';

export interface RefundRequest {
  orderNo: string;
  /** Our refund number: the gateway's out_request_no / out_refund_no and its idempotency key. */
  refundNo: string;
  amount: string;
  /** What the trade was paid (WeChat wants it; Alipay ignores it). */
  totalAmount: string;
  reason: string | null;
}

export type RefundStatus =
  | { state: 'not_found' }
  | { state: 'processing' }
  | { state: 'succeeded'; providerRefundNo: string; amount: string; refundedAt: string }
  /** Refused for good: retrying the same refund number cannot succeed. */
  | { state: 'failed'; reason: string };

/** A payment notification whose signature (and, for WeChat, decryption and app id) has been verified. */
export interface PaymentNotice {
  method: PaymentMethod;
  orderNo: string;
  providerTradeNo: string;
  amount: string;
  paidAt: string;
  buyerId: string | null;
  /** The app id (Alipay app_id / WeChat appid) the notice names, already checked against ours. */
  appId: string;
}

/** A raw callback as the API received it: header names in lower case, the body exactly as sent. */
export interface RawCallback {
  headers: Record<string, string | undefined>;
  body: string;
}

/** What the gateway expects as the answer to a callback: Alipay the text `success`, WeChat 204 (or 4xx/5xx with JSON to refuse). */
export interface CallbackAnswer {
  status: number;
  contentType: string | null;
  body: string;
}

/**
 * Failures of a gateway call. `retryable` tells whether the same call may succeed later (5xx, timeouts, connection
 * failures, the gateway's "system busy"); the rest (bad parameters, bad signature, the gateway refusing the business
 * request) are not. `code` is the gateway's own code where it gave one (e.g. ACQ.TRADE_HAS_SUCCESS, ORDERNOTEXIST).
 */
export class GatewayError extends Error {
  constructor(
    readonly method: PaymentMethod,
    readonly code: string,
    message: string,
    readonly retryable: boolean,
  ) {
    super(`${method}: ${code}: ${message}`);
    this.name = 'GatewayError';
  }
}

/** A callback that is not a genuine notification for this merchant: bad or missing signature, wrong app id, undecryptable. */
export class CallbackRejected extends Error {
  constructor(
    readonly method: PaymentMethod,
    readonly reason: string,
  ) {
    super(`${method} callback rejected: ${reason}`);
    this.name = 'CallbackRejected';
  }
}

export interface DonationGateway {
  readonly method: PaymentMethod;
  /** Creates the trade and returns the QR content (Alipay qr_code / WeChat code_url). Idempotent by orderNo: the same order again returns its QR. */
  precreate(trade: GatewayTrade): Promise<{ qrContent: string }>;
  query(orderNo: string): Promise<TradeStatus>;
  /** Closes an unpaid trade; `already_paid` when the buyer paid first. Idempotent: closing a closed trade is `closed`. */
  close(orderNo: string): Promise<CloseOutcome>;
  /** Asks for a refund. Idempotent by refundNo: the same refund again returns its status without refunding twice. */
  refund(request: RefundRequest): Promise<RefundStatus>;
  queryRefund(orderNo: string, refundNo: string): Promise<RefundStatus>;
  /**
   * Verifies a callback and reads it: the payment it reports, or null for a genuine notification that reports no
   * payment (a refund or close sync). Throws CallbackRejected when it is not genuine. Does not check it against the order.
   */
  verifyCallback(callback: RawCallback): PaymentNotice | null;
  /** The answer that tells the gateway the callback was taken (accepted) or must be sent again (refused). */
  callbackAnswer(accepted: boolean): CallbackAnswer;
}
