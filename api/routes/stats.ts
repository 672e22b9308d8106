// GET /api/v1/stats/payments, /monitoring, /system, /websocket, /websocket/messages (seed 003, its field names): real
// figures from the read models, the chain (each network's head through this process's RPC client), Temporal, the process
// and its WebSocket server.
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { tsToDate } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { Router } from 'express';
import { z } from 'zod';
import { createChainClients, type ChainClients } from '../../activities/chain-clients';
import type { EndpointHealth } from '../../activities/providers/evm-client';
import { ROOT_DIR } from '../../config';
import { chainActivityCounts, checkoutCountsSince, checkoutFigures, recentRoutedTransfers } from '../../db/checkout';
import { getScanCursor } from '../../db/deposits';
import { listNetworks, listTokens, type Network } from '../../db/networks';
import { scannerWorkflowId } from '../../domain/chain';
import { CHECKOUT_PAID_STATUSES, CHECKOUT_STATUSES, type CheckoutStatus } from '../../domain/checkout';
import { ALERT_LEVELS, alertReport } from '../alerts';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { parseWith } from '../schemas';
import type { PaymentSockets } from '../ws';

/** A stats call must answer quickly: a node or service slower than this counts as down here. */
const PROBE_TIMEOUT_MS = 2000;
const PERIODS = { '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000 } as const;

const Counts = z.record(z.string(), z.number().int());

const PaymentStats = z
  .object({
    period: z.enum(['24h', '7d', '30d', 'all']),
    total_payments: z.number().int().meta({ description: 'Sessions created in the period.' }),
    successful_payments: z.number().int().meta({ description: 'paid, overpaid or paid_late.' }),
    failed_payments: z.number().int().meta({ description: 'expired, or underpaid past their expiry.' }),
    open_payments: z.number().int().meta({ description: 'Neither yet.' }),
    success_rate: z.number().meta({ description: 'successful / total, in percent (0 without payments).', example: 94.4 }),
    payments_by_status: Counts,
    payments_by_token: Counts,
    amounts_by_token: z.record(z.string(), z.object({ requested: z.string(), received: z.string() })).meta({ description: 'Token units: asked for, and received confirmed.' }),
    payments_by_period: z.object({ '24h': z.number().int(), '7d': z.number().int(), '30d': z.number().int() }).meta({ description: 'Sessions created in each window, whatever the period.' }),
    average_processing_time: z.number().nullable().meta({ description: 'Mean seconds from creation to paid, over the paid sessions.', example: 15.2 }),
    failure_reasons: z
      .object({
        expired: z.number().int().meta({ description: 'Nothing paid by the expiry.' }),
        underpaid: z.number().int().meta({ description: 'Short of the amount at the expiry.' }),
        amount_mismatch: z.number().int().meta({ description: 'Seed 003\'s name for underpaid at the expiry.' }),
        transaction_failed: z.number().int().meta({ description: 'Transfers to the sessions that left the chain in a reorg and did not come back.' }),
      })
      .meta({ description: 'A transfer to another address never reaches a session here (each session watches its own address), so there is no address_mismatch.' }),
  })
  .meta({ id: 'PaymentStats' });

const Endpoint = z.object({ url: z.string(), healthy: z.boolean(), downUntil: z.string().optional(), lastError: z.string().optional() });

const MonitoringStats = z
  .object({
    networks: z.array(
      z.object({
        network: z.string(),
        chainId: z.number().int(),
        connected: z.boolean(),
        head: z.number().int().nullable().meta({ description: 'The chain\'s latest block, as this API process reads it.' }),
        headBlockTime: z.string().nullable().meta({ description: 'The latest block\'s timestamp.' }),
        rpcLatencyMs: z.number().nullable(),
        error: z.string().nullable(),
        endpoints: z.array(Endpoint).meta({ description: 'RPC URLs (host only) and their health, in failover order.' }),
        scanners: z.array(
          z.object({
            token: z.string(),
            workflowId: z.string(),
            cursor: z.number().int().nullable().meta({ description: 'The last block scanned; null before the first scan.' }),
            lag: z.number().int().nullable().meta({ description: 'head − cursor: blocks not scanned yet.' }),
          }),
        ),
      }),
    ),
    blockchain_monitoring: z.object({
      average_latency: z.number().nullable().meta({ description: 'Mean RPC latency of the networks\' head reads, ms.' }),
      last_block_processed: z.number().int().nullable(),
      blocks_behind: z.number().int().nullable().meta({ description: 'The largest scanner lag.' }),
      events_detected: z.number().int().meta({ description: 'Transfer logs routed to deposits and checkout sessions.' }),
    }),
    websocket_connections: z
      .object({ active: z.number().int(), healthy: z.number().int(), degraded: z.number().int() })
      .meta({ description: 'The active networks\' RPC endpoints, and how many answer now (seed 003\'s chain connections: durapay polls JSON-RPC over HTTP).' }),
    validation_performance: z
      .object({
        average_validation_time: z.number().nullable().meta({ description: 'Mean seconds to answer POST /api/v1/payments/{id}/process (a tx hash verified on chain), in this process.' }),
        validation_success_rate: z.number().nullable().meta({ description: 'Percent of those that found the transaction paying the session.' }),
        validations: z.number().int(),
      })
      .meta({ description: 'Transactions handed in by hash and verified, since this API process started.' }),
    open_sessions: z.number().int().meta({ description: 'Checkout sessions whose address is watched.' }),
    temporal: z.object({ uiUrl: z.string(), namespace: z.string() }).meta({ description: 'Runs are at {uiUrl}/namespaces/{namespace}/workflows/{workflowId}.' }),
  })
  .meta({ id: 'MonitoringStats' });

const Health = z.enum(['healthy', 'unhealthy']);
const SystemStats = z
  .object({
    uptime: z.number().meta({ description: 'Seconds this API process has run.' }),
    cpu_usage: z.number().meta({ description: 'Percent of the machine\'s CPU time this process used since it started.' }),
    memory_usage: z.number().meta({ description: 'Percent of the machine\'s memory in use.' }),
    disk_usage: z.number().nullable().meta({ description: 'Percent of the disk holding the app in use.' }),
    load_average: z.array(z.number()).meta({ description: '1, 5 and 15 minutes.' }),
    process_memory: z.object({ rss: z.number().int(), heapUsed: z.number().int(), heapTotal: z.number().int() }).meta({ description: 'Bytes.' }),
    api_response_time: z.number().nullable().meta({ description: 'Mean ms over the requests this process answered.' }),
    error_rate: z.number().meta({ description: 'Percent of those answered with a 5xx.' }),
    database_health: Health,
    database_latency_ms: z.number().nullable(),
    temporal_health: Health,
    temporal_latency_ms: z.number().nullable(),
    blockchain_connection: z.enum(['connected', 'degraded', 'disconnected']).meta({ description: 'Whether every active network\'s RPC answered.' }),
    workers: z.object({
      taskQueue: z.string(),
      present: z.boolean().meta({ description: 'A worker polled the task queue recently.' }),
      pollers: z.array(z.object({ identity: z.string(), lastAccessTime: z.string().nullable() })),
    }),
  })
  .meta({ id: 'SystemStats' });

const WebSocketStats = z
  .object({
    frontend: z.object({
      totalConnections: z.number().int(),
      activeConnections: z.number().int(),
      reconnectAttempts: z.number().int().meta({ description: 'Connections to a payment this process had served a connection before.' }),
      subscribedPayments: z.number().int(),
      connectionErrors: z.number().int(),
      timedOut: z.number().int().meta({ description: 'Closed for not answering a ping.' }),
      messagesSent: z.object({ connection_ack: z.number().int(), payment_status_update: z.number().int(), error: z.number().int(), pong: z.number().int() }),
      messagesReceived: z.number().int(),
      lastConnectionTime: z.string().nullable(),
      lastDisconnectionTime: z.string().nullable(),
    }),
    blockchain: z.object({
      transport: z.literal('json-rpc over http').meta({ description: 'Blocks are polled over JSON-RPC, with failover: no node WebSocket to keep up.' }),
      isConnected: z.boolean(),
      activeSubscriptions: z.number().int().meta({ description: 'Tokens whose Transfer logs a scanner follows (one per active token of each active network).' }),
      currentEndpoints: z.record(z.string(), z.string().nullable()).meta({ description: 'Per network, the URL (host only) calls go to now.' }),
    }),
  })
  .meta({ id: 'WebSocketStats' });

const AlertCheck = z.object({
  name: z.string().meta({ example: 'wallet_gas:local:hot' }),
  level: z.enum(ALERT_LEVELS),
  value: z.union([z.string(), z.number()]).nullable(),
  warning: z.union([z.string(), z.number()]),
  critical: z.union([z.string(), z.number()]),
  message: z.string(),
});
const Alerts = z
  .object({
    status: z.enum(ALERT_LEVELS).meta({ description: 'The worst level of any check.' }),
    alerts: z.array(AlertCheck).meta({ description: 'The checks not ok, critical first.' }),
    checks: z.array(AlertCheck).meta({ description: 'Every check: pending_payouts, payout_failure_rate, memory_usage, cpu_usage, then each wallet\'s gas and tokens.' }),
  })
  .meta({ id: 'Alerts' });

const MESSAGE_SOURCES = ['frontend', 'blockchain'] as const;

const WebSocketMessages = z
  .object({
    messages: z.array(
      z.object({
        source: z.enum(MESSAGE_SOURCES).meta({ description: 'frontend: this API process\'s payment WebSocket; blockchain: a Transfer log a scanner routed.' }),
        type: z.string().meta({ description: 'frontend: connection_ack, payment_status_update, error, pong (out), ping or invalid (in); blockchain: transfer_event.' }),
        paymentId: z.string().optional(),
        direction: z.enum(['in', 'out']),
        data: z.unknown().meta({ description: 'frontend: what was sent (null for what came in); blockchain: the log (value in base units) and where it was routed.' }),
        timestamp: z.string(),
      }),
    ),
    count: z.number().int(),
  })
  .meta({ id: 'WebSocketMessages' });

const MessagesQuery = z.object({
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'must be an integer from 1 to 200')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 200, 'must be an integer from 1 to 200')
    .optional()
    .meta({ description: 'Messages, newest first, 1-200 (default 50).', example: '50' }),
  source: z.enum(MESSAGE_SOURCES).optional().meta({ description: 'Only the messages of this source.' }),
});

