// The payout provider emulator (seed 001's api.payUrl / batchPayBeginUrl / batchPayFinishUrl), and the control API tests drive it with.
//
// Protocol, under a base path (locally /thirdpart/onePass); every answer is the envelope {code, msg, data}:
//   POST /batchPayBegin   {batchPayId, total}                          200 | 409 other total
//   POST /pay             {batchPayId, requestId, uid, amount, currency}
//        200 paid {providerRef, …} (again for a known request id, without paying again) | 422 code 4001 account invalid,
//        4004 batch not found, 4005 batch finished | 409 request id known with other fields | 400 bad request
//   POST /batchPayFinish  {batchPayId, paid, failed, amount}           200 with the provider's own counts | 409 other summary | 422 4004
//   GET  /payouts/:requestId                                           200 {status: paid | rejected, …} | 404
// Every request is signed (see payout-signature.ts): 401 otherwise, and 401 to all while the engine's credentials are revoked. Past the capacity: 429 at once. A transient failure: 503,
// nothing executed. A lost response: executed, then the connection is cut or the answer held past the client's timeout.
// Bodies are UTF-8, at most 64 kB (413 past it; 415 for another charset or a content encoding).
//
// The provider side is served by plain node:http, not express: at a thousand payouts a second on the engine's own cores,
// express's work per request (about two thirds of the emulator's) would slow the engine it is measured against.
import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { Router } from 'express';
import { z } from 'zod';
import { CURRENCY_SCALES, formatAmount, parseAmount } from '../domain/money';
import { BehaviourSettings, DEFAULT_BEHAVIOUR, ProviderBehaviour } from './behaviour';
import { PayoutBook, type PayDecision } from './payout-book';
import { SignatureVerifier } from './payout-signature';

export const PayoutSandboxSettings = BehaviourSettings.extend({
  /** Accounts the provider refuses for good (code 4001 "account invalid"). */
  rejectUids: z.array(z.number().int()),
  /** Every request is refused 401, however well signed, as by a provider that revoked the engine's token. */
  credentialsRevoked: z.boolean(),
});
export type PayoutSandboxSettings = z.infer<typeof PayoutSandboxSettings>;
export const DEFAULT_PAYOUT_SETTINGS: PayoutSandboxSettings = { ...DEFAULT_BEHAVIOUR, rejectUids: [], credentialsRevoked: false };

interface Reply {
  http: number;
  code: number;
  msg: string;
  data?: unknown;
}

const ok = (data: unknown): Reply => ({ http: 200, code: 200, msg: 'ok', data });
const refused = (code: number, msg: string): Reply => ({ http: 422, code, msg });
const badRequest = (msg: string): Reply => ({ http: 400, code: 400, msg });
const conflict = (msg: string, data?: unknown): Reply => ({ http: 409, code: 409, msg, data });

const Id = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/);
const DecimalText = z.string().regex(/^\d{1,20}(\.\d{1,18})?$/);
const BeginBody = z.object({ batchPayId: Id, total: z.number().int().min(0) });
const PayBody = z.object({
  batchPayId: Id,
  requestId: Id,
  uid: z.number().int().positive(),
  amount: z.string(),
  currency: z.string().refine((c) => c in CURRENCY_SCALES, 'unsupported currency'),
});
const FinishBody = z.object({ batchPayId: Id, paid: z.number().int().min(0), failed: z.number().int().min(0), amount: DecimalText });

/** What the emulator counted since the last reset: what a test asks when it wants to know how the provider was treated. */
interface Counters {
  requests: number;
  unauthorized: number;
  rateLimited: number;
  transientFailures: number;
  lostResponses: number;
  paid: number;
  replayed: number;
  rejected: number;
  conflicts: number;
}
const zeroCounters = (): Counters => ({ requests: 0, unauthorized: 0, rateLimited: 0, transientFailures: 0, lostResponses: 0, paid: 0, replayed: 0, rejected: 0, conflicts: 0 });

/** A request to the payout API, its target relative to the API's base path (`/pay`, `/payouts/…`, with the query). */
export type ProviderHandler = (req: IncomingMessage, res: ServerResponse, route: string) => void;

