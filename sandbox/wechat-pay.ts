// The WeChat Pay emulator: API v3 Native payments (mounted where the engine's WECHAT pay base URL points), WeChat login,
// and the control API tests drive them with (the buyer's phone, faults, the merchant platform's credentials page).
//
// Protocol, under the pay base path (locally /wechatpay); amounts in fen; errors are {code, message}:
//   POST /v3/pay/transactions/native                            200 {code_url} (the same again for the same order)
//        400 PARAM_ERROR | APPID_MCHID_NOT_MATCH | INVALID_REQUEST "201 商户订单号重复" (known with other fields)
//        | ORDERPAID | ORDER_CLOSED
//   GET  /v3/pay/transactions/out-trade-no/{no}?mchid=           200 transaction (trade_state NOTPAY|SUCCESS|REFUND|CLOSED) | 404 ORDER_NOT_EXIST
//   POST /v3/pay/transactions/out-trade-no/{no}/close {mchid}    204 (also when already closed) | 400 ORDERPAID | 404 ORDER_NOT_EXIST
//   POST /v3/refund/domestic/refunds                            200 refund (status PROCESSING, then SUCCESS) | 404 RESOURCE_NOT_EXISTS
//        | 400 INVALID_REQUEST (not paid, other total, more than is left to refund, refund number known with other fields)
//   GET  /v3/refund/domestic/refunds/{out_refund_no}             200 refund | 404 RESOURCE_NOT_EXISTS
// Every request carries the merchant's Authorization signature (401 SIGN_ERROR otherwise); every answer is signed with
// the platform key. Past the capacity: 429 FREQUENCY_LIMITED. A transient failure: 500 SYSTEM_ERROR, nothing executed.
// A lost response: executed, then the connection is cut or the answer held past the client's timeout.
import { randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { BehaviourSettings, DEFAULT_BEHAVIOUR, ProviderBehaviour } from './behaviour';
import { DEFAULT_NOTIFY, NotifySettings } from './notifier';
import { WechatCallbacks } from './wechat-callbacks';
import { loadWechatCredentials } from './wechat-credentials';
import { newOpenid, WechatLoginEmulator } from './wechat-login';
import { authorizationRefusal, platformHeaders } from './wechat-signature';
import { refundResource, refundStatus, transactionResource, WechatTradeBook, type Trade } from './wechat-trade-book';

export const WechatSandboxSettings = z.object({
  behaviour: BehaviourSettings,
  notify: NotifySettings,
  /** How long a refund reads PROCESSING before SUCCESS. */
  refundSettleMs: z.number().int().min(0).max(3_600_000),
});
export type WechatSandboxSettings = z.infer<typeof WechatSandboxSettings>;

/** Answers in 5 ± 2 ms, sends callbacks on WeChat's real schedule, settles refunds after a second. */
export const DEFAULT_WECHAT_SETTINGS: WechatSandboxSettings = {
  behaviour: { ...DEFAULT_BEHAVIOUR, latencyMs: 5, jitterMs: 2 },
  notify: DEFAULT_NOTIFY,
  refundSettleMs: 1_000,
};

const SettingsPatch = z
  .object({ behaviour: BehaviourSettings.partial().strict(), notify: NotifySettings.partial().strict(), refundSettleMs: WechatSandboxSettings.shape.refundSettleMs })
  .partial()
  .strict();
export type WechatSettingsPatch = z.infer<typeof SettingsPatch>;

/** What the merchant platform hands the merchant: everything the engine's WeChat adapter and login client need. */
export interface WechatMerchant {
  mchId: string;
  appId: string;
  appSecret: string;
  merchantSerialNo: string;
  merchantPrivateKey: string;
  apiV3Key: string;
  platformSerialNo: string;
  platformPublicKey: string;
  payBaseUrl: string;
  loginBaseUrl: string;
}

/** A trade as the control API shows it; amounts in fen. */
export interface WechatTradeView {
  outTradeNo: string;
  state: string;
  description: string;
  total: number;
  currency: string;
  codeUrl: string;
  notifyUrl: string;
  createdAt: string;
  expiresAt: string;
  payment: { transactionId: string; paidAt: string; openid: string } | null;
  closed: { at: string; by: 'merchant' | 'expiry' } | null;
  refunds: { outRefundNo: string; refundId: string; refund: number; status: string; reason: string | null; createdAt: string }[];
  /** Every delivery attempt of the payment callback, in order. */
  callbackAttempts: { at: string; status: number | null; acknowledged: boolean; error?: string }[];
}

interface Reply {
  status: number;
  body?: unknown;
}
const failure = (status: number, code: string, message: string): Reply => ({ status, body: { code, message } });
const paramError = (error: z.ZodError): Reply => failure(400, 'PARAM_ERROR', error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));

