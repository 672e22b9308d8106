// TEMPORARY check (to be deleted)
import http from 'node:http';
import { createSandboxApp } from '../sandbox/app';
import { signPayoutRequest } from '../activities/providers/payout-api-client';
(async () => {
  const server = http.createServer(createSandboxApp({ payouts: { appId: 'app', token: 'tok' }, dataDir: '/tmp/bb/sbxdata', m2poolWebhookSecret: 'x' })).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  await fetch(`${base}/sandbox/payouts/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ latencyMs: 1, jitterMs: 0 }) });
  let n = 0;
  const req = async (method: string, path: string, body?: string, headers: Record<string, string> = {}, sign = true) => {
    const ts = String(Date.now()); const nonce = `nonce${++n}abcdef`;
    const h: Record<string, string> = { ...headers };
    if (sign) Object.assign(h, { 'x-app-id': 'app', 'x-timestamp': ts, 'x-nonce': nonce, 'x-signature': signPayoutRequest('tok', { appId: 'app', timestamp: ts, nonce, method, path, body: body ?? '' }) });
    const res = await fetch(base + path, { method, headers: h, body });
    console.log(method, path, res.status, res.headers.get('content-type'), (await res.text()).slice(0, 150));
  };
  await req('POST', '/thirdpart/onePass/batchPayBegin', JSON.stringify({ batchPayId: 'b1', total: 2 }), { 'content-type': 'application/json' });
  await req('POST', '/thirdpart/onePass/pay', JSON.stringify({ batchPayId: 'b1', requestId: 'b1:1', uid: 1, amount: '1.5', currency: 'CNY' }), { 'content-type': 'application/json' });
  await req('POST', '/thirdpart/onePass/pay/', JSON.stringify({ batchPayId: 'b1', requestId: 'b1:2', uid: 2, amount: '1.5', currency: 'CNY' }));
  await req('GET', '/thirdpart/onePass/payouts/b1%3A1');
  await req('GET', '/thirdpart/onePass/payouts/b1:1?x=1');
  await req('GET', '/thirdpart/onePass/payouts/nope');
  await req('GET', '/thirdpart/onePass/payouts/%E0%A4%A');
  await req('HEAD', '/thirdpart/onePass/payouts/b1:1');
  await req('POST', '/thirdpart/onePass/pay', 'not json');
  await req('POST', '/thirdpart/onePass/pay', JSON.stringify({ batchPayId: 'b1' }));
  await req('POST', '/thirdpart/onePass/nothing', '{}');
  await req('GET', '/thirdpart/onePass', undefined);
  await req('POST', '/thirdpart/onePass/pay', 'x'.repeat(70000));
  await req('POST', '/thirdpart/onePass/pay', '{}', { 'content-type': 'application/json; charset=latin1' });
  await req('POST', '/thirdpart/onePass/pay', '{}', {}, false);
  await req('POST', '/thirdpart/onePass/batchPayFinish', JSON.stringify({ batchPayId: 'b1', paid: 2, failed: 0, amount: '3' }));
  await req('GET', '/sandbox/payouts/executions?batchPayId=b1', undefined, {}, false);
  await req('GET', '/health', undefined, {}, false);
  await req('GET', '/nope', undefined, {}, false);
  server.closeAllConnections(); server.close();
})();
