// Checkout sessions in tests: the app's checkout settings for quick tests, sessions made through the API, waits on their
// status, a WebSocket client that keeps every message it receives, and the ledger credits of a session.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { Config } from '../../config';
import type { Db } from '../../db/knex';
import type { CheckoutStatus } from '../../domain/checkout';
import { checkoutWorkflowId } from '../../domain/checkout';
import type { TestApp } from './app';
import type { TestChain } from './chain';
import { waitFor } from './processes';

/** A look at the chain every 200 ms while a transfer waits; changes pushed within 100 ms; addresses watched 8 s past expiry. */
export const FAST_CHECKOUT: Partial<Config['checkout']> = { checkIntervalMs: 200, pushPollMs: 100, lateWindowMs: 8_000 };

export interface PaymentRequest {
  /** Or a productId. */
  amount?: string;
  productId?: string;
  token?: string;
  network?: string;
  productName?: string;
  description?: string;
  expiresInSeconds?: number;
}

// The API's payment, as the tests read it.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Payment = any;

/** A session made through the API (USDT on the local chain unless told), with a fresh Idempotency-Key; fails unless 201. */
export async function givenPayment(app: TestApp, request: PaymentRequest): Promise<Payment> {
  const res = await app.api('/api/v1/payments', {
    key: null,
    headers: { 'idempotency-key': `test-${randomUUID()}` },
    body: { token: 'USDT', network: 'local', ...request },
  });
  if (res.status !== 201) throw new Error(`POST /api/v1/payments answered ${res.status}: ${res.text}`);
  return res.body;
}

/** Waits until GET /api/v1/payments/:id shows one of `statuses`; `chain` mines a block at every look (a chain that waits for blocks). */
export async function paymentReaches(app: TestApp, id: string, statuses: CheckoutStatus[], options: { chain?: TestChain; timeoutMs?: number } = {}): Promise<Payment> {
  let last: Payment;
  try {
    return await waitFor(
      `payment ${id} to be ${statuses.join(' or ')}`,
      async () => {
        last = (await app.api(`/api/v1/payments/${id}`, { key: null })).body;
        if (statuses.includes(last?.status)) return last;
        await options.chain?.mine(1);
        return undefined;
      },
      options.timeoutMs ?? 60_000,
      100,
    );
  } catch (err) {
    (err as Error).message += `; it is ${JSON.stringify(last)}`;
    throw err;
  }
}

/** Ledger transfers made by a session's workflow (their reference): one per confirmed transfer. */
export async function creditsOfPayment(db: Db, id: string): Promise<{ id: string; amount: string; currency: string; state: string; credit: string }[]> {
  return db('transfers as t')
    .join('accounts as c', 'c.id', 't.credit_account_id')
    .where({ 't.reference': checkoutWorkflowId(id) })
    .orderBy('t.created_at')
    .select('t.id', 't.amount', 't.currency', 't.state', 'c.code as credit');
}

export interface PaymentMessage {
  type: string;
  paymentId: string;
  /** On connection_ack: this connection's own id. */
  sessionId?: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  data: any;
  timestamp: string;
}

export interface PaymentSocketClient {
  /** Every message received so far, in order. */
  messages: PaymentMessage[];
  /** Resolves with the first message (already received or to come) that matches. */
  next(matches: (m: PaymentMessage) => boolean, timeoutMs?: number): Promise<PaymentMessage>;
  send(message: unknown): void;
  /** The close code and reason, once the server closed it. */
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** A WebSocket client of /ws/payments/{id}, open. */
export async function connectPaymentSocket(app: TestApp, id: string): Promise<PaymentSocketClient> {
  const socket = new WebSocket(`${app.baseUrl.replace(/^http/, 'ws')}/ws/payments/${encodeURIComponent(id)}`);
  const messages: PaymentMessage[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (data) => {
    messages.push(JSON.parse(data.toString()) as PaymentMessage);
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => socket.once('open', resolve).once('error', reject));
  return {
    messages,
    async next(matches, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = messages.find(matches);
        if (found) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching WebSocket message within ${timeoutMs} ms; received: ${JSON.stringify(messages.map((m) => [m.type, m.data?.status]))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    send: (message) => socket.send(JSON.stringify(message)),
    closed,
    close: () => socket.close(),
  };
}

/** The statuses a client was told, in order, without repeats. */
export const statusesSeen = (client: PaymentSocketClient): string[] =>
  client.messages.filter((m) => m.type === 'connection_ack' || m.type === 'payment_status_update').map((m) => m.data.status).filter((s, i, all) => i === 0 || s !== all[i - 1]);
