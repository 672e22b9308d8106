// The API under test: the real app on a random port against the test stack, and a small HTTP client for it.
import type { AddressInfo } from 'node:net';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type express from 'express';
import pino from 'pino';
import { attachWebSockets, createApp } from '../../api/app';
import { loadConfig, type Config } from '../../config';
import { createDb, type Db } from '../../db/knex';

/** API keys of the test app, one per scope. */
export const TEST_KEYS = {
  admin: 'test_admin_key_000000000000',
  write: 'test_write_key_000000000000',
  read: 'test_read_key_0000000000000',
} as const;

export interface TestAppOptions {
  api?: Partial<Config['api']>;
  temporal?: Partial<Config['temporal']>;
  db?: Partial<Config['db']>;
  ledger?: Partial<Config['ledger']>;
  donations?: Partial<Config['donations']>;
  checkout?: Partial<Config['checkout']>;
  alerts?: Partial<Config['alerts']>;
  /** Silent unless given (or TEST_LOG_LEVEL is set). */
  logger?: pino.Logger;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** The raw body, for assertions on how numbers are written. */
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface RequestOptions {
  method?: string;
  /** The API key sent as a bearer token; admin unless given, none when null. */
  key?: string | null;
  /** An object is sent as JSON; a string is sent as is (for malformed or inexact JSON). */
  body?: unknown;
  headers?: Record<string, string>;
  redirect?: 'follow' | 'manual';
}

export interface TestApp {
  baseUrl: string;
  app: express.Express;
  config: Config;
  db: Db;
  client: Client;
  api(path: string, options?: RequestOptions): Promise<ApiResponse>;
  /** Whether Temporal has any run with this workflow ID. */
  workflowExists(workflowId: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function startTestApp(overrides: TestAppOptions = {}): Promise<TestApp> {
  const base = loadConfig(process.env);
  const config: Config = {
    ...base,
    api: {
      ...base.api,
      keys: [
        { key: TEST_KEYS.admin, scopes: ['admin'] },
        { key: TEST_KEYS.write, scopes: ['transfers:write'] },
        { key: TEST_KEYS.read, scopes: ['transfers:read'] },
      ],
      // Tests share 127.0.0.1: only the limit tests lower these.
      rateLimitPerSecond: 100_000,
      ...overrides.api,
    },
    temporal: { ...base.temporal, ...overrides.temporal },
    db: { ...base.db, ...overrides.db },
    ledger: { ...base.ledger, ...overrides.ledger },
    donations: { ...base.donations, ...overrides.donations },
    checkout: { ...base.checkout, ...overrides.checkout },
    alerts: { ...base.alerts, ...overrides.alerts },
  };
  const db = createDb(config.db.url, config.db.poolMax);
  const connection = await Connection.connect({ address: config.temporal.address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const logger = overrides.logger ?? pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const app = createApp({ config, client, db, logger });
  const server = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const closeWebSockets = attachWebSockets(app, server);
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Gateways are told to notify this app: its address is known only now (routes read the config per request).
  config.api.publicUrl = baseUrl;

  async function api(path: string, options: RequestOptions = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? TEST_KEYS.admin : options.key;
    if (key !== null) headers.authorization = `Bearer ${key}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const method = options.method ?? (body === undefined ? 'GET' : 'POST');
    const res = await fetch(`${baseUrl}${path}`, { method, headers, body, redirect: options.redirect });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, headers: res.headers, text, body: parsed };
  }

  async function workflowExists(workflowId: string): Promise<boolean> {
    try {
      await client.workflow.getHandle(workflowId).describe();
      return true;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return false;
      throw err;
    }
  }

  return {
    baseUrl,
    app,
    config,
    db,
    client,
    api,
    workflowExists,
    async close() {
      await closeWebSockets();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.allSettled([db.destroy(), connection.close()]);
    },
  };
}
