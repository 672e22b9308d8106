// `npm start`: the whole local stack in the foreground (MariaDB, the Temporal dev server, the EVM node, the sandbox, the worker, the api); Ctrl-C stops it all.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { scannerSettings, startChainScanners } from '../api/routes/deposits';
import { DEV_API_KEY, loadConfig, ROOT_DIR } from '../config';
import { createDb } from '../db/knex';
import { migrateLatest } from '../db/migrate';
import { listProducts, saveProduct } from '../db/products';
import { checksumAddress } from '../domain/chain';
import { forgetChainSends } from '../db/chain-sends';
import { LOCAL_CHAIN_ID, provisionLocalNetwork, startEvmNode, type RunningEvmNode } from './stack/evm-node';
import { acquireStackLock, type StackLock } from './stack/lock';
import { startMariadb } from './stack/mariadb';
import { isListening } from './stack/ports';
import { provisionSandboxGateways } from './stack/provision-gateways';
import { fundLocalWallets, provisionWallets } from './stack/provision-wallets';
import { ServiceGroup, type Service } from './stack/processes';
import { resolveTemporalCli, startTemporal, waitForWorker } from './stack/temporal';

const HEALTH_TIMEOUT_MS = 120_000;
const RESTART_DELAYS_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

const config = loadConfig();
const { stack } = config;
const dataDir = path.resolve(config.dataDir);
const temporalAddress = `127.0.0.1:${stack.temporalPort}`;
const databaseUrl = stack.externalDatabaseUrl ?? `mysql://durapay:durapay@127.0.0.1:${stack.mysqlPort}/durapay`;
const sandboxUrl = `http://127.0.0.1:${config.sandbox.port}`;
const payoutApiUrl = stack.externalPayoutApiUrl ?? `${sandboxUrl}/thirdpart/onePass`;
const urls = {
  api: config.api.publicUrl,
  docs: `${config.api.publicUrl}/docs`,
  openapi: `${config.api.publicUrl}/openapi.json`,
  temporalUi: `http://localhost:${stack.temporalUiPort}`,
  temporal: temporalAddress,
  mysql: withoutPassword(databaseUrl),
  sandbox: `http://localhost:${config.sandbox.port}`,
  payoutApi: payoutApiUrl,
  evm: `http://localhost:${config.chain.localNode.port}`,
};
const log = (message: string) => console.log(`[stack] ${message}`);

let lock: StackLock | undefined;
const services = new ServiceGroup((service) => lock?.addService(service));
let stopping = false;

async function main(): Promise<void> {
  fs.mkdirSync(dataDir, { recursive: true });
  const attempt = await acquireStackLock(path.join(dataDir, 'stack.lock'), urls);
  if (!attempt.acquired) {
    printUrls(attempt.holder.urls);
    console.log(`the stack is already running (pid ${attempt.holder.pid}); its data is in ${dataDir}`);
    return;
  }
  lock = attempt.lock;
  if (await answersHealth()) {
    lock.release();
    printUrls(urls);
    console.log(`the stack is already running (started from another data dir: its API answers at ${urls.api})`);
    return;
  }
  await refuseBusyPorts();
  process.on('SIGINT', () => void shutdown(0, 'SIGINT'));
  process.on('SIGTERM', () => void shutdown(0, 'SIGTERM'));

  log(`starting; data in ${dataDir}`);
  // MariaDB, Temporal and the EVM node start side by side. Every attempt finishes before a failure is reported,
  // so the shutdown that follows finds everything that was started.
  const { localNode } = config.chain;
  const started = await Promise.allSettled([
    stack.externalDatabaseUrl ? undefined : startMariadb(services, { baseDir: dataDir, port: stack.mysqlPort, database: 'durapay', durable: true }),
    resolveTemporalCli(stack).then((cli) =>
      startTemporal(services, { cli, port: stack.temporalPort, uiPort: stack.temporalUiPort, namespace: config.temporal.namespace, dbFile: path.join(dataDir, 'temporal.db') }),
    ),
    startEvmNode(services, {
      port: localNode.port,
      mining: localNode.miningIntervalMs > 0 ? { intervalMs: localNode.miningIntervalMs } : 'auto',
      mnemonic: localNode.mnemonic,
    }),
  ]);
  for (const result of started) if (result.status === 'rejected') throw result.reason;
  await migrate();
  await provisionChain((started[2] as PromiseFulfilledResult<RunningEvmNode>).value);
  await provisionDemoProducts();
  await provisionLocalWallets((started[2] as PromiseFulfilledResult<RunningEvmNode>).value);

  const sandbox = supervise('sandbox', 'sandbox/main.ts');
  const worker = supervise('worker', 'workers/main.ts');
  const api = supervise('api', 'api/main.ts');
  await waitForHealth(sandbox.current, sandboxUrl);
  await provisionGateways();
  await waitForHealth(api.current, `http://127.0.0.1:${config.api.port}`);
  await waitForWorker(temporalAddress, config.temporal.namespace, config.temporal.taskQueue, () => worker.current);
  await startScanners();
  sandbox.restartOnCrash = worker.restartOnCrash = api.restartOnCrash = true;
  printUrls(urls);
  console.log('Ctrl-C stops everything.\n');
}