const PeriodQuery = z.object({ period: z.enum(['24h', '7d', '30d', 'all']).optional().meta({ description: 'The sessions counted: created in the last 24h, 7d, 30d, or all (default).' }) });

interface NetworkProbe {
  network: Network;
  head: { number: number; timestamp: number } | null;
  latencyMs: number | null;
  error: string | null;
  endpoints: EndpointHealth[];
}

const round = (value: number, places = 1): number => Math.round(value * 10 ** places) / 10 ** places;

async function timed(probe: () => Promise<unknown>): Promise<{ ok: boolean; ms: number | null }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([probe(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), PROBE_TIMEOUT_MS)))]);
    return { ok: true, ms: round(performance.now() - started) };
  } catch {
    return { ok: false, ms: null };
  } finally {
    clearTimeout(timer);
  }
}

/** Each active network's head, read now through this process's client (which keeps each URL's health). */
async function probeNetworks(ctx: RouteContext, chains: ChainClients): Promise<NetworkProbe[]> {
  return Promise.all(
    (await listNetworks(ctx.db)).map(async (network): Promise<NetworkProbe> => {
      const evm = await chains.forChain(network.chainId);
      const started = performance.now();
      try {
        const head = await evm.getBlock('latest');
        return { network, head, latencyMs: round(performance.now() - started), error: head ? null : 'the node has no latest block', endpoints: evm.endpoints() };
      } catch (err) {
        return { network, head: null, latencyMs: null, error: (err as Error).message, endpoints: evm.endpoints() };
      }
    }),
  );
}

