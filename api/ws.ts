// The WebSocket at /ws/payments/{id} (seed 003): `connection_ack` with the payment on connect, `payment_status_update` on
// every change, `error` for an unknown payment, `pong` to a client's `ping`. Workflows cannot call the API: they write
// each change to the read model with a version bump, and this server reads the versions of the payments its clients
// follow every CHECKOUT_PUSH_POLL_MS (one query for all of them), sending the payment to every client behind its version.
// Any number of API processes can serve the same payment this way. Dead connections are found by protocol pings. The
// newest messages each way are kept for GET /api/v1/stats/websocket/messages.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type pino from 'pino';
import { WebSocket, WebSocketServer } from 'ws';
import { checkoutVersions, getCheckoutSession } from '../db/checkout';
import type { Db } from '../db/knex';
import { SlidingWindowLimiter } from '../domain/sliding-window';
import { isPaymentId, paymentView } from './checkout';

const PATH = /^\/ws\/payments\/([^/]*)\/?$/;
/** What a client may send is a `ping`: a few bytes. */
const MAX_MESSAGE_BYTES = 4096;
/** Messages kept for the message log, both ways together; older ones are dropped. */
const MESSAGE_LOG_SIZE = 500;
/** What one connection may send a second (pings): a client over it is told so and cut off. */
const MAX_MESSAGES_PER_SECOND = 10;
/** Payments remembered as followed before, to count reconnections; the oldest are forgotten first. */
const REMEMBERED_PAYMENTS = 10_000;

export type PaymentMessageType = 'connection_ack' | 'payment_status_update' | 'error' | 'pong';

export interface PaymentSocketSettings {
  pushPollMs: number;
  keepaliveMs: number;
  maxConnections: number;
}

/** GET /api/v1/stats/websocket's `frontend` (seed 003's names). */
export interface PaymentSocketStats {
  totalConnections: number;
  activeConnections: number;
  /** Connections to a payment this process had served a connection before (a client coming back). */
  reconnectAttempts: number;
  /** Payments followed by at least one open connection. */
  subscribedPayments: number;
  /** Upgrades refused (no such route, too many connections) and sockets that failed. */
  connectionErrors: number;
  /** Connections closed for not answering a ping. */
  timedOut: number;
  messagesSent: Record<PaymentMessageType, number>;
  messagesReceived: number;
  lastConnectionTime: string | null;
  lastDisconnectionTime: string | null;
}

/** A message of the log (seed 003's shape): what this server sent, or what a client sent it (`ping`, `pong` or `invalid`). */
export interface LoggedSocketMessage {
  source: 'frontend';
  type: PaymentMessageType | 'ping' | 'pong' | 'invalid';
  paymentId: string;
  direction: 'in' | 'out';
  data: unknown;
  timestamp: string;
}

export interface PaymentSockets {
  /** Serves the WebSocket route on the app's HTTP server (other upgrade requests are refused). */
  attach(server: http.Server): void;
  stats(): PaymentSocketStats;
  /** The `limit` newest messages, newest first. */
  recentMessages(limit: number): LoggedSocketMessage[];
  /** Closes every connection (1001, going away) and stops the timers. */
  close(): Promise<void>;
}

interface Subscriber {
  socket: WebSocket;
  paymentId: string;
  /** The version of the payment this client last received. */
  version: number;
  alive: boolean;
}