async function migrate(): Promise<void> {
  const db = createDb(databaseUrl, 1);
  try {
    const applied = await migrateLatest(db);
    log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'the schema is up to date');
  } finally {
    await db.destroy();
  }
}

/** Donations on the local stack go through its sandbox: the sandbox's merchant credentials become the payment configs. */
async function provisionGateways(): Promise<void> {
  const db = createDb(databaseUrl, 1);
  try {
    for (const { method, outcome, reason } of await provisionSandboxGateways(db, config.secrets.keys, sandboxUrl)) {
      log(`${method} payment config: ${outcome}${reason ? ` (${reason})` : ''}`);
    }
  } finally {
    await db.destroy();
  }
}

/** The EVM node is the network `local`, with its test tokens. Hardhat keeps no state across restarts: the chain starts afresh, its tokens at the same addresses. */
async function provisionChain(node: RunningEvmNode): Promise<void> {
  const tokens = node.tokens.map((t) => `${t.symbol} (${t.decimals} decimals) at ${checksumAddress(t.address)}`).join(', ');
  log(`EVM node: chain ${node.chainId}, ${tokens}, minted by ${checksumAddress(node.deployer)}`);
  const db = createDb(databaseUrl, 1);
  try {
    const { outcome, reason } = await provisionLocalNetwork(db, node, {
      confirmations: config.chain.localNode.confirmations,
      blockTimeMs: config.chain.localNode.miningIntervalMs || 1000,
    });
    log(`network local: ${outcome}${reason ? ` (${reason})` : ''}`);
    // The fresh chain never saw the previous one's transactions: their nonces would leave a gap no send could fill.
    await forgetChainSends(db, LOCAL_CHAIN_ID);
  } finally {
    await db.destroy();
  }
}

/** The checkout page's product list starts with two products on a stack that has none (an admin changes them with PUT /api/v1/products/{id}). */
async function provisionDemoProducts(): Promise<void> {
  const db = createDb(databaseUrl, 1);
  try {
    if ((await listProducts(db, { includeInactive: true })).length > 0) return;
    await saveProduct(db, { id: 'coffee-beans', name: 'Coffee beans, 1 kg', description: 'Single origin, roasted this week', price: '6.5', active: true });
    await saveProduct(db, { id: 'premium-month', name: 'Premium plan, 1 month', description: null, price: '12', active: true });
    log('products: coffee-beans (6.5), premium-month (12)');
  } finally {
    await db.destroy();
  }
}

/** The wallet seed (made on the first start unless WALLET_MNEMONIC is given) and each network's hot and collection wallet; those of the fresh local chain get gas and tokens. */
async function provisionLocalWallets(node: RunningEvmNode): Promise<void> {
  const db = createDb(databaseUrl, 1);
  try {
    const { seed, wallets } = await provisionWallets(db, config);
    log(`wallet seed: ${seed}`);
    for (const w of wallets) if (w.made) log(`network ${w.networkId}: new ${w.kind} wallet ${checksumAddress(w.address)}`);
    for (const { kind, address, sent } of await fundLocalWallets(db, node)) {
      const amounts = Object.entries(sent).map(([symbol, amount]) => `${amount} ${symbol}`);
      log(`local ${kind} wallet ${checksumAddress(address)}: ${amounts.length ? `funded with ${amounts.join(', ')}` : 'funded already'}`);
    }
  } finally {
    await db.destroy();
  }
}

/** A ChainScannerWorkflow per active token of each active network: deposits to users' addresses are detected from now on. */
async function startScanners(): Promise<void> {
  const db = createDb(databaseUrl, 1);
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const scanners = await startChainScanners(new Client({ connection, namespace: config.temporal.namespace }), db, scannerSettings(config));
    log(`chain scanners: ${scanners.map((s) => s.workflowId).join(', ') || 'none (no active token)'}`);
  } finally {
    await connection.close();
    await db.destroy();
  }
}

