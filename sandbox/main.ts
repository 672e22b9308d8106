// The sandbox process (`node --import tsx sandbox/main.ts`): the provider emulators on SANDBOX_PORT until SIGINT/SIGTERM.
import http from 'node:http';
import pino from 'pino';
import { loadConfig } from '../config';
import { createSandboxApp } from './app';

// Clients keep connections alive for a few seconds; the server keeps them longer, so it is never the one closing a
// connection a client is about to reuse (which would turn a request into a false "no answer").
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

function main(): void {
  const config = loadConfig();
  const log = pino({ level: config.logLevel, base: { process: 'sandbox' } });
  const app = createSandboxApp({ payouts: { appId: config.payouts.appId, token: config.payouts.token }, dataDir: config.sandbox.dataDir, m2poolWebhookSecret: config.m2pool.webhooks.secret });

  const server = http.createServer(app);
  server.once('error', (err) => {
    log.fatal({ err }, 'sandbox failed to listen');
    process.exit(1);
  });
  server.listen(config.sandbox.port, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.sandbox.port;
    log.info({ payoutApi: `http://127.0.0.1:${port}/thirdpart/onePass`, control: `http://127.0.0.1:${port}/sandbox/payouts` }, `sandbox listening on http://127.0.0.1:${port}`);
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;

  const shutdown = (signal: string) => {
    log.info({ signal }, 'sandbox stopping');
    // Held answers (lost-response emulation) would keep close() waiting: cut every connection.
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main();
