// The one place that reads the environment: every setting, its default for the local stack, validated at start-up.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { TaskQueues } from './domain/task-queues';

export const ROOT_DIR = __dirname;

/** The local dev key: accepted only outside production, printed by `npm start`, used by the README's curl examples. */
export const DEV_API_KEY = 'dk_dev_local_admin';

const Scope = z.enum(['transfers:read', 'transfers:write', 'admin']);
export type Scope = z.infer<typeof Scope>;
export const ALL_SCOPES: readonly Scope[] = Scope.options;

const int = (fallback: number) => z.coerce.number().int().positive().default(fallback);

const EnvSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  PUBLIC_URL: z.string().url().optional(),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_UI_URL: z.string().url().default('http://localhost:8233'),
  TEMPORAL_TASK_QUEUE: z.string().default(TaskQueues.payments),
  DATABASE_URL: z.string().default('mysql://durapay:durapay@127.0.0.1:3307/durapay'),
  DB_POOL_MAX: int(20),
  API_KEYS: z.string().optional(),
  RATE_LIMIT_PER_SECOND: int(100),
  MAX_CONCURRENT_REQUESTS: int(500),
  // Browser origins other sites' pages may call the API from: "https://shop.example,https://admin.example", or `*` for any;
  // unset, no CORS headers at all and a browser allows same-origin calls only (seed 003, 6.1).
  CORS_ORIGINS: z.string().default(''),
  DEFAULT_CURRENCY: z.string().default('CNY'),
  CREDIT_SOURCE_ACCOUNT: z.string().regex(/^external:[a-z0-9:_-]+$/).default('external:bank'),
  TRANSFER_WAIT_MS: z.coerce.number().int().min(0).default(10000),
  WORKER_MAX_CONCURRENT_ACTIVITIES: int(200),
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: int(200),
  // Polls for tasks kept open at once: a number (at most that many), or `autoscaling` (the server's feedback decides).
  WORKER_WORKFLOW_TASK_POLLERS: z.union([z.literal('autoscaling'), z.coerce.number().int().min(2)]).default(40),
  WORKER_ACTIVITY_TASK_POLLERS: z.union([z.literal('autoscaling'), z.coerce.number().int().min(1)]).default(40),
  WORKFLOW_BUNDLE_PATH: z.string().optional(),
  // The third-party payout API (seed 001's api.payUrl / batchPayBeginUrl / batchPayFinishUrl); locally the sandbox.
  PAYOUT_API_URL: z.string().url().default('http://127.0.0.1:4000/thirdpart/onePass'),
  PAYOUT_APP_ID: z.string().default('40008'),
  PAYOUT_TOKEN: z.string().min(16).optional(),
  PAYOUT_TIMEOUT_MS: int(5000),
  BATCH_MAX_ITEMS: int(100000),
  BATCH_MIN_CONCURRENCY: int(10),
  BATCH_MAX_CONCURRENCY: int(60),
  BATCH_FAST_PHASE_MS: int(30000),
  // Donations (seed 000): the order's life, the gateways, the ranking.
  DONATION_EXPIRY_MS: int(15 * 60_000),
  DONATION_POLL_INITIAL_MS: int(5_000),
  DONATION_POLL_MAX_MS: int(60_000),
  DONATION_LATE_WINDOW_MS: int(7 * 24 * 3_600_000),
  GATEWAY_TIMEOUT_MS: int(10_000),
  RANKING_TIME_ZONE: z.string().default('Asia/Shanghai'),
  // "kid:base64(32 bytes)" entries separated by ';', the first one seals; the others only open (rotation).
  SECRETS_KEYS: z.string().optional(),
  // The HD seed of the deposit addresses (a BIP-39 phrase), sealed into the database on first start; made there when unset outside production.
  WALLET_MNEMONIC: z.string().optional(),
  SANDBOX_PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  /** Where the sandbox keeps the credentials it makes on first start; <DATA_DIR>/sandbox unless given. */
  SANDBOX_DATA_DIR: z.string().optional(),
  DATA_DIR: z.string().default(path.join(ROOT_DIR, '.data')),
  // The local stack (`npm start`, the tests): ports of the processes it runs, where the temporal CLI comes from.
  TEMPORAL_PORT: z.coerce.number().int().min(1).max(65535).default(7233),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  MYSQL_PORT: z.coerce.number().int().min(1).max(65535).default(3307),
  TEMPORAL_CLI: z.string().optional(),
  XDG_CACHE_HOME: z.string().optional(),
  // The chain: how long one JSON-RPC call may take before the next URL is tried; the local node (`npm start`, the tests).
  EVM_RPC_TIMEOUT_MS: int(5000),
  EVM_PORT: z.coerce.number().int().min(1).max(65535).default(8545),
  EVM_MINING_INTERVAL_MS: z.coerce.number().int().min(0).default(1000),
  EVM_CONFIRMATIONS: int(3),
  EVM_MNEMONIC: z.string().optional(),
  // Withdrawals and merchant payments: how their transactions are followed (0: a look per block of the network).
  CHAIN_CONFIRM_POLL_MS: z.coerce.number().int().min(0).default(0),
  CHAIN_STUCK_AFTER_MS: int(180_000),
  CHAIN_MAX_FEE_BUMPS: z.coerce.number().int().min(0).default(5),
  // Deposits: each chain scanner's poll once caught up and its most blocks per scan; how often a deposit looks at its log.
  DEPOSIT_SCAN_INTERVAL_MS: int(2000),
  DEPOSIT_SCAN_MAX_BLOCKS: int(500),
  DEPOSIT_CHECK_INTERVAL_MS: int(5000),
  // Checkout sessions (seed 003): their life, how often a transfer looks at the chain, how the API pushes their status.
  CHECKOUT_EXPIRY_MS: int(15 * 60_000),
  CHECKOUT_LATE_WINDOW_MS: int(24 * 3_600_000),
  CHECKOUT_CHECK_INTERVAL_MS: z.coerce.number().int().min(0).default(0),
  CHECKOUT_PUSH_POLL_MS: int(500),
  CHECKOUT_WS_KEEPALIVE_MS: int(30_000),
  CHECKOUT_WS_MAX_CONNECTIONS: int(10_000),
  // GET /api/v1/stats/alerts (seed 002's alert thresholds): payouts waiting for the chain, their failure rate over the last
  // hour (percent), and the least each network's hot and collection wallet should hold (gas in the chain's coin, tokens).
  ALERT_PENDING_PAYOUTS_WARNING: int(100),
  ALERT_PENDING_PAYOUTS_CRITICAL: int(500),
  ALERT_PAYOUT_FAILURE_RATE_WARNING: z.coerce.number().min(0).max(100).default(5),
  ALERT_PAYOUT_FAILURE_RATE_CRITICAL: z.coerce.number().min(0).max(100).default(10),
  ALERT_WALLET_MIN_GAS: z.string().regex(/^\d+(\.\d+)?$/).default('0.05'),
  ALERT_WALLET_MIN_TOKEN: z.string().regex(/^\d+(\.\d+)?$/).default('100'),
  // M2Pool's interface (seed 002): the keys its requests are signed with, how it names chains, where its results are sent.
  M2POOL_SIGN_KEYS: z.string().optional(),
  M2POOL_TIMESTAMP_WINDOW_S: int(300),
  M2POOL_CHAINS: z.string().optional(),
  M2POOL_WEBHOOK_URL: z.string().url().optional(),
  M2POOL_TOPUP_WEBHOOK_URL: z.string().url().optional(),
  M2POOL_WITHDRAW_WEBHOOK_URL: z.string().url().optional(),
  M2POOL_PAY_WEBHOOK_URL: z.string().url().optional(),
  M2POOL_WEBHOOK_SECRET: z.string().min(16).optional(),
  M2POOL_WEBHOOK_RETRY_FOR_MS: int(24 * 3_600_000),
  M2POOL_WEBHOOK_RETRY_INITIAL_MS: int(10_000),
  M2POOL_WEBHOOK_RETRY_MAX_MS: int(3_600_000),
});

