// The Alipay open API emulator (gateway.do, RSA2 both ways, the trade_status_sync notify), and the control API tests drive it with.
//
// Gateway, mounted at /alipay: GET or POST /gateway.do with the public parameters (app_id, method, charset, sign_type,
// timestamp, version, notify_url, sign) in the query string or the form body and biz_content as JSON, as alipay-sdk's
// exec sends them. Every request's sign is checked against the app's public key (40002 isv.invalid-signature); every
// answer is HTTP 200 `{"<method>_response":{code,msg,…},"sign":…}` signed with the platform key. Past the capacity: HTTP
// 429 at once. A transient failure: HTTP 503, nothing executed. A lost response: executed, then the connection is cut or
// the answer held past the client's timeout. Methods: see alipay-methods.ts.
//
// Control, mounted at /sandbox/alipay: GET /merchant (the credentials a developer console hands out), POST
// /trades/:outTradeNo/pay (the tester's phone), GET /trades/:outTradeNo, GET|POST /config, POST /reset, GET /stats.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { BehaviourSettings, DEFAULT_BEHAVIOUR, ProviderBehaviour } from './behaviour';
import { DEFAULT_NOTIFY, Notifier, NotifySettings, type NotifyAttempt } from './notifier';
import { loadAlipayCredentials } from './alipay-credentials';
import { alipayMethods, type MethodEvent } from './alipay-methods';
import { invalidArgument, missingArgument, responseKeyOf, rsa2Sign, rsa2Verify, shanghaiTime, signContent, signedAnswer, type AlipayReply } from './alipay-protocol';
import { AlipayTradeBook, refundedAmount, type AlipayRefund, type AlipayTrade } from './alipay-trade-book';

/** Where app.ts mounts the gateway router: the URL the merchant console hands out. */
const GATEWAY_PATH = '/alipay/gateway.do';

export interface AlipaySandboxSettings {
  behaviour: BehaviourSettings;
  notify: NotifySettings;
}
/** A patch of the settings: any of the fields of either part. */
const SettingsPatch = z.object({ behaviour: BehaviourSettings.partial().strict(), notify: NotifySettings.partial().strict() }).partial().strict();
export type AlipaySettingsPatch = z.infer<typeof SettingsPatch>;

/** A gateway that answers in 5 ± 2 ms and never fails; notifies on Alipay's real schedule until told otherwise. */
export const DEFAULT_ALIPAY_SETTINGS: AlipaySandboxSettings = {
  behaviour: { ...DEFAULT_BEHAVIOUR, latencyMs: 5, jitterMs: 2 },
  notify: DEFAULT_NOTIFY,
};

/** Alipay's waits between notify attempts after the first: 4m, 10m, 10m, 1h, 2h, 6h, 15h (8 attempts in about 25 h). */
const NOTIFY_SCHEDULE_MS = [4, 10, 10, 60, 120, 360, 900].map((minutes) => minutes * 60_000);
/** How long the emulator waits for the engine's answer to one notify attempt. */
const NOTIFY_TIMEOUT_MS = 15_000;

/** The public parameters every request must carry, and the sub_code of the answer when one is missing. */
const REQUIRED_PARAMS: ReadonlyArray<[string, string]> = [
  ['app_id', 'isv.missing-app-id'],
  ['method', 'isv.missing-method'],
  ['sign_type', 'isv.missing-signature-type'],
  ['sign', 'isv.missing-signature'],
  ['timestamp', 'isv.missing-timestamp'],
  ['version', 'isv.missing-version'],
];

export interface AlipayMerchant {
  appId: string;
  /** PEM, PKCS#8: what alipay-sdk takes as privateKey with keyType 'PKCS8'. */
  appPrivateKey: string;
  /** PEM, SPKI. */
  alipayPublicKey: string;
  gatewayUrl: string;
}

export interface AlipayRefundView {
  outRequestNo: string;
  amount: string;
  reason: string | null;
  refundedAt: string;
  notifies: NotifyAttempt[];
}

