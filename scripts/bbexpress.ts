// TEMPORARY microbench (to be deleted)
import http from 'node:http';
import express, { Router } from 'express';
const reply = (res: http.ServerResponse) => { const body = JSON.stringify({ code: 200, msg: 'ok', data: { status: 'paid', providerRef: 'opr_0123456789abcdef0123456789abcdef' } }); res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body); };
function routerApp() {
  const app = express(); app.disable('x-powered-by'); app.disable('etag');
  app.get('/health', (_q, r) => { r.json({}); });
  const p = Router(); p.use(express.text({ type: () => true, limit: '64kb' }));
  p.post('/batchPayBegin', (_q, r) => reply(r)); p.post('/pay', (q, r) => { JSON.parse(q.body); reply(r); }); p.post('/batchPayFinish', (_q, r) => reply(r)); p.get('/payouts/:id', (_q, r) => reply(r));
  app.use('/thirdpart/onePass', p); app.use('/sandbox/payouts', Router()); app.use('/alipay', Router()); return app;
}
function leanApp() {
  const app = express(); app.disable('x-powered-by'); app.disable('etag');
  app.use((req, res, next) => {
    if (!req.url.startsWith('/thirdpart/onePass/')) return next();
    const chunks: Buffer[] = []; req.on('data', (c: Buffer) => chunks.push(c)); req.on('end', () => { JSON.parse(Buffer.concat(chunks).toString('utf8')); reply(res); });
  });
  app.get('/health', (_q, r) => { r.json({}); }); return app;
}
function raw() { return (req: http.IncomingMessage, res: http.ServerResponse) => { const chunks: Buffer[] = []; req.on('data', (c: Buffer) => chunks.push(c)); req.on('end', () => { JSON.parse(Buffer.concat(chunks).toString('utf8')); reply(res); }); }; }
async function measure(name: string, handler: http.RequestListener) {
  const server = http.createServer(handler); server.keepAliveTimeout = 65000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const agent = new http.Agent({ keepAlive: true });
  const body = JSON.stringify({ batchPayId: 'b', requestId: 'b:1', uid: 1, amount: '1.00', currency: 'CNY' });
  const one = () => new Promise<void>((resolve) => { const req = http.request({ host: '127.0.0.1', port, path: '/thirdpart/onePass/pay', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => { res.on('data', () => {}); res.on('end', () => resolve()); }); req.end(body); });
  for (const round of [1, 2, 3]) {
    let n = 0; const N = 20000; const c0 = process.cpuUsage();
    await Promise.all(Array.from({ length: 60 }, async () => { while (n++ < N) await one(); }));
    const c = process.cpuUsage(c0); if (round === 3) console.log(name, ((c.user + c.system) / N).toFixed(1), 'µs per request (client+server)');
  }
  server.closeAllConnections(); server.close(); agent.destroy();
}
(async () => { await measure('raw', raw()); await measure('lean express', leanApp() as unknown as http.RequestListener); await measure('router express', routerApp() as unknown as http.RequestListener); await measure('raw', raw()); })();
