// The WeChat Pay API v3 Native adapter (see donation-gateway.ts for the contract, sandbox/wechat-pay.ts for the protocol):
// a thin client over node:crypto and node:http that signs every request, verifies every answer and callback with the
// platform's public key, and decrypts callback resources with the APIv3 key.
import { createDecipheriv, randomBytes, sign, verify } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { formatAmount, money, parseAmount } from '../../domain/money';
import {
  CallbackRejected,
  GatewayError,
  type CloseOutcome,
  type DonationGateway,
  type GatewayTrade,
  type PaymentNotice,
  type RawCallback,
  type RefundRequest,
  type RefundStatus,
  type TradeStatus,
} from './donation-gateway';

export interface WechatPayOptions {
  mchId: string;
  appId: string;
  /** The serial number of the merchant's API certificate, and its private key (apiclient_key.pem). */
  merchantSerialNo: string;
  merchantPrivateKey: string;
  /** 32 characters: the key of callback resources. */
  apiV3Key: string;
  /** The platform's public key id (or certificate serial) and key: every answer and callback must be signed with it. */
  platformSerialNo: string;
  platformPublicKey: string;
  /** https://api.mch.weixin.qq.com in production. */
  payBaseUrl: string;
  timeoutMs: number;
}

const SCHEME = 'WECHATPAY2-SHA256-RSA2048';
/** Answers and callbacks signed further than this from our clock are refused (replays). */
const TIMESTAMP_WINDOW_S = 5 * 60;
/** Idle kept-alive connections are closed after this, before the gateway closes them on its side. */
const IDLE_SOCKET_MS = 4_000;
/** Connection errors that happen before a single byte is sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Codes WeChat answers when the same call may succeed later, whatever the HTTP status. */
const RETRYABLE_CODES = new Set(['SYSTEM_ERROR', 'FREQUENCY_LIMITED', 'NOT_ENOUGH']);

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export function createWechatPayGateway(options: WechatPayOptions): DonationGateway {
  const { mchId, appId, merchantSerialNo, merchantPrivateKey, apiV3Key, platformSerialNo, platformPublicKey, timeoutMs } = options;
  const base = new URL(options.payBaseUrl.replace(/\/+$/, ''));
  const transport = base.protocol === 'https:' ? https : http;
  const agent = new transport.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });

  /** Whether Wechatpay-* headers sign `body` with the platform key: a reason to refuse, or undefined. */
  function signatureRefusal(headers: Record<string, string | string[] | undefined>, body: string): string | undefined {
    const header = (name: string) => {
      const value = headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    const serial = header('wechatpay-serial');
    const timestamp = header('wechatpay-timestamp');
    const nonce = header('wechatpay-nonce');
    const signature = header('wechatpay-signature');
    if (!serial || !timestamp || !nonce || !signature) return 'missing Wechatpay-Serial, -Timestamp, -Nonce or -Signature';
    if (serial !== platformSerialNo) return `signed by ${serial}, not by the platform key ${platformSerialNo}`;
    if (!/^\d{1,12}$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TIMESTAMP_WINDOW_S) return 'timestamp outside ±5 minutes';
    const message = Buffer.from(`${timestamp}\n${nonce}\n${body}\n`);
    if (!verify('sha256', message, platformPublicKey, Buffer.from(signature, 'base64'))) return 'signature does not verify with the platform key';
    return undefined;
  }

  /**
   * One signed call over a kept-alive connection, its answer verified. Throws a retryable GatewayError when nothing
   * usable came back (no connection, no answer, 429, 5xx, "system busy") and a non-retryable one when the answer is
   * not the platform's; returns every other answer for the caller to read.
   */
  function call(method: 'GET' | 'POST', route: string, payload?: unknown): Promise<Answer> {
    const url = new URL(base.pathname + route, base);
    const target = url.pathname + url.search;
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString('hex');
    const signature = sign('sha256', Buffer.from(`${method}\n${target}\n${timestamp}\n${nonce}\n${body}\n`), merchantPrivateKey).toString('base64');
    const headers: Record<string, string | number> = {
      authorization: `${SCHEME} mchid="${mchId}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${merchantSerialNo}"`,
      accept: 'application/json',
      // WeChat refuses requests without a User-Agent.
      'user-agent': 'durapay-wechatpay/1 (node)',
    };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const what = `${method} ${url.pathname}`;

    return new Promise<Answer>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: Answer | GatewayError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (outcome instanceof GatewayError) reject(outcome);
        else resolve(outcome);
      };
      const lost = (err: NodeJS.ErrnoException) =>
        settle(
          err.code && NOT_SENT.has(err.code)
            ? new GatewayError('wechat', 'unreachable', `${what}: ${err.code}`, true)
            : new GatewayError('wechat', 'no_answer', `${what}: connection lost (${err.code ?? err.message})`, true),
        );
      const req = transport.request(url, { method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => settle(read(what, res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString('utf8'))));
        res.on('error', lost);
        res.on('close', () => settle(new GatewayError('wechat', 'no_answer', `${what}: connection lost while reading the answer`, true)));
      });
      const timer = setTimeout(() => {
        settle(new GatewayError('wechat', 'no_answer', `${what}: no answer within ${timeoutMs} ms`, true));
        req.destroy();
      }, timeoutMs);
      req.on('error', lost);
      req.end(body || undefined);
    });
  }

  function read(what: string, status: number, headers: http.IncomingHttpHeaders, text: string): Answer | GatewayError {
    const body = parseJson(text);
    const code: string | undefined = typeof body?.code === 'string' ? body.code : undefined;
    const described = `${what}: ${status} ${code ?? ''} ${body?.message ?? ''}`.replace(/\s+/g, ' ').trim();
    // Nothing is taken from a failure but the fact that it failed, so a proxy's unsigned 502 is as good as the gateway's own.
    if (status === 429 || status >= 500 || (code && RETRYABLE_CODES.has(code))) return new GatewayError('wechat', code ?? `http_${status}`, described, true);
    const refusal = signatureRefusal(headers, text);
    if (refusal) return new GatewayError('wechat', 'response_signature_invalid', `${what}: ${refusal}`, false);
    if (text && body === undefined) return new GatewayError('wechat', 'unexpected_response', `${what}: ${status} answer is not JSON`, false);
    return { status, body };
  }

  /** The error for an answer that is none of the outcomes the call expects: the gateway refused the request. */
  function refused(what: string, answer: Answer): GatewayError {
    const code = typeof answer.body?.code === 'string' ? answer.body.code : `http_${answer.status}`;
    return new GatewayError('wechat', code, `${what}: ${answer.status} ${answer.body?.message ?? 'unexpected answer'}`, false);
  }

  function refundStatusOf(body: Answer['body'], what: string): RefundStatus {
    switch (body?.status) {
      case 'SUCCESS':
        return { state: 'succeeded', providerRefundNo: String(body.refund_id), amount: yuan(body.amount?.refund, what), refundedAt: isoTime(body.success_time, what) };
      // ABNORMAL: the money could not go back to the buyer's card; the merchant finishes it by hand in the merchant console.
      case 'PROCESSING':
      case 'ABNORMAL':
        return { state: 'processing' };
      case 'CLOSED':
        return { state: 'failed', reason: 'CLOSED: the refund was closed by WeChat Pay' };
      default:
        throw new GatewayError('wechat', 'unexpected_response', `${what}: refund status ${body?.status}`, false);
    }
  }

  function decrypt(resource: { ciphertext?: unknown; nonce?: unknown; associated_data?: unknown; algorithm?: unknown }): unknown {
    if (resource.algorithm !== 'AEAD_AES_256_GCM' || typeof resource.ciphertext !== 'string' || typeof resource.nonce !== 'string') {
      throw new CallbackRejected('wechat', 'resource is not AEAD_AES_256_GCM ciphertext');
    }
    const sealed = Buffer.from(resource.ciphertext, 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', Buffer.from(apiV3Key, 'utf8'), Buffer.from(resource.nonce, 'utf8'));
      decipher.setAAD(Buffer.from(typeof resource.associated_data === 'string' ? resource.associated_data : '', 'utf8'));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return JSON.parse(Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]).toString('utf8'));
    } catch {
      throw new CallbackRejected('wechat', 'resource does not decrypt with our APIv3 key');
    }
  }

  return {
    method: 'wechat',

    async precreate(trade: GatewayTrade) {
      const what = `precreate ${trade.orderNo}`;
      const answer = await call('POST', '/v3/pay/transactions/native', {
        appid: appId,
        mchid: mchId,
        description: trade.subject,
        out_trade_no: trade.orderNo,
        time_expire: beijingTime(trade.expiresAt),
        notify_url: trade.notifyUrl,
        amount: { total: fen(trade.amount), currency: 'CNY' },
      });
      if (answer.status === 200 && typeof answer.body?.code_url === 'string') return { qrContent: answer.body.code_url };
      throw refused(what, answer);
    },

    async query(orderNo): Promise<TradeStatus> {
      const what = `query ${orderNo}`;
      const answer = await call('GET', `/v3/pay/transactions/out-trade-no/${encodeURIComponent(orderNo)}?mchid=${encodeURIComponent(mchId)}`);
      if (answer.status === 404 && isOrderNotFound(answer)) return { state: 'not_found' };
      if (answer.status !== 200) throw refused(what, answer);
      const trade = answer.body;
      switch (trade?.trade_state) {
        case 'SUCCESS':
        case 'REFUND':
          return {
            state: 'paid',
            providerTradeNo: String(trade.transaction_id),
            amount: yuan(trade.amount?.total, what),
            paidAt: isoTime(trade.success_time, what),
            buyerId: trade.payer?.openid ?? null,
          };
        case 'NOTPAY':
        case 'USERPAYING':
          return { state: 'waiting' };
        case 'CLOSED':
        case 'REVOKED':
        case 'PAYERROR':
          return { state: 'closed' };
        default:
          throw new GatewayError('wechat', 'unexpected_response', `${what}: trade_state ${trade?.trade_state}`, false);
      }
    },

    async close(orderNo): Promise<CloseOutcome> {
      const answer = await call('POST', `/v3/pay/transactions/out-trade-no/${encodeURIComponent(orderNo)}/close`, { mchid: mchId });
      if (answer.status === 204 || answer.body?.code === 'ORDER_CLOSED') return 'closed';
      if (answer.body?.code === 'ORDERPAID') return 'already_paid';
      if (answer.status === 404 && isOrderNotFound(answer)) return 'not_found';
      throw refused(`close ${orderNo}`, answer);
    },

    async refund(request: RefundRequest): Promise<RefundStatus> {
      const what = `refund ${request.refundNo} of ${request.orderNo}`;
      const answer = await call('POST', '/v3/refund/domestic/refunds', {
        out_trade_no: request.orderNo,
        out_refund_no: request.refundNo,
        ...(request.reason ? { reason: request.reason } : {}),
        amount: { refund: fen(request.amount), total: fen(request.totalAmount), currency: 'CNY' },
      });
      if (answer.status === 200) return refundStatusOf(answer.body, what);
      // Refusals of this refund (more than is left, not paid, unknown trade): the same refund number cannot succeed.
      if (answer.body?.code === 'INVALID_REQUEST' || answer.body?.code === 'RESOURCE_NOT_EXISTS') {
        return { state: 'failed', reason: `${answer.body.code}: ${answer.body.message}` };
      }
      throw refused(what, answer);
    },

    async queryRefund(orderNo, refundNo): Promise<RefundStatus> {
      const what = `query refund ${refundNo} of ${orderNo}`;
      const answer = await call('GET', `/v3/refund/domestic/refunds/${encodeURIComponent(refundNo)}`);
      if (answer.status === 404 && answer.body?.code === 'RESOURCE_NOT_EXISTS') return { state: 'not_found' };
      if (answer.status !== 200) throw refused(what, answer);
      if (answer.body?.out_trade_no !== orderNo) {
        throw new GatewayError('wechat', 'refund_of_another_order', `${what}: the refund belongs to ${answer.body?.out_trade_no}`, false);
      }
      return refundStatusOf(answer.body, what);
    },

    verifyCallback(callback: RawCallback): PaymentNotice | null {
      const refusal = signatureRefusal(callback.headers, callback.body);
      if (refusal) throw new CallbackRejected('wechat', refusal);
      const envelope = parseJson(callback.body);
      if (envelope?.resource_type !== 'encrypt-resource' || typeof envelope.event_type !== 'string' || typeof envelope.resource !== 'object') {
        throw new CallbackRejected('wechat', 'not a WeChat Pay notification envelope');
      }
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const resource = decrypt(envelope.resource) as any;
      if (resource?.mchid !== mchId) throw new CallbackRejected('wechat', `notification for merchant ${resource?.mchid}, not ${mchId}`);
      if (envelope.event_type !== 'TRANSACTION.SUCCESS') return null;
      if (resource.appid !== appId) throw new CallbackRejected('wechat', `notification for app ${resource.appid}, not ${appId}`);
      if (resource.trade_state !== 'SUCCESS' || typeof resource.out_trade_no !== 'string' || typeof resource.transaction_id !== 'string') {
        throw new CallbackRejected('wechat', 'TRANSACTION.SUCCESS without a successful transaction');
      }
      try {
        return {
          method: 'wechat',
          orderNo: resource.out_trade_no,
          providerTradeNo: resource.transaction_id,
          amount: yuan(resource.amount?.total, 'callback'),
          paidAt: isoTime(resource.success_time, 'callback'),
          buyerId: resource.payer?.openid ?? null,
          appId: resource.appid,
        };
      } catch (err) {
        throw new CallbackRejected('wechat', (err as Error).message);
      }
    },

    callbackAnswer(accepted) {
      return accepted
        ? { status: 204, contentType: null, body: '' }
        : { status: 400, contentType: 'application/json', body: JSON.stringify({ code: 'FAIL', message: '失败' }) };
    },
  };
}

