// A receiver of durapay's webhooks for tests: records every delivery, checks its Durapay-Signature, and can answer 500 to
// the next N (to make the worker retry). useWebhookReceiver() points the worker's M2Pool webhook URLs at one.
//
//   let receiver: WebhookReceiver;
//   useWebhookReceiver((r) => (receiver = r), { retryForMs: 5_000 });   // before useWorkerAndApp / startTestWorker
//   useWorkerAndApp((a) => (app = a));
//   …
//   const [delivery] = await receiver.waitForDeliveries(1, (d) => d.notificationId === id && d.answered === 200);
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse } from 'lossless-json';
import { loadConfig } from '../../config';
import { verifyWebhookSignature } from '../../domain/m2pool';
import { waitFor } from './processes';

export interface Delivery {
  /** Durapay-Notification-Id. */
  notificationId: string;
  /** The last path segment: topup, withdraw or pay under useWebhookReceiver. */
  channel: string;
  /** The raw body, as signed. */
  body: string;
  /** The body parsed with numbers kept as written: `json.amount.toString()` is the literal ("100.5"). */
  json: Record<string, unknown>;
  signature: string | undefined;
  signatureValid: boolean;
  /** What the receiver answered: 200, or 500 while failNext lasted. */
  answered: number;
  receivedAt: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every request received, in order, whatever was answered. */
  deliveries(): Delivery[];
  /** Resolves once `count` deliveries match `filter` (answered 200 by default), or fails after `timeoutMs`. */
  waitForDeliveries(count: number, filter?: (d: Delivery) => boolean, timeoutMs?: number): Promise<Delivery[]>;
  /** Answers 500 to the next `n` requests (they are recorded all the same). */
  failNext(n: number): void;
  close(): Promise<void>;
}

/** Starts a receiver on a free port; it verifies signatures with the webhook secret of the test stack's config unless given one. */
export async function startWebhookReceiver(secret = loadConfig().m2pool.webhooks.secret): Promise<WebhookReceiver> {
  const received: Delivery[] = [];
  let failures = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const answered = failures > 0 ? 500 : 200;
      if (failures > 0) failures--;
      const signature = req.headers['durapay-signature'] as string | undefined;
      let json: Record<string, unknown> = {};
      try {
        json = parse(body) as Record<string, unknown>;
      } catch {
        // recorded as received; the test sees an empty json
      }
      received.push({
        notificationId: String(req.headers['durapay-notification-id'] ?? ''),
        channel: (req.url ?? '').split('/').filter(Boolean).pop() ?? '',
        body,
        json,
        signature,
        signatureValid: verifyWebhookSignature(signature, body, secret, Date.now()),
        answered,
        receivedAt: Date.now(),
      });
      res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered === 200 ? 'ok' : 'receiver failing on purpose');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    deliveries: () => [...received],
    async waitForDeliveries(count, filter = (d) => d.answered === 200, timeoutMs = 30_000) {
      return waitFor(`${count} webhook deliveries at ${url}`, async () => {
        const matching = received.filter(filter);
        return matching.length >= count ? matching : undefined;
      }, timeoutMs, 50);
    },
    failNext(n) {
      failures = n;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface WebhookRetryOptions {
  /** M2POOL_WEBHOOK_RETRY_FOR_MS: how long a notification is retried before it is failed (default here 60 s). */
  retryForMs?: number;
  /** M2POOL_WEBHOOK_RETRY_INITIAL_MS / _MAX_MS: the backoff (default here 100 ms doubling to 1 s). */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/**
 * Jest hooks: starts a receiver and points the M2Pool webhook URLs (`<url>/topup`, `/withdraw`, `/pay`) and a short retry
 * schedule at it through the environment, which the worker reads when it starts: call this before useWorkerAndApp,
 * useWorkerAndClient or startTestWorker. The environment is put back after the file.
 */
export function useWebhookReceiver(ready: (receiver: WebhookReceiver) => void, options: WebhookRetryOptions = {}): void {
  let receiver: WebhookReceiver | undefined;
  const saved: Record<string, string | undefined> = {};
  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    const env: Record<string, string> = {
      M2POOL_TOPUP_WEBHOOK_URL: `${receiver.url}/topup`,
      M2POOL_WITHDRAW_WEBHOOK_URL: `${receiver.url}/withdraw`,
      M2POOL_PAY_WEBHOOK_URL: `${receiver.url}/pay`,
      M2POOL_WEBHOOK_RETRY_FOR_MS: String(options.retryForMs ?? 60_000),
      M2POOL_WEBHOOK_RETRY_INITIAL_MS: String(options.retryInitialMs ?? 100),
      M2POOL_WEBHOOK_RETRY_MAX_MS: String(options.retryMaxMs ?? 1_000),
    };
    for (const [name, value] of Object.entries(env)) {
      saved[name] = process.env[name];
      process.env[name] = value;
    }
    ready(receiver);
  });
  afterAll(async () => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await receiver?.close();
  });
}