export interface AlipayTradeView {
  outTradeNo: string;
  tradeNo: string;
  status: AlipayTrade['status'];
  totalAmount: string;
  refundedAmount: string;
  subject: string;
  qrCode: string;
  notifyUrl: string | null;
  buyerId: string | null;
  createdAt: string;
  expiresAt: string;
  paidAt: string | null;
  closedAt: string | null;
  refunds: AlipayRefundView[];
  /** Attempts to deliver the payment's notify, in order. */
  notifies: NotifyAttempt[];
}

/** What the emulator counted since the last reset. */
interface Counters {
  requests: number;
  badSignatures: number;
  /** Requests refused for their public parameters (missing, wrong app_id, wrong sign_type, bad signature, unknown method). */
  refusedRequests: number;
  rateLimited: number;
  transientFailures: number;
  lostResponses: number;
  precreated: number;
  paid: number;
  closed: number;
  refunds: number;
  notifyAttempts: number;
  notifiesAcknowledged: number;
}
const zeroCounters = (): Counters => ({
  requests: 0,
  badSignatures: 0,
  refusedRequests: 0,
  rateLimited: 0,
  transientFailures: 0,
  lostResponses: 0,
  precreated: 0,
  paid: 0,
  closed: 0,
  refunds: 0,
  notifyAttempts: 0,
  notifiesAcknowledged: 0,
});

const refundNotifyKey = (outTradeNo: string, outRequestNo: string) => `${outTradeNo}/refund/${outRequestNo}`;

/** The query string and the form body as one set of parameters (Alipay takes either). */
function requestParams(req: Request): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [name, value] of new URL(req.originalUrl, 'http://gateway').searchParams) params[name] ??= value;
  if (typeof req.body === 'string') for (const [name, value] of new URLSearchParams(req.body)) params[name] ??= value;
  return params;
}