/** Runs a node entry point as a child; once the stack is up, a crash is reported loudly and the process restarted. */
function supervise(name: string, entry: string) {
  const child = { current: undefined as unknown as Service, restartOnCrash: false };
  let crashes = 0;
  const launch = () => {
    const service = services.spawn({
      name,
      command: process.execPath,
      args: ['--import', 'tsx', entry],
      cwd: ROOT_DIR,
      env: {
        API_PORT: String(config.api.port),
        DATABASE_URL: databaseUrl,
        TEMPORAL_ADDRESS: temporalAddress,
        TEMPORAL_UI_URL: urls.temporalUi,
        DATA_DIR: dataDir,
        SANDBOX_PORT: String(config.sandbox.port),
        // The caller's payout gateway, else the stack's own sandbox.
        PAYOUT_API_URL: payoutApiUrl,
        // M2Pool's notifications: where the caller said, else the sandbox's stand-in business system.
        ...(stack.m2poolWebhooksGiven
          ? {}
          : Object.fromEntries(['TOPUP', 'WITHDRAW', 'PAY'].map((c) => [`M2POOL_${c}_WEBHOOK_URL`, `${sandboxUrl}/sandbox/business/m2pool/${c.toLowerCase()}`]))),
      },
    });
    child.current = service;
    void service.exited.then(async (how) => {
      if (stopping) return;
      console.error(`\n[stack] !!! the ${name} ${how} unexpectedly. Its last output:\n${service.tail()}\n`);
      if (!child.restartOnCrash) return; // still starting: the wait for it reports the failure
      const delay = RESTART_DELAYS_MS[Math.min(crashes++, RESTART_DELAYS_MS.length - 1)];
      console.error(`[stack] !!! restarting the ${name} in ${delay / 1000}s`);
      await sleep(delay);
      if (!stopping) launch();
    });
  };
  launch();
  return child;
}

async function waitForHealth(service: Service, url: string): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (!(await answersHealth(url))) {
    if (!service.running()) throw new Error(`the ${service.name} ${await service.exited} before answering ${url}/health`);
    if (Date.now() > deadline) throw new Error(`GET ${url}/health did not answer 200 within ${HEALTH_TIMEOUT_MS / 1000}s`);
    await sleep(250);
  }
}

async function answersHealth(url = `http://127.0.0.1:${config.api.port}`): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
    return response.status === 200;
  } catch {
    return false;
  }
}

async function refuseBusyPorts(): Promise<void> {
  const ports: [string, number][] = [
    ['API_PORT', config.api.port],
    ['TEMPORAL_PORT', stack.temporalPort],
    ['TEMPORAL_UI_PORT', stack.temporalUiPort],
    ['SANDBOX_PORT', config.sandbox.port],
    ['EVM_PORT', config.chain.localNode.port],
  ];
  if (!stack.externalDatabaseUrl) ports.push(['MYSQL_PORT', stack.mysqlPort]);
  for (const [name, port] of ports) {
    if (await isListening(port)) throw new Error(`port ${port} is in use by another program: stop it, or choose another port with ${name}=…`);
  }
}

function printUrls(u: Record<string, string>): void {
  const curl = `curl -X POST ${u.api}/api/v1/users -H 'Authorization: Bearer ${DEV_API_KEY}' -H 'Content-Type: application/json' -d '{"uid":1001,"name":"Alice"}'`;
  console.log(`
  durapay is running
    API          ${u.api}
    Donate page  ${u.api}/donate   (ranking: ${u.api}/ranking)
    Checkout     ${u.api}/checkout   (ops page: ${u.api}/ops)
    Swagger UI   ${u.docs}
    OpenAPI      ${u.openapi}
    Temporal UI  ${u.temporalUi}
    Temporal     ${u.temporal} (gRPC)
    MySQL        ${u.mysql}
    Sandbox      ${u.sandbox ?? '(not recorded)'} (payout API /thirdpart/onePass, Alipay /alipay/gateway.do, WeChat Pay /wechatpay;
                 the buyer's phone: POST /sandbox/alipay/trades/{orderNo}/pay, /sandbox/wechat/trades/{orderNo}/pay;
                 M2Pool notifications received: GET /sandbox/business/m2pool)
    Payouts to   ${u.payoutApi ?? '(not recorded)'}
    EVM node     ${u.evm ?? '(not recorded)'} (JSON-RPC, chain ${LOCAL_CHAIN_ID}: the network "local"; its tokens at ${u.api}/api/v1/tokens)
    Dev API key  ${DEV_API_KEY}
    Try it:      ${curl}
`);
}

function withoutPassword(url: string): string {
  if (!stack.externalDatabaseUrl) return url; // the private instance's password is no secret
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '****';
  return parsed.toString();
}

async function shutdown(code: number, reason: string): Promise<void> {
  // A terminal's Ctrl-C reaches us twice (directly and relayed by npx/tsx): the stop already under way goes on.
  if (stopping) return;
  stopping = true;
  log(`${reason}: stopping everything…`);
  await services.stopAll();
  lock?.release();
  log('stopped');
  process.exit(code);
}

main().catch((err: Error) => {
  console.error(`\n[stack] failed to start: ${err.message}\n`);
  void shutdown(1, 'startup failed');
});
