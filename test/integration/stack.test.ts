// `npm start` driven the way a user drives it: start, use, start again, Ctrl-C. It runs its own private MariaDB
// (not the test stack's database) on free ports in a fresh data dir, so the path a new machine takes is the one tested.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEV_API_KEY } from '../../config';
import type { StackRecord } from '../../scripts/stack/lock';
import { freePorts, isListening } from '../../scripts/stack/ports';
import { isAlive, signalGroup } from '../../scripts/stack/processes';
import { waitFor } from '../support/processes';
import { payoutSandbox } from '../support/sandbox';

const ROOT = path.join(__dirname, '..', '..');

interface Run {
  child: ChildProcess;
  output(): string;
  exitCode: Promise<number | null>;
}

/** `bash scripts/npm-entry.sh start` in its own process group, as a terminal runs it. */
function npmStart(env: NodeJS.ProcessEnv): Run {
  const child = spawn('bash', ['scripts/npm-entry.sh', 'start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exitCode = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, output: () => out, exitCode };
}

async function waitForOutput(run: Run, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!run.output().includes(text)) {
    if (run.child.exitCode !== null) throw new Error(`npm start exited (${run.child.exitCode}) before printing "${text}":\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`npm start did not print "${text}" within ${timeoutMs / 1000}s:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const api = (port: number, route: string, init: { method?: string; headers?: Record<string, string>; body?: unknown } = {}) =>
  fetch(`http://127.0.0.1:${port}${route}`, {
    method: init.method ?? 'GET',
    headers: { authorization: `Bearer ${DEV_API_KEY}`, 'content-type': 'application/json', ...init.headers },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });

describe('npm start', () => {
  let dataDir: string;
  let env: NodeJS.ProcessEnv;
  let ports: { api: number; temporal: number; temporalUi: number; mysql: number; sandbox: number };
  let first: Run;
  let restarted: Run | undefined;
  let record: StackRecord;
  let creditWorkflowId: string;

  beforeAll(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'durapay-start-'));
    const [api, temporal, temporalUi, mysql, sandbox, evm] = await freePorts(6);
    ports = { api, temporal, temporalUi, mysql, sandbox };
    // A user's shell: none of the test stack's addresses, only the ports and data dir this test chose, and a payout
    // gateway of its own (the test stack's sandbox, not the one npm start runs).
    const { DATABASE_URL, TEMPORAL_ADDRESS, TEMPORAL_UI_URL, WORKFLOW_BUNDLE_PATH, NODE_ENV, RATE_LIMIT_PER_SECOND, SANDBOX_URL, PAYOUT_API_URL, ...shell } = process.env;
    env = {
      ...shell,
      PAYOUT_API_URL: payoutSandbox.apiUrl,
      DATA_DIR: dataDir,
      API_PORT: String(api),
      TEMPORAL_PORT: String(temporal),
      TEMPORAL_UI_PORT: String(temporalUi),
      MYSQL_PORT: String(mysql),
      SANDBOX_PORT: String(sandbox),
      EVM_PORT: String(evm),
      LOG_LEVEL: 'warn',
    };
  });

  afterAll(async () => {
    for (const run of [first, restarted]) if (run?.child.exitCode === null) signalGroup(run.child.pid!, 'SIGKILL');
    for (const s of record?.services ?? []) if (isAlive(s.pid, s.commandLine)) signalGroup(s.pid, 'SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints its URLs once the api answers /health and serves its OpenAPI document', async () => {
    first = npmStart(env);
    await waitForOutput(first, 'Ctrl-C stops everything', 150_000);

    expect(first.output()).toContain(`http://localhost:${ports.api}/docs`);
    expect(first.output()).toContain(`http://localhost:${ports.temporalUi}`);
    expect(first.output()).toContain(`mysql://durapay:durapay@127.0.0.1:${ports.mysql}/durapay`);
    const health = await fetch(`http://127.0.0.1:${ports.api}/health`);
    expect(health.status).toBe(200);
    const openapi = await fetch(`http://127.0.0.1:${ports.api}/openapi.json`);
    expect(openapi.status).toBe(200);
    expect(await openapi.json()).toHaveProperty(['paths', '/health']);

    record = JSON.parse(fs.readFileSync(path.join(dataDir, 'stack.lock'), 'utf8'));
    expect(first.output()).toContain(`http://localhost:${ports.sandbox}`);
    expect((await fetch(`http://127.0.0.1:${ports.sandbox}/health`)).status).toBe(200);
    expect(record.services.map((s) => s.name).sort()).toEqual(['api', 'evm', 'mariadb', 'sandbox', 'temporal', 'worker']);
  }, 180_000);

  it('runs a credit through its worker with the dev API key', async () => {
    expect((await api(ports.api, '/api/v1/users', { method: 'POST', body: { uid: 4242, name: 'Stack' } })).status).toBe(201);
    const credit = await api(ports.api, '/api/v1/credits', { method: 'POST', headers: { 'idempotency-key': 'stack-credit-1' }, body: { uid: 4242, amount: '12.50' } });
    const transfer = (await credit.json()) as { status: string; workflowId: string };
    expect({ status: credit.status, transfer: transfer.status }).toEqual({ status: 200, transfer: 'posted' });
    creditWorkflowId = transfer.workflowId;
  }, 60_000);

  it('pays out through the gateway PAYOUT_API_URL names, not its own sandbox', async () => {
    expect(first.output()).toContain(`Payouts to   ${payoutSandbox.apiUrl}`);
    const batchPayId = `stack-batch-${Date.now()}`;
    const submitted = await api(ports.api, '/api/v1/batch-payouts', { method: 'POST', body: { batchPayId, items: [{ uid: 4242, amount: '2.50' }] } });
    expect(submitted.status).toBe(202);
    await waitFor('the batch to complete', async () => ((await (await api(ports.api, `/api/v1/batch-payouts/${batchPayId}`)).json()) as { status: string }).status === 'completed');

    expect(await payoutSandbox.executions(batchPayId)).toMatchObject({ total: 1, duplicates: 0 });
    const own = await fetch(`http://127.0.0.1:${ports.sandbox}/sandbox/payouts/executions?batchPayId=${batchPayId}`);
    expect(await own.json()).toMatchObject({ total: 0 });
  }, 60_000);

  it('a second npm start says the stack is already running, exits 0 and leaves the first untouched', async () => {
    const second = npmStart(env);
    expect(await second.exitCode).toBe(0);
    expect(second.output()).toContain(`the stack is already running (pid ${record.pid})`);
    expect(second.output()).toContain(`http://localhost:${ports.api}`);

    expect(first.child.exitCode).toBeNull();
    expect((await fetch(`http://127.0.0.1:${ports.api}/health`)).status).toBe(200);
  }, 60_000);

  it('Ctrl-C stops every process it started, frees their ports and removes its lock', async () => {
    process.kill(-first.child.pid!, 'SIGINT'); // what a terminal does: the whole foreground process group

    expect(await first.exitCode).toBe(0);
    expect(first.output()).toContain('[stack] stopped');
    for (const s of record.services) expect({ service: s.name, alive: isAlive(s.pid, s.commandLine) }).toEqual({ service: s.name, alive: false });
    for (const [name, port] of Object.entries(ports)) expect({ name, listening: await isListening(port) }).toEqual({ name, listening: false });
    expect(fs.existsSync(path.join(dataDir, 'stack.lock'))).toBe(false);
  }, 60_000);

  it('started again, finds the ledger and the workflow history where they were', async () => {
    restarted = npmStart(env);
    await waitForOutput(restarted, 'Ctrl-C stops everything', 150_000);
    expect(restarted.output()).not.toContain('creating a MariaDB datadir');

    const transfer = await (await api(ports.api, `/api/v1/transfers/${creditWorkflowId}`)).json();
    expect(transfer).toMatchObject({ status: 'posted', amount: '12.50', targetUid: 4242 });
    const workflow = await (await api(ports.api, `/api/v1/workflows/${creditWorkflowId}`)).json();
    expect(workflow).toMatchObject({ type: 'TransferWorkflow', status: 'COMPLETED' });

    process.kill(-restarted.child.pid!, 'SIGINT');
    expect(await restarted.exitCode).toBe(0);
  }, 180_000);
});
