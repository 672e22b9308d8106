// TEMPORARY microbench (to be deleted)
import { createPayoutApiClient } from '../activities/providers/payout-api-client';
import http from 'node:http';
import { createSandboxApp } from '../sandbox/app';
async function main() {
  const app = createSandboxApp({ payouts: { appId: 'app', token: 'tok' }, dataDir: '/tmp/bb/sbxdata', m2poolWebhookSecret: 'x' });
  const server = http.createServer(app).listen(0, '127.0.0.1');
  server.keepAliveTimeout = 65000;
  await new Promise<void>((r) => server.once('listening', () => r()));
  const port = (server.address() as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  await fetch(`${base}/sandbox/payouts/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 1, jitterMs: 0, capacity: 1000 }) });
  const client = createPayoutApiClient({ apiUrl: `${base}/thirdpart/onePass`, appId: 'app', token: 'tok', timeoutMs: 10000 });
  for (const round of [1, 2, 3, 4]) {
    const batchPayId = `bench-${round}`;
    await client.batchPayBegin(batchPayId, 20000);
    let next = 0; const N = 20000;
    const c0 = process.cpuUsage(); const t0 = performance.now();
    await Promise.all(Array.from({ length: 60 }, async () => { while (next < N) { const i = next++; const o = await client.pay({ batchPayId, requestId: `${batchPayId}:${i}`, uid: 5000000 + i, amount: '1.00', currency: 'CNY' }); if (o.status !== 'paid') throw new Error(JSON.stringify(o)); } }));
    const c = process.cpuUsage(c0);
    console.log(`round ${round}: ${((performance.now() - t0)).toFixed(0)} ms wall, cpu ${((c.user + c.system) / 1000 / N * 1000).toFixed(1)} µs per call (client + sandbox)`);
  }
  server.closeAllConnections(); server.close(); process.exit(0);
}
main();
