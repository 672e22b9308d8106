// The Express app: middleware in order (CORS, compression, request id, metrics, logs, limits), the routers, the error
// envelopes. A request's body is read only once its sender is known: after the key check (requireScope), or up front for
// the few public routes.
import { randomUUID } from 'node:crypto';
import type http from 'node:http';
import type { Client } from '@temporalio/client';
import compression from 'compression';
import cors from 'cors';
import express, { Router, type RequestHandler } from 'express';
import type pino from 'pino';
import { pinoHttp } from 'pino-http';
import { createGatewayRegistry, type GatewayRegistry } from '../activities/providers/gateways';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { createAuth, type RequireScope } from './auth';
import { apiErrorHandler, notFound } from './errors';
import { jsonBody } from './json-body';
import { concurrencyLimit, rateLimitPerIp } from './limits';
import { createMetrics, type Metrics } from './metrics';
import { createOpenApiRegistry, type OpenAPIRegistry } from './openapi';
import { balanceRoutes } from './routes/balances';
import { callbackRoutes } from './routes/callbacks';
import { categoryRoutes } from './routes/categories';
import { depositRoutes } from './routes/deposits';
import { donationRoutes } from './routes/donations';
import { pageRoutes } from './routes/pages';
import { paymentRoutes } from './routes/payments';
import { paymentConfigRoutes } from './routes/payment-configs';
import { rankingRoutes } from './routes/rankings';
import { statsRoutes } from './routes/stats';
import { batchBodyLimit, batchPayoutRoutes, takesBatchBody } from './routes/batch-payouts';
import { docsRoutes } from './routes/docs';
import { healthRoutes } from './routes/health';
import { m2poolRoutes } from './routes/m2pool';
import { networkRoutes } from './routes/networks';
import { productRoutes } from './routes/products';
import { notificationRoutes } from './routes/notifications';
import { onePassErrorHandler, onePassRoutes } from './routes/onepass';
import { transferRoutes } from './routes/transfers';
import { userRoutes } from './routes/users';
import { walletRoutes } from './routes/wallets';
import { withdrawalRoutes } from './routes/withdrawals';
import { workflowRoutes } from './routes/workflows';
import { createPaymentSockets, type PaymentSockets } from './ws';

export interface AppDeps {
  config: Config;
  client: Client;
  db: Db;
  logger: pino.Logger;
}

/** What every router gets: the app's dependencies, the OpenAPI registry to document itself in, auth and metrics. */
export interface RouteContext extends AppDeps {
  gateways: GatewayRegistry;
  registry: OpenAPIRegistry;
  /** Checks the API key and its scope, then reads the JSON body: nobody's body is read before the key is. */
  requireScope: RequireScope;
  metrics: Metrics;
}

/** The routes that take a JSON body from callers without a key (a donor's or payer's browser, WeChat login): nothing to check first. */
const PUBLIC_JSON_ROUTES = ['/api/v1/donations', '/api/v1/users/wechat', '/api/v1/payments', '/api/v1/payments/:id/process'];

const INCOMING_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Honours a sane incoming X-Request-Id, else makes one; it is echoed in the header, the logs and every error. */
const requestId: RequestHandler = (req, res, next) => {
  const incoming = req.get('x-request-id');
  req.id = incoming && INCOMING_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.set('X-Request-Id', String(req.id));
  next();
};

/**
 * What a browser on another site may do (CORS_ORIGINS): nothing when none is named. Only the origins named get
 * Access-Control-Allow-Origin (their own, with Vary: Origin), or `*` for any; never credentials, since callers
 * authenticate with a key in a header rather than with cookies.
 */
