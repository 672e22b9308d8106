// TEMPORARY microbench (to be deleted)
import http from 'node:http';
import { createPayoutApiClient } from '../activities/providers/payout-api-client';
async function main() {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      setTimeout(() => { res.setHeader('content-type', 'application/json'); res.end(JSON.stringify({ code: 200, msg: 'ok', data: { status: 'paid', providerRef: 'opr_0123456789abcdef0123456789abcdef', batchPayId: 'b', requestId: 'r', uid: 1, amount: '1.00', currency: 'CNY', executedAt: Date.now() } })); }, 2);
    });
  });
  server.keepAliveTimeout = 65000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const client = createPayoutApiClient({ apiUrl: `http://127.0.0.1:${port}/thirdpart/onePass`, appId: 'app', token: 'tok', timeoutMs: 10000 });
  for (const round of [1, 2, 3]) {
    let next = 0; const N = 20000;
    const c0 = process.cpuUsage(); const t0 = performance.now();
    await Promise.all(Array.from({ length: 60 }, async () => { while (next < N) { const i = next++; await client.pay({ batchPayId: 'bench-1', requestId: `bench-1:${i}`, uid: 5000000 + i, amount: '1.00', currency: 'CNY' }); } }));
    const c = process.cpuUsage(c0);
    console.log(`round ${round}: ${((performance.now() - t0)).toFixed(0)} ms wall, cpu ${((c.user + c.system) / 1000 / N * 1000).toFixed(1)} µs per call (incl server)`);
  }
  server.close(); process.exit(0);
}
main();