async function paymentStats(ctx: RouteContext, period: keyof typeof PERIODS | 'all') {
  const now = Date.now();
  const since = period === 'all' ? undefined : new Date(now - PERIODS[period]);
  const windows = Object.fromEntries(Object.entries(PERIODS).map(([name, ms]) => [name, new Date(now - ms)]));
  const [figures, byPeriod] = await Promise.all([checkoutFigures(ctx.db, since), checkoutCountsSince(ctx.db, windows)]);
  const byStatus = Object.fromEntries(CHECKOUT_STATUSES.map((s) => [s, figures.byStatus[s] ?? 0])) as Record<CheckoutStatus, number>;
  const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
  const successful = CHECKOUT_PAID_STATUSES.reduce((n, s) => n + byStatus[s], 0);
  const failed = byStatus.expired + figures.shortAtExpiry;
  return {
    period,
    total_payments: total,
    successful_payments: successful,
    failed_payments: failed,
    open_payments: total - successful - failed,
    success_rate: total === 0 ? 0 : round((successful / total) * 100),
    payments_by_status: byStatus,
    payments_by_token: Object.fromEntries(Object.entries(figures.byToken).map(([symbol, t]) => [symbol, t.count])),
    amounts_by_token: Object.fromEntries(Object.entries(figures.byToken).map(([symbol, t]) => [symbol, { requested: t.requested, received: t.received }])),
    payments_by_period: byPeriod as { '24h': number; '7d': number; '30d': number },
    average_processing_time: figures.averageSecondsToPaid,
    failure_reasons: { expired: byStatus.expired, underpaid: figures.shortAtExpiry, amount_mismatch: figures.shortAtExpiry, transaction_failed: figures.reorgedTransfers },
  };
}

