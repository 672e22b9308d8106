// Prometheus metrics: process defaults, HTTP requests by route template, workflows started by type, and (read from the
// database at each scrape) seed 002's chain figures: payouts and deposits by status, each scanner's last block.
import type { Request, RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/knex';

export type Metrics = ReturnType<typeof createMetrics>;

/** The route template, never the raw URL, so ids in paths do not explode the label's cardinality. */
function routeOf(req: Request): string {
  if (req.route) return `${req.baseUrl}${String(req.route.path)}`;
  return req.baseUrl || 'unmatched';
}

/** One registry per app, so several apps in one process (the tests) do not collide. */
export function createMetrics(db?: Db) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  if (db) registerChainGauges(registry, db);

  const requests = new Counter({
    name: 'durapay_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'durapay_http_request_duration_seconds',
    help: 'Time to answer HTTP requests, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  const workflowsStarted = new Counter({
    name: 'durapay_workflows_started_total',
    help: 'Workflow starts accepted by Temporal, by workflow type (a start that joins the running workflow of the same ID counts too).',
    labelNames: ['type'] as const,
    registers: [registry],
  });

  const middleware: RequestHandler = (req, res, next) => {
    const stop = duration.startTimer();
    res.once('finish', () => {
      const labels = { method: req.method, route: routeOf(req), status: String(res.statusCode) };
      requests.inc(labels);
      stop(labels);
    });
    next();
  };

  const handler: RequestHandler = async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  };

  return { registry, middleware, handler, workflowsStarted };
}

/** Gauges set from grouped counts at each scrape; a database that does not answer leaves them as they were. */
function registerChainGauges(registry: Registry, db: Db): void {
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], read: () => Promise<{ labels: Record<L, string>; value: number }[]>) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        let rows;
        try {
          rows = await read();
        } catch {
          return;
        }
        this.reset();
        for (const row of rows) this.set(row.labels, row.value);
      },
    });
  gauge('durapay_payouts', 'Withdrawals and merchant payments by kind and status (held: waiting for the chain).', ['kind', 'status'] as const, async () =>
    ((await db('withdrawals').groupBy('kind', 'status').select('kind', 'status', db.raw('COUNT(*) AS n'))) as { kind: string; status: string; n: string }[]).map((r) => ({
      labels: { kind: r.kind, status: r.status },
      value: Number(r.n),
    })),
  );
  gauge('durapay_deposits', 'Deposits by status (pending: waiting for their confirmations).', ['status'] as const, async () =>
    ((await db('deposits').groupBy('status').select('status', db.raw('COUNT(*) AS n'))) as { status: string; n: string }[]).map((r) => ({ labels: { status: r.status }, value: Number(r.n) })),
  );
  gauge('durapay_scanner_last_block', 'The last block each chain scanner has read.', ['network', 'token'] as const, async () =>
    ((await db('chain_scan_cursors').select('network_id', 'token_symbol', 'last_block')) as { network_id: string; token_symbol: string; last_block: string }[]).map((r) => ({
      labels: { network: r.network_id, token: r.token_symbol },
      value: Number(r.last_block),
    })),
  );
}