/** WeChat's v3 "no such trade": ORDER_NOT_EXIST, and ORDERNOTEXIST as some of its APIs still spell it. */
function isOrderNotFound(answer: Answer): boolean {
  return answer.body?.code === 'ORDER_NOT_EXIST' || answer.body?.code === 'ORDERNOTEXIST';
}

/** "10.00" CNY → 1000 fen, as WeChat counts. */
function fen(amount: string): number {
  return parseAmount(amount, 'CNY').times(100).toNumber();
}

/** 1000 fen → "10.00". */
function yuan(value: unknown, what: string): string {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new GatewayError('wechat', 'unexpected_response', `${what}: amount ${value} is not a whole number of fen`, false);
  }
  return formatAmount(money(value).div(100), 'CNY');
}

/** WeChat's RFC 3339 times (2024-05-01T10:00:00+08:00) → ISO 8601 in UTC. */
function isoTime(value: unknown, what: string): string {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw new GatewayError('wechat', 'unexpected_response', `${what}: time ${value} is not RFC 3339`, false);
  return new Date(ms).toISOString();
}

/** ISO 8601 → RFC 3339 in China Standard Time, as WeChat's examples write time_expire. */
function beijingTime(iso: string): string {
  return new Date(Date.parse(iso) + 8 * 3_600_000).toISOString().replace(/\.\d{3}Z$/, '+08:00');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function parseJson(text: string): any {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