async function monitoringStats(ctx: RouteContext, chains: ChainClients) {
  const [probes, tokens, activity, validations] = await Promise.all([
    probeNetworks(ctx, chains),
    listTokens(ctx.db),
    chainActivityCounts(ctx.db),
    // A transaction looked at on chain: paying the session (2xx), or not (422); bad input and closed sessions are not.
    httpFigures(ctx, { method: 'POST', route: '/api/v1/payments/:id/process', statuses: (status) => (status >= 200 && status < 300) || status === 422 }),
  ]);
  const networks = await Promise.all(
    probes.map(async (probe) => ({
      network: probe.network.id,
      chainId: probe.network.chainId,
      connected: probe.head !== null,
      head: probe.head?.number ?? null,
      headBlockTime: probe.head ? new Date(probe.head.timestamp * 1000).toISOString() : null,
      rpcLatencyMs: probe.latencyMs,
      error: probe.error,
      endpoints: probe.endpoints,
      scanners: await Promise.all(
        tokens
          .filter((t) => t.networkId === probe.network.id)
          .map(async (token) => {
            const cursor = (await getScanCursor(ctx.db, token.networkId, token.symbol))?.lastBlock ?? null;
            const lag = probe.head && cursor !== null ? Math.max(0, probe.head.number - cursor) : null;
            return { token: token.symbol, workflowId: scannerWorkflowId(token.chainId, token.symbol), cursor, lag };
          }),
      ),
    })),
  );
  const scanners = networks.flatMap((n) => n.scanners);
  const latencies = probes.map((p) => p.latencyMs).filter((ms): ms is number => ms !== null);
  const cursors = scanners.map((s) => s.cursor).filter((c): c is number => c !== null);
  const lags = scanners.map((s) => s.lag).filter((l): l is number => l !== null);
  return {
    networks,
    blockchain_monitoring: {
      average_latency: latencies.length ? round(latencies.reduce((a, b) => a + b, 0) / latencies.length) : null,
      last_block_processed: cursors.length ? Math.max(...cursors) : null,
      blocks_behind: lags.length ? Math.max(...lags) : null,
      events_detected: activity.transfersDetected,
    },
    websocket_connections: {
      active: probes.reduce((n, p) => n + p.endpoints.length, 0),
      healthy: probes.reduce((n, p) => n + p.endpoints.filter((e) => e.healthy).length, 0),
      degraded: probes.reduce((n, p) => n + p.endpoints.filter((e) => !e.healthy).length, 0),
    },
    validation_performance: {
      average_validation_time: validations.meanMs === null ? null : round(validations.meanMs / 1000, 3),
      validation_success_rate: validations.count ? round((validations.ok / validations.count) * 100) : null,
      validations: validations.count,
    },
    open_sessions: activity.openSessions,
    temporal: { uiUrl: ctx.config.temporal.uiUrl, namespace: ctx.config.temporal.namespace },
  };
}

