// The API process: config, database, Temporal client, HTTP server, and a graceful shutdown on SIGINT/SIGTERM.
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { loadConfig } from '../config';
import { createDb } from '../db/knex';
import { attachWebSockets, createApp } from './app';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = pino({ level: config.logLevel, base: { service: 'durapay-api' } });
  const db = createDb(config.db.url, config.db.poolMax);
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const app = createApp({ config, client, db, logger });

  // Express 5 calls back once: with the error when listening failed.
  const server = app.listen(config.api.port, config.api.host, (err?: Error) => {
    if (err) {
      logger.fatal({ err }, 'API server failed to listen');
      process.exit(1);
    }
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.api.port;
    logger.info({ docs: `${config.api.publicUrl}/docs` }, `durapay API listening on http://${config.api.host}:${port}`);
  });
  const closeWebSockets = attachWebSockets(app, server);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    // Requests in flight finish; idle keep-alive sockets are closed so close() does not wait on them.
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await closeWebSockets();
    const force = setTimeout(() => server.closeAllConnections(), 15_000).unref();
    await closed;
    clearTimeout(force);
    await Promise.allSettled([db.destroy(), connection.close()]);
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((err) => {
  // eslint-disable-next-line no-console
  console.error('durapay API failed to start:', err);
  process.exit(1);
});