/** The payout API token the sandbox and the local stack share; production must set PAYOUT_TOKEN. */
export const DEV_PAYOUT_TOKEN = 'Xzh000LyPq7Wm1Ae-dev-sandbox';

function secretWithDevDefault(value: string | undefined, devDefault: string, name: string, env: string): string {
  if (value) return value;
  if (env === 'production') throw new Error(`${name} must be set in production`);
  return devDefault;
}

/** Seals credentials at rest on the local stack only; production must set SECRETS_KEYS. */
export const DEV_SECRETS_KEY = 'dev1:ZHVyYXBheS1sb2NhbC1kZXYta2V5LTMyLWJ5dGVzISE=';

/** The webhook URL of a channel without its own: M2POOL_WEBHOOK_URL, which production must set (or every channel's). */
function webhookUrl(value: string | undefined, env: string): string {
  if (value) return value;
  if (env === 'production') throw new Error('M2POOL_WEBHOOK_URL (or M2POOL_TOPUP_ / WITHDRAW_ / PAY_WEBHOOK_URL) must be set in production');
  return DEV_M2POOL_WEBHOOK_URL;
}

export interface SecretKey {
  id: string;
  key: Buffer;
}

/** Parses SECRETS_KEYS = "kid:base64;kid2:base64": 32-byte AES keys, the first seals, all open. */
function parseSecretKeys(raw: string): SecretKey[] {
  const keys = raw
    .split(';')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [id, b64 = ''] = entry.split(':');
      const key = Buffer.from(b64, 'base64');
      if (!id || !/^[A-Za-z0-9_-]{1,32}$/.test(id) || key.length !== 32) throw new Error('SECRETS_KEYS: each entry is kid:base64 of 32 bytes');
      return { id, key };
    });
  if (keys.length === 0) throw new Error('SECRETS_KEYS: at least one key');
  return keys;
}