/**
 * Mean answer time and 5xx share of the requests this process answered (all of them, or those of one route with the
 * statuses kept), from its Prometheus histogram; `ok` counts the 2xx answers.
 */
async function httpFigures(
  ctx: RouteContext,
  only?: { method: string; route: string; statuses: (status: number) => boolean },
): Promise<{ meanMs: number | null; errorRate: number; count: number; ok: number }> {
  const metric = ctx.metrics.registry.getSingleMetric('durapay_http_request_duration_seconds');
  let sum = 0;
  let count = 0;
  let errors = 0;
  let ok = 0;
  for (const value of metric ? (await metric.get()).values : []) {
    if (only && (value.labels.method !== only.method || value.labels.route !== only.route || !only.statuses(Number(value.labels.status)))) continue;
    const name = (value as { metricName?: string }).metricName;
    if (name?.endsWith('_sum')) sum += value.value;
    if (name?.endsWith('_count')) {
      const status = Number(value.labels.status);
      count += value.value;
      if (status >= 500) errors += value.value;
      if (status >= 200 && status < 300) ok += value.value;
    }
  }
  return { meanMs: count ? round((sum / count) * 1000, 2) : null, errorRate: count ? round((errors / count) * 100, 2) : 0, count, ok };
}

async function systemStats(ctx: RouteContext, chains: ChainClients) {
  const { db, client, config } = ctx;
  const queue = () =>
    client.withDeadline(Date.now() + PROBE_TIMEOUT_MS, () =>
      client.workflowService.describeTaskQueue({
        namespace: config.temporal.namespace,
        taskQueue: { name: config.temporal.taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      }),
    );
  const [database, temporalCheck, pollers, probes, http, disk] = await Promise.all([
    timed(() => db.raw('SELECT 1')),
    timed(() => client.withDeadline(Date.now() + PROBE_TIMEOUT_MS, () => client.workflowService.getSystemInfo({}))),
    queue().then(
      (answer) => answer.pollers,
      () => [],
    ),
    probeNetworks(ctx, chains),
    httpFigures(ctx),
    statfs(ROOT_DIR).then(
      (fs) => round(((fs.blocks - fs.bavail) / fs.blocks) * 100),
      () => null,
    ),
  ]);
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  const connected = probes.filter((p) => p.head !== null).length;
  return {
    uptime: round(process.uptime()),
    cpu_usage: round(((cpu.user + cpu.system) / 1000 / (process.uptime() * 1000) / os.cpus().length) * 100),
    memory_usage: round(((os.totalmem() - os.freemem()) / os.totalmem()) * 100),
    disk_usage: disk,
    load_average: os.loadavg().map((l) => round(l, 2)),
    process_memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal },
    api_response_time: http.meanMs,
    error_rate: http.errorRate,
    database_health: database.ok ? ('healthy' as const) : ('unhealthy' as const),
    database_latency_ms: database.ms,
    temporal_health: temporalCheck.ok ? ('healthy' as const) : ('unhealthy' as const),
    temporal_latency_ms: temporalCheck.ms,
    blockchain_connection: connected === probes.length ? ('connected' as const) : connected > 0 ? ('degraded' as const) : ('disconnected' as const),
    workers: {
      taskQueue: config.temporal.taskQueue,
      present: pollers.length > 0,
      pollers: pollers.map((p) => ({ identity: p.identity ?? '', lastAccessTime: p.lastAccessTime ? tsToDate(p.lastAccessTime).toISOString() : null })),
    },
  };
}