const OutTradeNo = z.string().regex(/^[A-Za-z0-9_\-*|]{6,32}$/, 'must be 6 to 32 characters of [A-Za-z0-9_-*|]');
const OutRefundNo = z.string().regex(/^[A-Za-z0-9_\-*|@]{1,64}$/, 'must be 1 to 64 characters of [A-Za-z0-9_-*|@]');
const Rfc3339 = z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, 'must be RFC 3339, e.g. 2018-06-08T10:34:56+08:00');
const NotifyUrl = z
  .string()
  .max(256)
  .url()
  .refine((url) => /^https?:\/\//.test(url) && !url.includes('?'), 'must be an http(s) URL without query parameters');
const NativeBody = z.object({
  appid: z.string().min(1).max(32),
  mchid: z.string().min(1).max(32),
  description: z.string().min(1).max(127),
  out_trade_no: OutTradeNo,
  time_expire: Rfc3339.optional(),
  notify_url: NotifyUrl,
  amount: z.object({ total: z.number().int().min(1), currency: z.literal('CNY').default('CNY') }),
});
const CloseBody = z.object({ mchid: z.string().min(1) });
const RefundBody = z.object({
  out_trade_no: OutTradeNo,
  out_refund_no: OutRefundNo,
  reason: z.string().max(80).optional(),
  amount: z.object({ refund: z.number().int().min(1), total: z.number().int().min(1), currency: z.literal('CNY') }),
});

/** A Native trade nobody gave a time_expire to stays payable this long, as WeChat's prepay does. */
const DEFAULT_EXPIRY_MS = 2 * 3_600_000;

interface Counters {
  requests: number;
  unauthorized: number;
  rateLimited: number;
  transientFailures: number;
  lostResponses: number;
  precreated: number;
  paid: number;
  closed: number;
  refunds: number;
}
const zeroCounters = (): Counters => ({ requests: 0, unauthorized: 0, rateLimited: 0, transientFailures: 0, lostResponses: 0, precreated: 0, paid: 0, closed: 0, refunds: 0 });

export function createWechatEmulator(options: { dataDir: string }): { pay: Router; login: Router; control: Router } {
  const credentials = loadWechatCredentials(options.dataDir);
  const behaviour = new ProviderBehaviour();
  const book = new WechatTradeBook();
  const callbacks = new WechatCallbacks(credentials);
  const login = new WechatLoginEmulator(credentials, behaviour);
  let settings = DEFAULT_WECHAT_SETTINGS;
  let counters = zeroCounters();

  function configure(next: WechatSandboxSettings): void {
    settings = next;
    behaviour.apply(next.behaviour);
  }
  configure(DEFAULT_WECHAT_SETTINGS);

  function send(res: Response, reply: Reply): void {
    const body = reply.body === undefined ? '' : JSON.stringify(reply.body);
    res.set({ ...platformHeaders(body, credentials), 'Request-ID': randomBytes(16).toString('hex').toUpperCase() });
    if (body) res.status(reply.status).type('application/json').send(body);
    else res.status(reply.status).end();
  }

  /**
   * The path every API call takes: authenticate, take a place within the capacity, take the latency, maybe fail
   * transiently, do the work, and maybe lose the answer.
   */
  function serve(work: (body: unknown, req: Request) => Reply) {
    return (req: Request, res: Response) => {
      counters.requests++;
      const raw = typeof req.body === 'string' ? req.body : '';
      const refusal = authorizationRefusal({ method: req.method, url: req.originalUrl, authorization: req.get('authorization'), body: raw }, credentials);
      if (refusal) {
        counters.unauthorized++;
        return send(res, failure(401, 'SIGN_ERROR', refusal));
      }
      if (!behaviour.enter()) {
        counters.rateLimited++;
        return send(res, failure(429, 'FREQUENCY_LIMITED', '频率超限，请降低请求频率'));
      }
      setTimeout(() => {
        if (behaviour.failsTransiently()) {
          counters.transientFailures++;
          behaviour.leave();
          return send(res, failure(500, 'SYSTEM_ERROR', '系统异常，请稍后重试'));
        }
        let reply: Reply;
        try {
          reply = work(raw ? JSON.parse(raw) : undefined, req);
        } catch (err) {
          reply = err instanceof SyntaxError ? failure(400, 'PARAM_ERROR', '请求体不是合法的 JSON') : failure(500, 'SYSTEM_ERROR', '系统异常，请稍后重试');
        }
        if (behaviour.losesResponse()) return loseResponse(res, reply);
        behaviour.leave();
        send(res, reply);
      }, behaviour.latency());
    };
  }

  function loseResponse(res: Response, reply: Reply): void {
    counters.lostResponses++;
    if (settings.behaviour.lostResponseMode === 'drop') {
      behaviour.leave();
      res.socket?.destroy();
      return;
    }
    // Held past the client's timeout: the request stays in flight until the answer goes or the client hangs up.
    let left = false;
    const leave = () => {
      if (left) return;
      left = true;
      clearTimeout(held);
      behaviour.leave();
    };
    const held = setTimeout(() => {
      leave();
      if (!res.writableEnded && !res.destroyed) send(res, reply);
    }, settings.behaviour.lostResponseDelayMs);
    res.once('close', leave);
  }

  const pay = Router();
  // The signature covers the exact bytes sent, so the body is kept as text and parsed after verification.
  pay.use(express.text({ type: () => true, limit: '64kb' }));

  pay.post(
    '/v3/pay/transactions/native',
    serve((body) => {
      const parsed = NativeBody.safeParse(body);
      if (!parsed.success) return paramError(parsed.error);
      const order = parsed.data;
      if (order.appid !== credentials.appId || order.mchid !== credentials.mchId) return failure(400, 'APPID_MCHID_NOT_MATCH', 'appid 和 mchid 不匹配');
      const expiresAt = order.time_expire ? Date.parse(order.time_expire) : Date.now() + DEFAULT_EXPIRY_MS;
      if (expiresAt <= Date.now() && !book.trade(order.out_trade_no)) return failure(400, 'PARAM_ERROR', 'time_expire 已过');
      const decision = book.precreate({
        appid: order.appid,
        mchid: order.mchid,
        description: order.description,
        outTradeNo: order.out_trade_no,
        expiresAt,
        notifyUrl: order.notify_url,
        total: order.amount.total,
        currency: order.amount.currency,
      });
      switch (decision.kind) {
        case 'created':
          counters.precreated++;
          return { status: 200, body: { code_url: decision.trade.codeUrl } };
        case 'existing':
          return { status: 200, body: { code_url: decision.trade.codeUrl } };
        case 'conflict':
          return failure(400, 'INVALID_REQUEST', '201 商户订单号重复');
        case 'paid':
          return failure(400, 'ORDERPAID', '该订单已支付');
        case 'closed':
          return failure(400, 'ORDER_CLOSED', '订单已关闭');
      }
    }),
  );

  pay.get(
    '/v3/pay/transactions/out-trade-no/:outTradeNo',
    serve((_body, req) => {
      if (req.query.mchid !== credentials.mchId) return failure(400, 'PARAM_ERROR', 'mchid 缺失或与商户号不符');
      const trade = book.trade(String(req.params.outTradeNo));
      if (!trade) return failure(404, 'ORDER_NOT_EXIST', '订单不存在');
      return { status: 200, body: transactionResource(trade, book.state(trade)) };
    }),
  );

  pay.post(
    '/v3/pay/transactions/out-trade-no/:outTradeNo/close',
    serve((body, req) => {
      const parsed = CloseBody.safeParse(body);
      if (!parsed.success) return paramError(parsed.error);
      if (parsed.data.mchid !== credentials.mchId) return failure(400, 'PARAM_ERROR', 'mchid 与商户号不符');
      const decision = book.close(String(req.params.outTradeNo));
      if (decision === 'not_found') return failure(404, 'ORDER_NOT_EXIST', '订单不存在');
      if (decision === 'paid') return failure(400, 'ORDERPAID', '订单已支付');
      counters.closed++;
      return { status: 204 };
    }),
  );

  pay.post(
    '/v3/refund/domestic/refunds',
    serve((body) => {
      const parsed = RefundBody.safeParse(body);
      if (!parsed.success) return paramError(parsed.error);
      const { out_trade_no: outTradeNo, out_refund_no: outRefundNo, reason, amount } = parsed.data;
      const decision = book.refund(
        { outTradeNo, outRefundNo, refund: amount.refund, total: amount.total, currency: amount.currency, reason: reason ?? null },
        settings.refundSettleMs,
      );
      if (decision.kind === 'trade_not_found') return failure(404, 'RESOURCE_NOT_EXISTS', '订单不存在');
      if (decision.kind === 'refused') return failure(400, 'INVALID_REQUEST', decision.message);
      if (decision.kind === 'accepted') counters.refunds++;
      return { status: 200, body: refundResource(decision.refund) };
    }),
  );

  pay.get(
    '/v3/refund/domestic/refunds/:outRefundNo',
    serve((_body, req) => {
      const refund = book.refundOf(String(req.params.outRefundNo));
      return refund ? { status: 200, body: refundResource(refund) } : failure(404, 'RESOURCE_NOT_EXISTS', '退款单不存在');
    }),
  );

  pay.use((_req: Request, res: Response) => send(res, failure(404, 'NOT_FOUND', '请求的接口不存在')));
  // A body too large or in a broken encoding: answered like every other refusal.
  pay.use((err: { status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    send(res, failure(status, status === 500 ? 'SYSTEM_ERROR' : 'PARAM_ERROR', err.message ?? 'bad request'));
  });

  function tradeView(trade: Trade): WechatTradeView {
    const iso = (ms: number) => new Date(ms).toISOString();
    return {
      outTradeNo: trade.outTradeNo,
      state: book.state(trade),
      description: trade.description,
      total: trade.total,
      currency: trade.currency,
      codeUrl: trade.codeUrl,
      notifyUrl: trade.notifyUrl,
      createdAt: iso(trade.createdAt),
      expiresAt: iso(trade.expiresAt),
      payment: trade.payment ? { ...trade.payment, paidAt: iso(trade.payment.paidAt) } : null,
      closed: trade.closed ? { at: iso(trade.closed.at), by: trade.closed.by } : null,
      refunds: book.refundsOf(trade).map((r) => ({
        outRefundNo: r.outRefundNo,
        refundId: r.refundId,
        refund: r.refund,
        status: refundStatus(r),
        reason: r.reason,
        createdAt: iso(r.createdAt),
      })),
      callbackAttempts: callbacks.attempts(trade.outTradeNo),
    };
  }

  const control = Router();
  control.use(express.json());
  const badRequest = (res: Response, error: z.ZodError) =>
    res.status(400).json({ error: error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });

  control.get('/merchant', (req, res) => {
    const origin = `${req.protocol}://${req.get('host')}`;
    const { merchantPublicKey: _merchantPublicKey, platformPrivateKey: _platformPrivateKey, ...merchant } = credentials;
    const answer: WechatMerchant = { ...merchant, payBaseUrl: `${origin}/wechatpay`, loginBaseUrl: `${origin}/weixin` };
    res.json(answer);
  });

  /** The user's phone calling wx.login: a code for that openid (or a new user). */
  control.post('/login-codes', (req, res) => {
    const parsed = z.object({ openid: z.string().min(1).max(128).optional(), unionid: z.string().min(1).max(128).optional() }).strict().safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(res, parsed.error);
    res.json(login.issue(parsed.data.openid, parsed.data.unionid));
  });

  /** The buyer scanning the code and paying: the trade turns SUCCESS and the payment callback starts. */
  control.post('/trades/:outTradeNo/pay', (req, res) => {
    const parsed = z.object({ openid: z.string().min(1).max(128).optional() }).strict().safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(res, parsed.error);
    const decision = book.pay(req.params.outTradeNo, parsed.data.openid ?? newOpenid());
    if (decision.kind === 'not_found') return res.status(404).json({ error: 'trade not found' });
    if (decision.kind === 'closed') return res.status(409).json({ error: 'trade closed: it can no longer be paid' });
    if (decision.kind === 'already_paid') return res.status(409).json({ error: 'trade already paid' });
    counters.paid++;
    const { trade } = decision;
    callbacks.send(trade.outTradeNo, trade.notifyUrl, 'TRANSACTION.SUCCESS', transactionResource(trade, 'SUCCESS'), settings.notify);
    res.json(tradeView(trade));
  });

  control.get('/trades/:outTradeNo', (req, res) => {
    const trade = book.trade(req.params.outTradeNo);
    if (trade) res.json(tradeView(trade));
    else res.status(404).json({ error: 'trade not found' });
  });

  /** A callback signed with the platform key but not sent, with what a test chose inside: for the ones the engine must refuse. */
  control.post('/callbacks', (req, res) => {
    const parsed = z
      .object({
        eventType: z.string().min(1),
        resource: z.record(z.string(), z.unknown()),
        timestamp: z.number().int().optional(),
        serialNo: z.string().min(1).optional(),
        apiV3Key: z.string().length(32).optional(),
      })
      .strict()
      .safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(res, parsed.error);
    const { eventType, resource, ...forgery } = parsed.data;
    res.json(callbacks.make(eventType, resource, forgery));
  });

  control.get('/config', (_req, res) => {
    res.json(settings);
  });
  /** Changes some settings (within behaviour and notify too), keeps the others; answers with all of them. */
  control.post('/config', (req, res) => {
    const parsed = SettingsPatch.safeParse(req.body ?? {});
    if (!parsed.success) return badRequest(res, parsed.error);
    const patch = parsed.data;
    configure({
      behaviour: { ...settings.behaviour, ...patch.behaviour },
      notify: { ...settings.notify, ...patch.notify },
      refundSettleMs: patch.refundSettleMs ?? settings.refundSettleMs,
    });
    res.json(settings);
  });
  /** Forgets every trade, refund, login code, pending callback and counter; back to the default settings. */
  control.post('/reset', (_req, res) => {
    book.clear();
    callbacks.reset();
    login.reset();
    counters = zeroCounters();
    configure(DEFAULT_WECHAT_SETTINGS);
    res.json(settings);
  });
  control.get('/stats', (_req, res) => {
    res.json({ ...counters, callbacksSent: callbacks.sent, ...behaviour.load() });
  });

  return { pay, login: login.router, control };
}