/** M2Pool's shared request key and webhook secret on the local stack only; production must set its own. */
export const DEV_M2POOL_SIGN_KEY = 'm2pool-dev-shared-key';
export const DEV_M2POOL_WEBHOOK_SECRET = 'whsec_dev_local_m2pool';
/** Where the local stack sends M2Pool's results unless told: a business system on this machine. */
export const DEV_M2POOL_WEBHOOK_URL = 'http://127.0.0.1:9090/m2pool/notify';

/** Parses M2POOL_SIGN_KEYS = "key1;key2": a request's sign may be made with any of them (rotation). */
function parseSignKeys(raw: string): string[] {
  const keys = raw.split(';').map((key) => key.trim()).filter(Boolean);
  if (keys.length === 0 || keys.some((key) => key.length < 16)) throw new Error('M2POOL_SIGN_KEYS: one or more keys of at least 16 characters, separated by ";"');
  return keys;
}

/** Parses M2POOL_CHAINS = "ETH=ethereum,BSC=bsc": M2Pool's `chain` → our network id. */
function parseChains(raw: string): Record<string, string> {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [chain, network] = entry.split('=').map((part) => part?.trim());
      if (!chain || !network || !/^[a-z0-9][a-z0-9_-]{0,31}$/.test(network)) throw new Error('M2POOL_CHAINS: entries are CHAIN=network-id, separated by ","');
      return [chain, network] as const;
    });
  if (entries.length === 0) throw new Error('M2POOL_CHAINS: at least one CHAIN=network-id');
  return Object.fromEntries(entries);
}

/**
 * Parses CORS_ORIGINS = "https://a.example,http://localhost:5173" or "*". A browser's Origin header is compared as
 * written, so an entry that is not exactly an origin (a path, a trailing slash, an upper-case host, a default port)
 * would never match: it is refused here rather than silently ignored.
 */