async function webSocketStats(ctx: RouteContext, chains: ChainClients, sockets: PaymentSockets) {
  const [probes, tokens] = await Promise.all([probeNetworks(ctx, chains), listTokens(ctx.db)]);
  return {
    frontend: sockets.stats(),
    blockchain: {
      transport: 'json-rpc over http' as const,
      isConnected: probes.length > 0 && probes.every((p) => p.head !== null),
      activeSubscriptions: tokens.length,
      currentEndpoints: Object.fromEntries(probes.map((p) => [p.network.id, p.endpoints.find((e) => e.healthy)?.url ?? null])),
    },
  };
}

/**
 * The newest messages, newest first: the payment WebSocket's both ways (this process's, since it started) and the
 * Transfer logs the scanners routed (from the read model: the chain is polled over JSON-RPC, there is no node WebSocket).
 */
async function webSocketMessages(ctx: RouteContext, sockets: PaymentSockets, query: z.output<typeof MessagesQuery>) {
  const limit = query.limit ?? 50;
  const frontend = query.source === 'blockchain' ? [] : sockets.recentMessages(limit);
  const blockchain = query.source === 'frontend' ? [] : (await recentRoutedTransfers(ctx.db, limit)).map((t) => ({
    source: 'blockchain' as const,
    type: 'transfer_event',
    ...(t.routedTo.kind === 'checkout' && { paymentId: t.routedTo.id }),
    direction: 'in' as const,
    data: {
      network: t.networkId,
      token: t.token,
      from: t.from,
      to: t.to,
      value: t.value,
      amount: t.amount,
      transactionHash: t.txHash,
      blockNumber: t.blockNumber,
      logIndex: t.logIndex,
      routedTo: t.routedTo,
    },
    timestamp: t.seenAt,
  }));
  const messages = [...frontend, ...blockchain].sort((a, b) => b.timestamp.localeCompare(a.timestamp)).slice(0, limit);
  return { messages, count: messages.length };
}

export function statsRoutes(ctx: RouteContext, sockets: PaymentSockets): Router {
  const { registry, requireScope } = ctx;
  const router = Router();
  // This process's own clients: the health of each RPC URL they report is what this process has seen.
  const chains = createChainClients(ctx.db, { timeoutMs: PROBE_TIMEOUT_MS });

  const route = <T extends z.ZodType>(path: string, summary: string, schema: T, answer: (query: unknown) => Promise<z.input<T>>, query?: z.ZodObject) => {
    registry.registerPath({
      method: 'get',
      path,
      summary,
      security: SECURITY,
      ...(query && { request: { query } }),
      responses: { 200: { description: 'The figures, now.', content: { 'application/json': { schema } } }, ...errorResponses(400, 401, 403, 429, 503) },
    });
    router.get(path, requireScope('transfers:read'), async (req, res) => {
      res.set('Cache-Control', 'no-store').json(await answer(req.query));
    });
  };

  route('/api/v1/stats/payments', 'Checkout sessions: counts and sums by status and token, over time windows', PaymentStats, (query) => paymentStats(ctx, parseWith(PeriodQuery, query, 'query').period ?? 'all'), PeriodQuery);
  route('/api/v1/stats/monitoring', 'Chain monitoring: each network\'s head and RPC endpoints, each scanner\'s cursor and lag', MonitoringStats, () => monitoringStats(ctx, chains));
  route('/api/v1/stats/system', 'This API process, the database, Temporal, the workers and the chains', SystemStats, () => systemStats(ctx, chains));
  route('/api/v1/stats/websocket', 'The payment WebSocket of this API process, and how it reaches the chains', WebSocketStats, () => webSocketStats(ctx, chains, sockets));
  route('/api/v1/stats/alerts', 'Seed 002\'s alerts: payouts waiting and failing, memory, CPU, and each wallet\'s gas and tokens', Alerts, () => alertReport(ctx, chains));
  route('/api/v1/stats/websocket/messages', 'The newest WebSocket messages of this API process and Transfer logs the scanners routed', WebSocketMessages, (query) =>
    webSocketMessages(ctx, sockets, parseWith(MessagesQuery, query, 'query')), MessagesQuery);

  return router;
}
