// The HTTP client of the third-party payout API (see payout-api.ts for the contract, sandbox/payouts.ts for the protocol):
// signed requests, and every answer, or the lack of one, mapped to what the engine may do next.
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { urlToHttpOptions } from 'node:url';
import type { PayOutcome, PayoutApi, PayRequest } from './payout-api';

export interface PayoutApiClientOptions {
  /** Base URL, e.g. http://127.0.0.1:4000/thirdpart/onePass. */
  apiUrl: string;
  appId: string;
  token: string;
  timeoutMs: number;
}

export type PayoutApiErrorCode =
  /** The provider refused our credentials or signature (wrong token or app id, clock skew). */
  | 'unauthorized'
  /** The request id or batch was used before with other fields: a bug on our side. */
  | 'request_conflict'
  /** The provider found the request malformed. */
  | 'invalid_request'
  /** The provider refused a batch operation for good (a batch it does not know). */
  | 'refused'
  /** 429 or 5xx: nothing was done; send it again. */
  | 'unavailable'
  /** No answer: a timeout or a cut connection. begin and finish are idempotent, so sending again is safe. */
  | 'no_answer'
  /** An answer this client does not understand. */
  | 'unexpected_response';

/** A call that did not come to a payout outcome. `retryable` says whether sending it again can help. */
export class PayoutApiError extends Error {
  constructor(
    readonly code: PayoutApiErrorCode,
    message: string,
    readonly retryable: boolean,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'PayoutApiError';
  }
}

/** hex HMAC-SHA256(token, `${appId}\n${timestamp}\n${nonce}\n${method}\n${path}\n${body}`); path is the request target (path and query). */
export function signPayoutRequest(
  token: string,
  request: { appId: string; timestamp: string; nonce: string; method: string; path: string; body: string },
): string {
  const { appId, timestamp, nonce, method, path, body } = request;
  return createHmac('sha256', token).update(`${appId}\n${timestamp}\n${nonce}\n${method}\n${path}\n${body}`).digest('hex');
}

interface Envelope {
  code: number;
  msg: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
}

type Answer =
  | { kind: 'answered'; http: number; envelope: Envelope | undefined }
  /** The request may have reached the provider, and been executed. */
  | { kind: 'no_answer'; reason: string }
  /** The request certainly never reached the provider (connection refused, unknown host). */
  | { kind: 'unreachable'; reason: string };

/** Idle kept-alive connections are closed after this, before a provider's usual 5 s keep-alive ends on its side. */
const IDLE_SOCKET_MS = 4_000;

/** Connection errors that happen before a single byte is sent. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Business refusals of one payout are 4-digit codes 4001–4999 (4001 account invalid, 4004 batch not found, 4005 batch finished…). */
const isRefusal = (code: number) => code >= 4001 && code <= 4999;