function crossOrigin(origins: string[]): RequestHandler | undefined {
  if (origins.length === 0) return undefined;
  return cors({
    origin: origins[0] === '*' ? '*' : origins,
    methods: ['GET', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['content-type', 'authorization', 'x-api-key', 'idempotency-key', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  });
}

/** Each app's payment WebSocket server, which attachWebSockets puts on the app's HTTP server. */
const paymentSockets = new WeakMap<express.Express, PaymentSockets>();

/** Serves the app's WebSocket routes (/ws/payments/{id}) on its HTTP server; returns what closes them. */
export function attachWebSockets(app: express.Express, server: http.Server): () => Promise<void> {
  const sockets = paymentSockets.get(app);
  if (!sockets) throw new Error('attachWebSockets: this app was not made by createApp');
  sockets.attach(server);
  return () => sockets.close();
}

export function createApp(deps: AppDeps): express.Express {
  const { config } = deps;
  const sockets = createPaymentSockets({ db: deps.db, logger: deps.logger, settings: config.checkout });
  const metrics = createMetrics(deps.db);
  const gateways = createGatewayRegistry(deps.db, config.secrets.keys, config.donations.gatewayTimeoutMs);
  // A batch names up to BATCH_MAX_ITEMS payees, megabytes of JSON: the routes that take one read bigger bodies than the rest.
  const batchBody = Router().use(jsonBody(`${batchBodyLimit(config.batch.maxItems)}b`));
  const body = Router().use(jsonBody());
  const readBody: RequestHandler = (req, res, next) => (takesBatchBody(req.path) ? batchBody : body)(req, res, next);
  const auth = createAuth(config.api.keys);
  const requireScope: RequireScope = (scope) => {
    const check = auth(scope);
    return (req, res, next) => check(req, res, (err?: unknown) => (err ? next(err) : readBody(req, res, next)));
  };
  const ctx: RouteContext = { ...deps, gateways, registry: createOpenApiRegistry(), requireScope, metrics };
  const app = express();
  app.disable('x-powered-by');

  // A preflight is the browser asking, not the caller: answered here, before keys and limits, which it cannot satisfy.
  const corsPolicy = crossOrigin(config.api.corsOrigins);
  if (corsPolicy) app.use(corsPolicy);
  // Gzip when asked (Accept-Encoding); nothing here streams, and the WebSocket upgrade never passes through Express.
  app.use(compression());
  app.use(requestId);
  app.use(metrics.middleware);
  app.use(
    pinoHttp({
      logger: deps.logger.child({ component: 'api' }),
      quietReqLogger: true,
      // One compact line per request: what was asked and how it ended; headers (and their keys) stay out.
      serializers: {
        req: (req: { method: string; url: string; remoteAddress?: string }) => ({ method: req.method, url: req.url, ip: req.remoteAddress }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customAttributeKeys: { reqId: 'requestId' },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    }),
  );

  // Probes and docs stay reachable when the API is saturated; everything else is limited.
  app.get('/metrics', metrics.handler);
  ctx.registry.registerPath({
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (no key needed)',
    responses: { 200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: { type: 'string' } } } } },
  });
  app.use(healthRoutes(ctx));
  app.use(docsRoutes(ctx));
  app.use(pageRoutes(ctx));

  app.use(concurrencyLimit(config.api.maxConcurrentRequests));
  // Gateways notify from a few addresses in bursts: their callbacks are verified by signature, not rate-limited per IP.
  app.use(callbackRoutes(ctx));
  app.use(rateLimitPerIp(config.api.rateLimitPerSecond));
  // The public routes that take a body read it here; every other route reads it in requireScope, once the key is checked.
  for (const path of PUBLIC_JSON_ROUTES) app.post(path, readBody);
  // M2Pool's requests carry no key but a `sign` over their values as written: its routes read their own raw bodies.
  app.use(m2poolRoutes(ctx));

  app.use(onePassRoutes(ctx));
  app.use(transferRoutes(ctx));
  app.use(batchPayoutRoutes(ctx));
  app.use(donationRoutes(ctx));
  app.use(rankingRoutes(ctx));
  app.use(categoryRoutes(ctx));
  app.use(networkRoutes(ctx));
  app.use(productRoutes(ctx));
  app.use(paymentConfigRoutes(ctx));
  app.use(balanceRoutes(ctx));
  app.use(userRoutes(ctx));
  app.use(walletRoutes(ctx));
  app.use(depositRoutes(ctx));
  app.use(withdrawalRoutes(ctx));
  app.use(workflowRoutes(ctx));
  app.use(notificationRoutes(ctx));
  app.use(paymentRoutes(ctx));
  app.use(statsRoutes(ctx, sockets));

  app.use(notFound);
  app.use('/onePass', onePassErrorHandler);
  app.use(apiErrorHandler);
  paymentSockets.set(app, sockets);
  return app;
}