function parseCorsOrigins(raw: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim()).filter(Boolean);
  if (entries.includes('*')) {
    if (entries.length > 1) throw new Error('CORS_ORIGINS: `*` allows every origin and stands alone');
    return entries;
  }
  for (const entry of entries) {
    const origin = originOf(entry);
    if (origin !== entry) {
      const hint = origin ? `; write it as ${origin}` : '';
      throw new Error(`CORS_ORIGINS: "${entry}" is not an origin (http(s)://host[:port], no path)${hint}`);
    }
  }
  return entries;
}

function originOf(entry: string): string | undefined {
  try {
    const url = new URL(entry);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

export interface ApiKey {
  key: string;
  scopes: Scope[];
}

export type Config = ReturnType<typeof loadConfig>;

/** Parses `API_KEYS` = "key1=scope,scope;key2=admin". Without it, outside production, the dev key holds every scope. */
function parseApiKeys(raw: string | undefined, env: string): ApiKey[] {
  if (!raw) {
    if (env === 'production') throw new Error('API_KEYS must be set in production');
    return [{ key: DEV_API_KEY, scopes: [...ALL_SCOPES] }];
  }
  return raw
    .split(';')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const [key, scopes = ''] = entry.split('=');
      if (!key || key.length < 16) throw new Error(`API_KEYS: a key must have at least 16 characters`);
      return { key, scopes: scopes.split(',').map((s) => Scope.parse(s.trim())) };
    });
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  for (const [name, polls, slots] of [
    ['WORKER_WORKFLOW_TASK_POLLERS', e.WORKER_WORKFLOW_TASK_POLLERS, e.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS],
    ['WORKER_ACTIVITY_TASK_POLLERS', e.WORKER_ACTIVITY_TASK_POLLERS, e.WORKER_MAX_CONCURRENT_ACTIVITIES],
  ] as const) {
    // A poll is opened only for a free task slot: more polls than slots is a mistake (the SDK refuses it for workflow tasks).
    if (polls !== 'autoscaling' && polls > slots) throw new Error(`invalid configuration: ${name}: ${polls} polls need as many task slots, ${slots} configured`);
  }
  return {
    env: e.NODE_ENV,
    logLevel: e.LOG_LEVEL,
    api: {
      host: e.API_HOST,
      port: e.API_PORT,
      publicUrl: e.PUBLIC_URL ?? `http://localhost:${e.API_PORT}`,
      keys: parseApiKeys(e.API_KEYS, e.NODE_ENV),
      rateLimitPerSecond: e.RATE_LIMIT_PER_SECOND,
      maxConcurrentRequests: e.MAX_CONCURRENT_REQUESTS,
      /** Origins whose pages may call the API (CORS); `['*']`: any; empty: none but the API's own. */
      corsOrigins: parseCorsOrigins(e.CORS_ORIGINS),
      transferWaitMs: e.TRANSFER_WAIT_MS,
    },
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      uiUrl: e.TEMPORAL_UI_URL,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
    },
    worker: {
      maxConcurrentActivities: e.WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentWorkflowTasks: e.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
      workflowTaskPollers: e.WORKER_WORKFLOW_TASK_POLLERS,
      activityTaskPollers: e.WORKER_ACTIVITY_TASK_POLLERS,
      /** A workflow bundle built ahead of time; without it the worker bundles workflows/ at start. */
      workflowBundlePath: e.WORKFLOW_BUNDLE_PATH,
    },
    db: { url: e.DATABASE_URL, poolMax: e.DB_POOL_MAX },
    ledger: { defaultCurrency: e.DEFAULT_CURRENCY, creditSourceAccount: e.CREDIT_SOURCE_ACCOUNT },
    payouts: {
      apiUrl: e.PAYOUT_API_URL,
      appId: e.PAYOUT_APP_ID,
      token: secretWithDevDefault(e.PAYOUT_TOKEN, DEV_PAYOUT_TOKEN, 'PAYOUT_TOKEN', e.NODE_ENV),
      timeoutMs: e.PAYOUT_TIMEOUT_MS,
    },
    batch: {
      maxItems: e.BATCH_MAX_ITEMS,
      minConcurrency: e.BATCH_MIN_CONCURRENCY,
      maxConcurrency: e.BATCH_MAX_CONCURRENCY,
      fastPhaseMs: e.BATCH_FAST_PHASE_MS,
    },
    donations: {
      currency: 'CNY',
      expiryMs: e.DONATION_EXPIRY_MS,
      pollInitialMs: e.DONATION_POLL_INITIAL_MS,
      pollMaxMs: e.DONATION_POLL_MAX_MS,
      lateWindowMs: e.DONATION_LATE_WINDOW_MS,
      gatewayTimeoutMs: e.GATEWAY_TIMEOUT_MS,
      rankingTimeZone: e.RANKING_TIME_ZONE,
    },
    secrets: { keys: parseSecretKeys(secretWithDevDefault(e.SECRETS_KEYS, DEV_SECRETS_KEY, 'SECRETS_KEYS', e.NODE_ENV)) },
    wallets: {
      /** Read only by the wallet provisioning, which seals it into the database once; it can leave the environment after. */
      mnemonic: e.WALLET_MNEMONIC || undefined,
      /** Outside production a missing seed is made on first start; production must be given one (it would have no backup). */
      mayMakeSeed: e.NODE_ENV !== 'production',
    },
    sandbox: { port: e.SANDBOX_PORT, dataDir: e.SANDBOX_DATA_DIR ?? path.join(e.DATA_DIR, 'sandbox') },
    dataDir: e.DATA_DIR,
    stack: {
      temporalPort: e.TEMPORAL_PORT,
      temporalUiPort: e.TEMPORAL_UI_PORT,
      mysqlPort: e.MYSQL_PORT,
      /** The caller's own database; without it `npm start` runs a private MariaDB on mysqlPort. */
      externalDatabaseUrl: env.DATABASE_URL || undefined,
      /** The caller's own payout gateway (PAYOUT_API_URL); without it `npm start` points the worker at its sandbox. */
      externalPayoutApiUrl: env.PAYOUT_API_URL || undefined,
      /** Whether the caller named where M2Pool notifications go; else `npm start` delivers them to its sandbox's stand-in. */
      m2poolWebhooksGiven: Boolean(env.M2POOL_WEBHOOK_URL || env.M2POOL_TOPUP_WEBHOOK_URL || env.M2POOL_WITHDRAW_WEBHOOK_URL || env.M2POOL_PAY_WEBHOOK_URL),
      temporalCli: e.TEMPORAL_CLI,
      cacheDir: path.join(e.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'durapay'),
    },
    m2pool: {
      /** Keys a request's `sign` may be made with; the first is the current one. */
      signKeys: parseSignKeys(secretWithDevDefault(e.M2POOL_SIGN_KEYS, DEV_M2POOL_SIGN_KEY, 'M2POOL_SIGN_KEYS', e.NODE_ENV)),
      /** A request's timestamp may be this far from the server's clock, either way. */
      timestampWindowS: e.M2POOL_TIMESTAMP_WINDOW_S,
      /** M2Pool's `chain` → our network id (its `symbol` is the token's symbol on that network). */
      chains: parseChains(secretWithDevDefault(e.M2POOL_CHAINS, 'ETH=local', 'M2POOL_CHAINS', e.NODE_ENV)),
      webhooks: {
        urls: {
          topup: e.M2POOL_TOPUP_WEBHOOK_URL ?? webhookUrl(e.M2POOL_WEBHOOK_URL, e.NODE_ENV),
          withdraw: e.M2POOL_WITHDRAW_WEBHOOK_URL ?? webhookUrl(e.M2POOL_WEBHOOK_URL, e.NODE_ENV),
          pay: e.M2POOL_PAY_WEBHOOK_URL ?? webhookUrl(e.M2POOL_WEBHOOK_URL, e.NODE_ENV),
        },
        secret: secretWithDevDefault(e.M2POOL_WEBHOOK_SECRET, DEV_M2POOL_WEBHOOK_SECRET, 'M2POOL_WEBHOOK_SECRET', e.NODE_ENV),
        /** A notification is retried with backoff (initial, doubling up to max) until a 2xx or this long after its first attempt. */
        retryForMs: e.M2POOL_WEBHOOK_RETRY_FOR_MS,
        retryInitialMs: e.M2POOL_WEBHOOK_RETRY_INITIAL_MS,
        retryMaxMs: e.M2POOL_WEBHOOK_RETRY_MAX_MS,
      },
    },
    chain: {
      rpcTimeoutMs: e.EVM_RPC_TIMEOUT_MS,
      /** How a sent transaction is followed until final (ChainConfirmationWorkflow). */
      sends: {
        /** Between two looks at the chain; 0: the network's block time. */
        confirmPollMs: e.CHAIN_CONFIRM_POLL_MS,
        /** A transaction not mined this long, while the fee market asks more than it pays, is replaced with a higher fee. */
        stuckAfterMs: e.CHAIN_STUCK_AFTER_MS,
        /** Most fee bumps of one transaction. */
        maxFeeBumps: e.CHAIN_MAX_FEE_BUMPS,
      },
      /** The Hardhat node `npm start` runs, registered as the network `local`. */
      localNode: {
        port: e.EVM_PORT,
        /** A block every this many ms, so confirmations advance as on a real chain; 0: a block per transaction. */
        miningIntervalMs: e.EVM_MINING_INTERVAL_MS,
        confirmations: e.EVM_CONFIRMATIONS,
        /** Its accounts' mnemonic; Hardhat's well-known test mnemonic when unset. */
        mnemonic: e.EVM_MNEMONIC,
      },
    },
    deposits: {
      /** Between two scans of a scanner that has caught up with the head. */
      scanIntervalMs: e.DEPOSIT_SCAN_INTERVAL_MS,
      /** Most blocks one eth_getLogs scan covers (a node may refuse larger ranges; the scan then halves it). */
      scanMaxBlocks: e.DEPOSIT_SCAN_MAX_BLOCKS,
      /** Between two looks of a pending deposit at its log (a scanner's signal wakes it sooner). */
      checkIntervalMs: e.DEPOSIT_CHECK_INTERVAL_MS,
    },
    checkout: {
      /** A session's life unless its request asks for another. */
      expiryMs: e.CHECKOUT_EXPIRY_MS,
      /** After expiry, how long its address is still watched: money that comes then is recorded as paid late. */
      lateWindowMs: e.CHECKOUT_LATE_WINDOW_MS,
      /** Between two looks at the chain while a transfer waits for confirmations; 0: the network's block time. */
      checkIntervalMs: e.CHECKOUT_CHECK_INTERVAL_MS,
      /** How often the API reads the versions of the sessions its WebSocket clients follow. */
      pushPollMs: e.CHECKOUT_PUSH_POLL_MS,
      /** A WebSocket that answers no ping within this is closed. */
      keepaliveMs: e.CHECKOUT_WS_KEEPALIVE_MS,
      /** Most WebSocket connections one API process holds. */
      maxConnections: e.CHECKOUT_WS_MAX_CONNECTIONS,
    },
    alerts: {
      pendingPayouts: { warning: e.ALERT_PENDING_PAYOUTS_WARNING, critical: e.ALERT_PENDING_PAYOUTS_CRITICAL },
      payoutFailureRate: { warning: e.ALERT_PAYOUT_FAILURE_RATE_WARNING, critical: e.ALERT_PAYOUT_FAILURE_RATE_CRITICAL },
      /** A wallet below these is a warning, an empty one critical: gas in the chain's coin (ETH), tokens in token units. */
      walletMinGas: e.ALERT_WALLET_MIN_GAS,
      walletMinToken: e.ALERT_WALLET_MIN_TOKEN,
    },
  };
}