export function createPayoutApiClient(options: PayoutApiClientOptions): PayoutApi {
  const base = new URL(options.apiUrl.replace(/\/+$/, ''));
  const { appId, token, timeoutMs } = options;
  // node:http rather than fetch: measured at about a fifth of fetch's CPU per call, which counts at a thousand payouts a second.
  const transport = base.protocol === 'https:' ? https : http;
  const agent = new transport.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS });
  const { protocol, hostname, port, auth } = urlToHttpOptions(base);
  /** The request target of a route, as sent and signed. */
  const targetOf = (route: string) => {
    const url = new URL(base.pathname + route, base);
    return url.pathname + url.search;
  };
  // Worked out once: a payout is the call made a thousand times a second.
  const payTarget = targetOf('/pay');

  /** One signed request over a kept-alive connection; the timeout covers the whole exchange, answer body included. */
  function call(method: 'GET' | 'POST', path: string, payload?: unknown): Promise<Answer> {
    const body = payload === undefined ? '' : JSON.stringify(payload);
    const timestamp = String(Date.now());
    // 122 random bits, from a pool the crypto module refills in bulk (randomBytes asks the OS each time).
    const nonce = randomUUID();
    const headers: Record<string, string | number> = {
      'x-app-id': appId,
      'x-timestamp': timestamp,
      'x-nonce': nonce,
      'x-signature': signPayoutRequest(token, { appId, timestamp, nonce, method, path, body }),
    };
    if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const what = `${method} ${path}`;

    return new Promise<Answer>((resolve) => {
      let settled = false;
      const settle = (answer: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(answer);
      };
      const lost = (err: NodeJS.ErrnoException) =>
        settle(
          err.code && NOT_SENT.has(err.code)
            ? { kind: 'unreachable', reason: `${what}: ${err.code}` }
            : { kind: 'no_answer', reason: `${what}: connection lost (${err.code ?? err.message})` },
        );
      const req = transport.request({ protocol, hostname, port, auth, path, method, headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => settle({ kind: 'answered', http: res.statusCode ?? 0, envelope: parseEnvelope(Buffer.concat(chunks).toString('utf8')) }));
        res.on('error', lost);
        res.on('close', () => settle({ kind: 'no_answer', reason: `${what}: connection lost while reading the answer` }));
      });
      const timer = setTimeout(() => {
        settle({ kind: 'no_answer', reason: `${what}: no answer within ${timeoutMs} ms` });
        req.destroy();
      }, timeoutMs);
      req.on('error', lost);
      req.end(body || undefined);
    });
  }

  /** The outcome of an answer to pay or to a payout query: paid, rejected, retry or unknown; anything else throws. */
  function payoutOutcome(answer: Answer, what: string): PayOutcome | undefined {
    if (answer.kind === 'unreachable') return { status: 'retry', reason: answer.reason, rateLimited: false };
    if (answer.kind === 'no_answer') return { status: 'unknown', reason: answer.reason };
    const { http, envelope } = answer;
    const code = envelope?.code ?? http;
    if (http === 429 || code === 429) return { status: 'retry', reason: `${what}: 429 ${envelope?.msg ?? 'too many requests'}`, rateLimited: true };
    if (http >= 500) return { status: 'retry', reason: `${what}: ${http} ${envelope?.msg ?? ''}`.trim(), rateLimited: false };
    if (http >= 200 && http < 300 && code === 200) {
      const record = envelope?.data;
      if (record?.status === 'paid' && typeof record.providerRef === 'string') return { status: 'paid', providerRef: record.providerRef };
      if (record?.status === 'rejected') return { status: 'rejected', reason: `${record.reason} (${record.code})` };
      // A success we cannot read may still be a payout made: only a query can tell.
      return { status: 'unknown', reason: `${what}: unreadable success answer` };
    }
    if (isRefusal(code)) return { status: 'rejected', reason: `${envelope?.msg ?? 'refused'} (${code})` };
    return undefined;
  }

  async function batchCall(route: string, payload: unknown): Promise<void> {
    const answer = await call('POST', targetOf(route), payload);
    if (answer.kind !== 'answered') throw new PayoutApiError(answer.kind === 'no_answer' ? 'no_answer' : 'unavailable', answer.reason, true);
    const { http, envelope } = answer;
    const code = envelope?.code ?? http;
    if (http >= 200 && http < 300 && code === 200) return;
    if (http === 429 || http >= 500) throw new PayoutApiError('unavailable', `${route}: ${http} ${envelope?.msg ?? ''}`.trim(), true, http);
    if (isRefusal(code)) throw new PayoutApiError('refused', `${route}: ${envelope?.msg} (${code})`, false, http);
    throw failure(route, http, envelope);
  }

  return {
    async batchPayBegin(batchPayId, total) {
      await batchCall('/batchPayBegin', { batchPayId, total });
    },

    async pay(request: PayRequest) {
      const { batchPayId, requestId, uid, amount, currency } = request;
      const answer = await call('POST', payTarget, { batchPayId, requestId, uid, amount, currency });
      const outcome = payoutOutcome(answer, `pay ${requestId}`);
      if (outcome) return outcome;
      const { http, envelope } = answer as Extract<Answer, { kind: 'answered' }>;
      throw failure(`pay ${requestId}`, http, envelope);
    },

    async queryPayout(requestId) {
      const answer = await call('GET', targetOf(`/payouts/${encodeURIComponent(requestId)}`));
      if (answer.kind === 'answered' && answer.http === 404) return { status: 'not_found' };
      const outcome = payoutOutcome(answer, `query ${requestId}`);
      if (outcome) return outcome;
      const { http, envelope } = answer as Extract<Answer, { kind: 'answered' }>;
      throw failure(`query ${requestId}`, http, envelope);
    },

    async batchPayFinish(batchPayId, summary) {
      await batchCall('/batchPayFinish', { batchPayId, ...summary });
    },
  };
}

/** The error for an answer that is neither a result nor a reason to retry. */
function failure(what: string, http: number, envelope: Envelope | undefined): PayoutApiError {
  const message = `${what}: ${http} ${envelope?.msg ?? 'unexpected answer'}`;
  if (http === 401) return new PayoutApiError('unauthorized', message, false, http);
  if (http === 409) return new PayoutApiError('request_conflict', message, false, http);
  if (http === 400) return new PayoutApiError('invalid_request', message, false, http);
  return new PayoutApiError('unexpected_response', message, true, http);
}

function parseEnvelope(text: string): Envelope | undefined {
  try {
    const value = JSON.parse(text);
    return value && typeof value === 'object' && typeof value.code === 'number' ? (value as Envelope) : undefined;
  } catch {
    return undefined;
  }
}
