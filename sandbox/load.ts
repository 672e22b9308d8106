// How many pay requests a second the sandbox and the payout API client sustain: starts a sandbox process, drives it, prints one JSON line.
// npx tsx sandbox/load.ts [--requests 20000] [--concurrency 60] [--latency 50] [--jitter 20] [--capacity 64] [--failure-rate 0]
import { parseArgs } from 'node:util';
import { createPayoutApiClient } from '../activities/providers/payout-api-client';
import type { PayOutcome } from '../activities/providers/payout-api';
import { loadConfig, ROOT_DIR } from '../config';
import { freePorts } from '../scripts/stack/ports';
import { ServiceGroup } from '../scripts/stack/processes';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '60' },
    latency: { type: 'string', default: '50' },
    jitter: { type: 'string', default: '20' },
    capacity: { type: 'string', default: '64' },
    'failure-rate': { type: 'string', default: '0' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const behaviour = { latencyMs: Number(values.latency), jitterMs: Number(values.jitter), capacity: Number(values.capacity), failureRate: Number(values['failure-rate']) };

async function waitUntilUp(url: string): Promise<void> {
  for (let tries = 0; tries < 300; tries++) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the sandbox did not answer ${url}/health`);
}

async function main(): Promise<void> {
  const config = loadConfig();
  const [port] = await freePorts(1);
  const url = `http://127.0.0.1:${port}`;
  const services = new ServiceGroup();
  services.spawn({ name: 'sandbox', command: process.execPath, args: ['--import', 'tsx', 'sandbox/main.ts'], cwd: ROOT_DIR, env: { SANDBOX_PORT: String(port), LOG_LEVEL: 'warn' } });
  try {
    await waitUntilUp(url);
    const control = (route: string, body?: unknown) =>
      fetch(`${url}/sandbox/payouts${route}`, { method: body ? 'POST' : 'GET', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) }).then((r) => r.json());
    await control('/reset', {});
    await control('/config', behaviour);
    const client = createPayoutApiClient({ apiUrl: `${url}/thirdpart/onePass`, appId: config.payouts.appId, token: config.payouts.token, timeoutMs: 10_000 });
    const batchPayId = `load-${Date.now()}`;
    await client.batchPayBegin(batchPayId, requests);

    // Every item is sent until it is paid: a 429 or 5xx sends it again (same request id), as the engine would.
    const outcomes: Record<string, number> = {};
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          const n = next++;
          let outcome: PayOutcome;
          do {
            const t0 = performance.now();
            outcome = await client.pay({ batchPayId, requestId: `${batchPayId}-${n}`, uid: n + 1, amount: '1.00', currency: 'CNY' });
            latencies.push(performance.now() - t0);
            outcomes[outcome.status] = (outcomes[outcome.status] ?? 0) + 1;
          } while (outcome.status === 'retry');
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const executions = (await control(`/executions?batchPayId=${batchPayId}`)) as { total: number; duplicates: number };
    const stats = (await control('/stats')) as { peakInFlight: number };
    // With `concurrency` requests always in flight, each taking the mean latency, this is the most one could get.
    const ideal = Math.min(concurrency, behaviour.capacity) / (behaviour.latencyMs / 1000);
    console.log(
      JSON.stringify({
        bench: 'sandbox-payouts',
        requests,
        concurrency,
        ...behaviour,
        payoutsPerSecond: Math.round(requests / seconds),
        idealPerSecond: behaviour.latencyMs ? Math.round(ideal) : null,
        ratio: behaviour.latencyMs ? Number((requests / seconds / ideal).toFixed(3)) : null,
        p50Ms: Number(latencies[Math.floor(latencies.length * 0.5)].toFixed(1)),
        p99Ms: Number(latencies[Math.floor(latencies.length * 0.99)].toFixed(1)),
        outcomes,
        executions: executions.total,
        duplicates: executions.duplicates,
        peakInFlight: stats.peakInFlight,
      }),
    );
  } finally {
    await services.stopAll();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