const BODY_LIMIT = 64 * 1024;

export function createPayoutEmulator(credentials: { appId: string; token: string }): { provider: ProviderHandler; control: Router } {
  const behaviour = new ProviderBehaviour();
  const book = new PayoutBook();
  const verifier = new SignatureVerifier(credentials);
  let settings = DEFAULT_PAYOUT_SETTINGS;
  let refusedUids = new Set<number>();
  let counters = zeroCounters();

  function configure(next: PayoutSandboxSettings): void {
    settings = next;
    refusedUids = new Set(next.rejectUids);
    behaviour.apply(next);
  }

  function send(res: ServerResponse, reply: Reply): void {
    const body = JSON.stringify({ code: reply.code, msg: reply.msg, data: reply.data ?? null });
    res.writeHead(reply.http, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
  }

  /**
   * The path every provider call takes: authenticate, take a place within the capacity, take the latency,
   * maybe fail transiently, do the work, and maybe lose the answer (pay only).
   */
  function serve(req: IncomingMessage, res: ServerResponse, raw: string, work: (body: unknown) => Reply, losable = false): void {
    counters.requests++;
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    };
    const refusal = settings.credentialsRevoked
      ? 'credentials revoked'
      : verifier.refusal({
          appId: header('x-app-id'),
          timestamp: header('x-timestamp'),
          nonce: header('x-nonce'),
          signature: header('x-signature'),
          method: req.method ?? '',
          path: req.url ?? '',
          body: raw,
        });
    if (refusal) {
      counters.unauthorized++;
      return send(res, { http: 401, code: 401, msg: refusal });
    }
    if (!behaviour.enter()) {
      counters.rateLimited++;
      return send(res, { http: 429, code: 429, msg: 'too many requests in flight' });
    }
    setTimeout(() => {
      if (behaviour.failsTransiently()) {
        counters.transientFailures++;
        behaviour.leave();
        return send(res, { http: 503, code: 503, msg: 'system busy, try again later' });
      }
      let reply: Reply;
      try {
        reply = work(raw ? JSON.parse(raw) : undefined);
      } catch (err) {
        reply = err instanceof SyntaxError ? badRequest('body is not JSON') : { http: 500, code: 500, msg: 'internal error' };
      }
      if (losable && reply.http === 200 && behaviour.losesResponse()) return loseResponse(res, reply);
      behaviour.leave();
      send(res, reply);
    }, behaviour.latency());
  }

  function loseResponse(res: ServerResponse, reply: Reply): void {
    counters.lostResponses++;
    if (settings.lostResponseMode === 'drop') {
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
    }, settings.lostResponseDelayMs);
    res.once('close', leave);
  }

  function payReply(decision: PayDecision): Reply {
    switch (decision.kind) {
      case 'paid':
        counters[decision.replayed ? 'replayed' : 'paid']++;
        return ok(decision.record);
      case 'rejected':
        counters.rejected++;
        return { ...refused(decision.record.code, decision.record.reason), data: decision.record };
      case 'conflict':
        counters.conflicts++;
        return conflict('requestId was already used with another batchPayId, uid, amount or currency', decision.existing);
      case 'batch_not_found':
        return refused(4004, 'batch not found: call batchPayBegin first');
      case 'batch_finished':
        return refused(4005, 'batch already finished');
    }
  }

  function begin(body: unknown): Reply {
    const parsed = BeginBody.safeParse(body);
    if (!parsed.success) return badRequest(issues(parsed.error));
    const decision = book.begin(parsed.data.batchPayId, parsed.data.total);
    if (decision.kind === 'conflict') return conflict('batchPayId was already begun with another total', decision.batch);
    return decision.kind === 'ok' ? ok(decision.batch) : refused(4004, 'batch not found');
  }

  function pay(body: unknown): Reply {
    const parsed = PayBody.safeParse(body);
    if (!parsed.success) return badRequest(issues(parsed.error));
    const { amount, currency } = parsed.data;
    let canonical: string;
    try {
      canonical = formatAmount(parseAmount(amount, currency), currency);
    } catch (err) {
      return badRequest((err as Error).message);
    }
    return payReply(book.pay({ ...parsed.data, amount: canonical }, (uid) => refusedUids.has(uid)));
  }

  function finish(body: unknown): Reply {
    const parsed = FinishBody.safeParse(body);
    if (!parsed.success) return badRequest(issues(parsed.error));
    const { batchPayId, ...summary } = parsed.data;
    const decision = book.finish(batchPayId, summary);
    if (decision.kind === 'batch_not_found') return refused(4004, 'batch not found');
    if (decision.kind === 'conflict') return conflict('batch was already finished with another summary', decision.batch);
    return ok(decision.batch);
  }

  function payout(requestId: string): Reply {
    const record = book.payout(requestId);
    return record ? ok(record) : { http: 404, code: 404, msg: 'payout not found' };
  }

  /** Routes a request once its body is read; paths match as express would (any case, a trailing slash allowed). */
  function dispatch(req: IncomingMessage, res: ServerResponse, route: string, raw: string): void {
    const path = route.split('?', 1)[0].replace(/\/$/, '');
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const named = path.toLowerCase();
    if (method === 'POST' && named === '/batchpaybegin') return serve(req, res, raw, begin);
    if (method === 'POST' && named === '/pay') return serve(req, res, raw, pay, true);
    if (method === 'POST' && named === '/batchpayfinish') return serve(req, res, raw, finish);
    const query = /^\/payouts\/([^/]+)$/i.exec(path);
    if (method === 'GET' && query) {
      let requestId: string;
      try {
        requestId = decodeURIComponent(query[1]);
      } catch {
        return send(res, badRequest(`Failed to decode param '${query[1]}'`));
      }
      return serve(req, res, raw, () => payout(requestId));
    }
    send(res, { http: 404, code: 404, msg: 'no such endpoint' });
  }

  // The signature covers the exact bytes sent, so the body is kept as text and parsed after verification.
  const provider: ProviderHandler = (req, res, route) => {
    const type = req.headers['content-type'] ?? '';
    const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(type)?.[1].toLowerCase();
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    const refuse = (reply: Reply) => {
      req.resume(); // the rest of the body is read and dropped, so that the connection can serve the next request
      send(res, reply);
    };
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return refuse({ http: 415, code: 415, msg: `unsupported charset "${charset.toUpperCase()}"` });
    if (encoding !== 'identity') return refuse({ http: 415, code: 415, msg: `unsupported content encoding "${encoding}"` });
    if (Number(req.headers['content-length'] ?? 0) > BODY_LIMIT) return refuse({ http: 413, code: 413, msg: 'request entity too large' });
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= BODY_LIMIT) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > BODY_LIMIT) return send(res, { http: 413, code: 413, msg: 'request entity too large' });
      dispatch(req, res, route, Buffer.concat(chunks).toString('utf8'));
    });
  };

  const control = Router();
  control.use(express.json());
  control.get('/config', (_req, res) => {
    res.json(settings);
  });
  /** Changes some settings, keeps the others; answers with all of them. */
  control.post('/config', (req, res) => {
    const parsed = PayoutSandboxSettings.partial().strict().safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: issues(parsed.error) });
      return;
    }
    configure({ ...settings, ...parsed.data });
    res.json(settings);
  });
  /** Forgets every batch, payout, nonce and counter, and goes back to the default settings. */
  control.post('/reset', (_req, res) => {
    book.clear();
    verifier.forgetNonces();
    counters = zeroCounters();
    configure(DEFAULT_PAYOUT_SETTINGS);
    res.json(settings);
  });
  control.get('/executions', (req, res) => {
    const batchPayId = typeof req.query.batchPayId === 'string' ? req.query.batchPayId : undefined;
    res.json(book.executions(batchPayId));
  });
  control.get('/stats', (_req, res) => {
    res.json({ ...counters, ...behaviour.load() });
  });
  control.get('/batches/:batchPayId', (req, res) => {
    const batch = book.batch(req.params.batchPayId);
    if (batch) res.json(batch);
    else res.status(404).json({ error: 'batch not found' });
  });

  return { provider, control };
}

const issues = (error: z.ZodError) => error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