export function createPaymentSockets(deps: { db: Db; logger: pino.Logger; settings: PaymentSocketSettings }): PaymentSockets {
  const { db, settings } = deps;
  const logger = deps.logger.child({ component: 'ws' });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const following = new Map<string, Set<Subscriber>>();
  const counters: PaymentSocketStats = {
    totalConnections: 0,
    activeConnections: 0,
    reconnectAttempts: 0,
    subscribedPayments: 0,
    connectionErrors: 0,
    timedOut: 0,
    messagesSent: { connection_ack: 0, payment_status_update: 0, error: 0, pong: 0 },
    messagesReceived: 0,
    lastConnectionTime: null,
    lastDisconnectionTime: null,
  };
  const messageLog: LoggedSocketMessage[] = [];
  const servedBefore = new Set<string>();
  let timers: NodeJS.Timeout[] = [];
  let polling = false;

  function logMessage(message: LoggedSocketMessage): void {
    messageLog.push(message);
    if (messageLog.length > MESSAGE_LOG_SIZE) messageLog.splice(0, messageLog.length - MESSAGE_LOG_SIZE);
  }

  function send(socket: WebSocket, type: PaymentMessageType, paymentId: string, data: unknown, extra: { sessionId?: string } = {}): void {
    if (socket.readyState !== WebSocket.OPEN) return;
    const message = { type, paymentId, ...extra, data, timestamp: new Date().toISOString() };
    socket.send(JSON.stringify(message));
    counters.messagesSent[type]++;
    logMessage({ source: 'frontend', direction: 'out', ...message });
  }

  /** Sends each payment that moved to the clients behind its version. */
  async function push(): Promise<void> {
    if (polling || following.size === 0) return;
    polling = true;
    try {
      const versions = await checkoutVersions(db, [...following.keys()]);
      for (const [id, version] of versions) {
        if (![...(following.get(id) ?? [])].some((s) => s.version < version)) continue;
        const record = await getCheckoutSession(db, id);
        if (!record) continue;
        const view = paymentView(record);
        for (const subscriber of following.get(id) ?? []) {
          if (subscriber.version >= record.version) continue;
          subscriber.version = record.version;
          send(subscriber.socket, 'payment_status_update', id, view);
        }
      }
    } catch (err) {
      logger.warn({ err }, 'reading the followed payments failed; trying again at the next poll');
    } finally {
      polling = false;
    }
  }

  /** A client that did not answer the last ping is gone; the others are pinged again. */
  function keepAlive(): void {
    for (const subscribers of following.values()) {
      for (const subscriber of subscribers) {
        if (!subscriber.alive) {
          counters.timedOut++;
          subscriber.socket.terminate();
          continue;
        }
        subscriber.alive = false;
        subscriber.socket.ping();
      }
    }
  }

  function startTimers(): void {
    if (timers.length) return;
    timers = [setInterval(() => void push(), settings.pushPollMs), setInterval(keepAlive, settings.keepaliveMs)];
    for (const timer of timers) timer.unref();
  }

  function follow(subscriber: Subscriber): void {
    const subscribers = following.get(subscriber.paymentId) ?? new Set();
    subscribers.add(subscriber);
    following.set(subscriber.paymentId, subscribers);
    counters.subscribedPayments = following.size;
  }

  function unfollow(subscriber: Subscriber): void {
    const subscribers = following.get(subscriber.paymentId);
    subscribers?.delete(subscriber);
    if (subscribers?.size === 0) following.delete(subscriber.paymentId);
    counters.subscribedPayments = following.size;
  }

  async function connected(socket: WebSocket, paymentId: string): Promise<void> {
    counters.totalConnections++;
    counters.activeConnections++;
    if (servedBefore.has(paymentId)) counters.reconnectAttempts++;
    else {
      servedBefore.add(paymentId);
      if (servedBefore.size > REMEMBERED_PAYMENTS) servedBefore.delete(servedBefore.values().next().value!);
    }
    counters.lastConnectionTime = new Date().toISOString();
    const subscriber: Subscriber = { socket, paymentId, version: -1, alive: true };
    // Seed 003's session ID: this connection's, told in its connection_ack.
    const sessionId = randomUUID();
    const limiter = new SlidingWindowLimiter(MAX_MESSAGES_PER_SECOND);
    socket.on('pong', () => {
      subscriber.alive = true;
    });
    socket.on('error', () => {
      counters.connectionErrors++;
    });
    socket.on('close', () => {
      counters.activeConnections--;
      counters.lastDisconnectionTime = new Date().toISOString();
      unfollow(subscriber);
    });
    socket.on('message', (data, isBinary) => {
      counters.messagesReceived++;
      if (socket.readyState !== WebSocket.OPEN) return;
      let message: { type?: unknown } | undefined;
      try {
        message = isBinary ? undefined : (JSON.parse(data.toString()) as { type?: unknown });
      } catch {
        message = undefined;
      }
      const type = message?.type === 'ping' || message?.type === 'pong' ? message.type : 'invalid';
      logMessage({ source: 'frontend', type, paymentId, direction: 'in', data: null, timestamp: new Date().toISOString() });
      if (!limiter.allow('connection', Date.now())) {
        send(socket, 'error', paymentId, { code: 'rate_limited', message: `more than ${MAX_MESSAGES_PER_SECOND} messages a second: the connection is closed` });
        socket.close(1008, 'too many messages');
        return;
      }
      if (type === 'ping') send(socket, 'pong', paymentId, null);
      // A client's pong (its answer to a heartbeat) needs none.
      else if (type === 'invalid') send(socket, 'error', paymentId, { code: 'invalid_request', message: 'a client sends {"type":"ping"} or {"type":"pong"}' });
    });

    let record;
    try {
      record = isPaymentId(paymentId) ? await getCheckoutSession(db, paymentId) : undefined;
    } catch (err) {
      logger.error({ err, paymentId }, 'reading a payment for a new WebSocket failed');
      send(socket, 'error', paymentId, { code: 'internal_error', message: 'the payment could not be read; poll GET /api/v1/payments/{id}' });
      socket.close(1011, 'internal error');
      return;
    }
    if (!record) {
      send(socket, 'error', paymentId, { code: 'not_found', message: `no payment ${paymentId}` });
      socket.close(4404, 'unknown payment');
      return;
    }
    if (socket.readyState !== WebSocket.OPEN) return;
    subscriber.version = record.version;
    follow(subscriber);
    startTimers();
    send(socket, 'connection_ack', paymentId, paymentView(record), { sessionId });
  }

  function refuse(socket: Duplex, status: string): void {
    counters.connectionErrors++;
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }

  return {
    attach(server) {
      server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        const match = PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
        if (!match) return refuse(socket, '404 Not Found');
        if (counters.activeConnections >= settings.maxConnections) return refuse(socket, '503 Service Unavailable');
        let paymentId: string;
        try {
          paymentId = decodeURIComponent(match[1]);
        } catch {
          paymentId = match[1];
        }
        wss.handleUpgrade(req, socket, head, (ws) => void connected(ws, paymentId));
      });
    },

    stats: () => ({ ...counters, messagesSent: { ...counters.messagesSent } }),

    recentMessages: (limit) => messageLog.slice(-limit).reverse(),

    async close() {
      for (const timer of timers) clearInterval(timer);
      timers = [];
      const clients = [...wss.clients];
      for (const client of clients) client.close(1001, 'server shutting down');
      // A client that does not finish the closing handshake within a second is cut off.
      const closed = Promise.all(clients.map((client) => (client.readyState === WebSocket.CLOSED ? undefined : new Promise((resolve) => client.once('close', resolve)))));
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