export function createAlipayEmulator(options: { dataDir: string }): { gateway: Router; control: Router } {
  const credentials = loadAlipayCredentials(options.dataDir);
  const appPublicKey = createPublicKey(credentials.appPublicKey);
  const platformKey = createPrivateKey(credentials.alipayPrivateKey);
  const behaviour = new ProviderBehaviour();
  const notifier = new Notifier(NOTIFY_SCHEDULE_MS);
  const book = new AlipayTradeBook();
  const methods = alipayMethods(book);
  let settings = DEFAULT_ALIPAY_SETTINGS;
  let counters = zeroCounters();
  behaviour.apply(settings.behaviour);

  function configure(next: AlipaySandboxSettings): void {
    settings = next;
    behaviour.apply(next.behaviour);
  }

  /** Why the request's public parameters are refused, or null when it is the merchant's and signed by its app key. */
  function refusal(params: Record<string, string>): AlipayReply | null {
    for (const [name, subCode] of REQUIRED_PARAMS) if (!params[name]) return missingArgument(subCode, `缺少参数 ${name}`);
    if (params.app_id !== credentials.appId) return invalidArgument('isv.invalid-app-id', '无效的AppID参数');
    if (params.sign_type !== 'RSA2') return invalidArgument('isv.invalid-signature-type', '无效签名类型: 该应用只支持 RSA2');
    if (params.charset && params.charset.toLowerCase() !== 'utf-8') return invalidArgument('isv.invalid-charset', '字符集错误: 只支持 utf-8');
    const content = signContent(params, ['sign']);
    if (!rsa2Verify(content, params.sign!, appPublicKey)) {
      counters.badSignatures++;
      return invalidArgument('isv.invalid-signature', `验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：${content}`);
    }
    if (!(params.method! in methods)) return invalidArgument('isv.invalid-method', '不存在的方法名');
    return null;
  }

  function execute(params: Record<string, string>): AlipayReply {
    let biz: unknown;
    try {
      biz = JSON.parse(params.biz_content ?? '{}');
    } catch {
      return invalidArgument('isv.invalid-biz-content', 'biz_content 不是合法的 JSON');
    }
    return methods[params.method!]!({ biz, params, now: new Date(), emit: follow });
  }

  function follow(event: MethodEvent): void {
    switch (event.kind) {
      case 'precreated':
        counters.precreated++;
        return;
      case 'closed':
        counters.closed++;
        return;
      case 'refunded':
        counters.refunds++;
        return sendRefundNotify(event.trade, event.refund);
    }
  }

  /** A trade_status_sync notification of the trade as it is now, signed over its sorted fields without sign and sign_type. */
  function notify(key: string, trade: AlipayTrade, extra: Record<string, string>): void {
    if (!trade.notifyUrl) return;
    const url = trade.notifyUrl;
    const params: Record<string, string> = {
      notify_time: shanghaiTime(new Date()),
      notify_type: 'trade_status_sync',
      notify_id: randomBytes(18).toString('hex'),
      app_id: credentials.appId,
      charset: 'utf-8',
      version: '1.0',
      sign_type: 'RSA2',
      trade_no: trade.tradeNo,
      out_trade_no: trade.outTradeNo,
      trade_status: trade.status,
      total_amount: trade.totalAmount,
      receipt_amount: trade.totalAmount,
      invoice_amount: trade.totalAmount,
      buyer_pay_amount: trade.totalAmount,
      point_amount: '0.00',
      ...(trade.buyerId ? { buyer_id: trade.buyerId } : {}),
      seller_id: credentials.sellerId,
      subject: trade.subject,
      gmt_create: shanghaiTime(trade.createdAt),
      gmt_payment: shanghaiTime(trade.paidAt!),
      ...extra,
    };
    params.sign = rsa2Sign(signContent(params, ['sign', 'sign_type']), platformKey);
    const body = new URLSearchParams(params).toString();
    notifier.send(key, settings.notify, async () => {
      counters.notifyAttempts++;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body,
        signal: AbortSignal.timeout(NOTIFY_TIMEOUT_MS),
      });
      // Alipay takes nothing but the exact text `success` as an acknowledgement.
      const acknowledged = res.status === 200 && (await res.text()) === 'success';
      if (acknowledged) counters.notifiesAcknowledged++;
      return { status: res.status, acknowledged };
    });
  }

  function sendRefundNotify(trade: AlipayTrade, refund: AlipayRefund): void {
    notify(refundNotifyKey(trade.outTradeNo, refund.outRequestNo), trade, {
      out_biz_no: refund.outRequestNo,
      refund_fee: refundedAmount(trade),
      gmt_refund: `${shanghaiTime(refund.refundedAt)}.${String(refund.refundedAt.getMilliseconds()).padStart(3, '0')}`,
      ...(trade.closedAt ? { gmt_close: shanghaiTime(trade.closedAt) } : {}),
    });
  }

  function view(trade: AlipayTrade): AlipayTradeView {
    const iso = (at: Date | null) => at?.toISOString() ?? null;
    return {
      outTradeNo: trade.outTradeNo,
      tradeNo: trade.tradeNo,
      status: trade.status,
      totalAmount: trade.totalAmount,
      refundedAmount: refundedAmount(trade),
      subject: trade.subject,
      qrCode: trade.qrCode,
      notifyUrl: trade.notifyUrl,
      buyerId: trade.buyerId,
      createdAt: trade.createdAt.toISOString(),
      expiresAt: trade.expiresAt.toISOString(),
      paidAt: iso(trade.paidAt),
      closedAt: iso(trade.closedAt),
      refunds: trade.refunds.map((r) => ({
        outRequestNo: r.outRequestNo,
        amount: r.amount,
        reason: r.reason,
        refundedAt: r.refundedAt.toISOString(),
        notifies: notifier.attempts(refundNotifyKey(trade.outTradeNo, r.outRequestNo)),
      })),
      notifies: notifier.attempts(trade.outTradeNo),
    };
  }

  function answer(res: Response, responseKey: string, reply: AlipayReply): void {
    res.status(200).type('application/json; charset=utf-8').send(signedAnswer(responseKey, reply, platformKey));
  }

  function loseResponse(res: Response, send: () => void): void {
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
      if (!res.writableEnded && !res.destroyed) send();
    }, settings.behaviour.lostResponseDelayMs);
    res.once('close', leave);
  }

  /** The path every call takes: check the public parameters and the signature, take a place within the capacity, take the latency, maybe fail transiently, execute, maybe lose the answer. */
  function serve(req: Request, res: Response): void {
    counters.requests++;
    const params = requestParams(req);
    const responseKey = responseKeyOf(params.method && /^[a-z][a-z0-9_.]{0,127}$/.test(params.method) ? params.method : undefined);
    const refused = refusal(params);
    if (refused) {
      counters.refusedRequests++;
      return answer(res, responseKey, refused);
    }
    if (!behaviour.enter()) {
      counters.rateLimited++;
      res.status(429).type('text/plain').send('too many requests in flight');
      return;
    }
    setTimeout(() => {
      if (behaviour.failsTransiently()) {
        counters.transientFailures++;
        behaviour.leave();
        res.status(503).type('text/plain').send('service unavailable, try again later');
        return;
      }
      const reply = execute(params);
      const send = () => answer(res, responseKey, reply);
      if (behaviour.losesResponse()) return loseResponse(res, send);
      behaviour.leave();
      send();
    }, behaviour.latency());
  }

  const gateway = Router();
  // The form body is read as text: the signature covers the decoded values, and alipay-sdk puts some in the query string.
  gateway.use(express.text({ type: () => true, limit: '64kb' }));
  gateway.get('/gateway.do', serve);
  gateway.post('/gateway.do', serve);
  gateway.use((_req: Request, res: Response) => {
    res.status(404).type('text/plain').send('no such endpoint: the gateway is /gateway.do');
  });
  gateway.use((err: { status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    res.status(err.status && err.status >= 400 && err.status < 500 ? err.status : 500).type('text/plain').send(err.message ?? 'bad request');
  });

  const control = Router();
  control.use(express.json());
  control.get('/merchant', (req, res) => {
    const merchant: AlipayMerchant = {
      appId: credentials.appId,
      appPrivateKey: credentials.appPrivateKey,
      alipayPublicKey: credentials.alipayPublicKey,
      gatewayUrl: `${req.protocol}://${req.get('host')}${GATEWAY_PATH}`,
    };
    res.json(merchant);
  });
  /** The buyer scans the QR code and pays: the trade turns TRADE_SUCCESS and its notify goes to the notify_url. */
  control.post('/trades/:outTradeNo/pay', (req, res) => {
    const parsed = z.object({ buyerId: z.string().min(1).max(64).optional() }).strict().safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      return;
    }
    const outcome = book.pay(req.params.outTradeNo, parsed.data.buyerId ?? null, new Date());
    if (outcome.kind === 'not_found') {
      res.status(404).json({ error: 'trade not found' });
      return;
    }
    if (outcome.kind !== 'paid') {
      res.status(409).json({ error: outcome.kind === 'closed' ? 'trade is closed' : 'trade is already paid', trade: view(outcome.trade) });
      return;
    }
    counters.paid++;
    notify(outcome.trade.outTradeNo, outcome.trade, {});
    res.json(view(outcome.trade));
  });
  control.get('/trades/:outTradeNo', (req, res) => {
    const trade = book.find(req.params.outTradeNo, new Date());
    if (trade) res.json(view(trade));
    else res.status(404).json({ error: 'trade not found' });
  });
  control.get('/config', (_req, res) => {
    res.json(settings);
  });
  /** Changes some settings, keeps the others; answers with all of them. */
  control.post('/config', (req, res) => {
    const parsed = SettingsPatch.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      return;
    }
    configure({ behaviour: { ...settings.behaviour, ...parsed.data.behaviour }, notify: { ...settings.notify, ...parsed.data.notify } });
    res.json(settings);
  });
  /** Forgets every trade, pending notify and counter, and goes back to the default settings. The credentials stay. */
  control.post('/reset', (_req, res) => {
    book.clear();
    notifier.reset();
    counters = zeroCounters();
    configure(DEFAULT_ALIPAY_SETTINGS);
    res.json(settings);
  });
  control.get('/stats', (_req, res) => {
    res.json({ ...counters, ...behaviour.load() });
  });

  return { gateway, control };
}
