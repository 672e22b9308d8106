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
import express, { Router, type NextFunction, type Request, type Response } from 'express';
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

export function createPayoutEmulator(credentials: { appId: string; token: string }): { provider: Router; control: Router } {
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

  function send(res: Response, reply: Reply): void {
    res.status(reply.http).json({ code: reply.code, msg: reply.msg, data: reply.data ?? null });
  }

  /**
   * The path every provider call takes: authenticate, take a place within the capacity, take the latency,
   * maybe fail transiently, do the work, and maybe lose the answer (pay only).
   */
  function serve(work: (body: unknown, req: Request) => Reply, losable = false) {
    return (req: Request, res: Response) => {
      counters.requests++;
      const raw = typeof req.body === 'string' ? req.body : '';
      const refusal = settings.credentialsRevoked
        ? 'credentials revoked'
        : verifier.refusal({
            appId: req.get('x-app-id'),
            timestamp: req.get('x-timestamp'),
            nonce: req.get('x-nonce'),
            signature: req.get('x-signature'),
            method: req.method,
            path: req.originalUrl,
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
          reply = work(raw ? JSON.parse(raw) : undefined, req);
        } catch (err) {
          reply = err instanceof SyntaxError ? badRequest('body is not JSON') : { http: 500, code: 500, msg: 'internal error' };
        }
        if (losable && reply.http === 200 && behaviour.losesResponse()) return loseResponse(res, reply);
        behaviour.leave();
        send(res, reply);
      }, behaviour.latency());
    };
  }

  function loseResponse(res: Response, reply: Reply): void {
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

  const provider = Router();
  // The signature covers the exact bytes sent, so the body is kept as text and parsed after verification.
  provider.use(express.text({ type: () => true, limit: '64kb' }));

  provider.post(
    '/batchPayBegin',
    serve((body) => {
      const parsed = BeginBody.safeParse(body);
      if (!parsed.success) return badRequest(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const decision = book.begin(parsed.data.batchPayId, parsed.data.total);
      if (decision.kind === 'conflict') return conflict('batchPayId was already begun with another total', decision.batch);
      return decision.kind === 'ok' ? ok(decision.batch) : refused(4004, 'batch not found');
    }),
  );

  provider.post(
    '/pay',
    serve((body) => {
      const parsed = PayBody.safeParse(body);
      if (!parsed.success) return badRequest(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const { amount, currency } = parsed.data;
      let canonical: string;
      try {
        canonical = formatAmount(parseAmount(amount, currency), currency);
      } catch (err) {
        return badRequest((err as Error).message);
      }
      return payReply(book.pay({ ...parsed.data, amount: canonical }, (uid) => refusedUids.has(uid)));
    }, true),
  );

  provider.post(
    '/batchPayFinish',
    serve((body) => {
      const parsed = FinishBody.safeParse(body);
      if (!parsed.success) return badRequest(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const { batchPayId, ...summary } = parsed.data;
      const decision = book.finish(batchPayId, summary);
      if (decision.kind === 'batch_not_found') return refused(4004, 'batch not found');
      if (decision.kind === 'conflict') return conflict('batch was already finished with another summary', decision.batch);
      return ok(decision.batch);
    }),
  );

  provider.get(
    '/payouts/:requestId',
    serve((_body, req) => {
      const record = book.payout(String(req.params.requestId));
      return record ? ok(record) : { http: 404, code: 404, msg: 'payout not found' };
    }),
  );

  provider.use((_req: Request, res: Response) => send(res, { http: 404, code: 404, msg: 'no such endpoint' }));
  // A body too large or in a broken encoding: answered in the envelope, like every other refusal.
  provider.use((err: { status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    const http = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    send(res, { http, code: http, msg: err.message ?? 'bad request' });
  });

  const control = Router();
  control.use(express.json());
  control.get('/config', (_req, res) => {
    res.json(settings);
  });
  /** Changes some settings, keeps the others; answers with all of them. */
  control.post('/config', (req, res) => {
    const parsed = PayoutSandboxSettings.partial().strict().safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(400).json({ error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
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
