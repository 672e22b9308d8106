// What a browser on another site may call (CORS_ORIGINS), and gzip of responses for callers that ask for it.
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { startTestApp, type TestApp } from '../support/app';
import { connectPaymentSocket } from '../support/checkout';

const SHOP = 'https://shop.example';

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The bytes as sent: not decompressed (fetch would gunzip them without saying so). */
  body: Buffer;
}

/** One request by node:http, which adds no header of its own (no Accept-Encoding, no Origin). */
function rawRequest(app: TestApp, path: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${app.baseUrl}${path}`, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The preflight a browser on `origin` sends before a keyed POST with an Idempotency-Key. */
const preflight = (app: TestApp, origin: string) =>
  rawRequest(app, '/api/v1/transfers', {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type,idempotency-key' },
  });

const corsHeadersOf = (res: RawResponse) => Object.keys(res.headers).filter((name) => name.startsWith('access-control-'));

describe('CORS', () => {
  test('a preflight from a named origin → 204 with what it may send, without a key and outside the rate limit', async () => {
    const shopApp = await startTestApp({ api: { corsOrigins: [SHOP], rateLimitPerSecond: 1 } });
    try {
      const answers = await Promise.all(Array.from({ length: 5 }, () => preflight(shopApp, SHOP)));

      expect(answers.map((res) => res.status)).toEqual([204, 204, 204, 204, 204]);
      const [res] = answers;
      expect(res.headers['access-control-allow-origin']).toBe(SHOP);
      expect(res.headers['access-control-allow-methods']).toBe('GET,POST,PUT,DELETE');
      expect(res.headers['access-control-allow-headers']).toBe('content-type,authorization,x-api-key,idempotency-key,x-request-id');
      expect(res.headers['access-control-max-age']).toBe('600');
      expect(res.headers['access-control-allow-credentials']).toBeUndefined();
      // The one request the second allows is still there for the call itself.
      expect((await rawRequest(shopApp, '/api/v1/networks', { headers: { origin: SHOP } })).status).toBe(200);
    } finally {
      await shopApp.close();
    }
  });

  test('a named origin gets its own origin back with Vary: Origin; any other origin gets no Access-Control-Allow-Origin', async () => {
    const shopApp = await startTestApp({ api: { corsOrigins: [SHOP, 'http://localhost:5173'] } });
    try {
      const allowed = await rawRequest(shopApp, '/api/v1/networks', { headers: { origin: SHOP } });
      expect(allowed.status).toBe(200);
      expect(allowed.headers['access-control-allow-origin']).toBe(SHOP);
      expect(allowed.headers.vary).toMatch(/\bOrigin\b/);
      expect(allowed.headers['access-control-expose-headers']).toBe('x-request-id,retry-after');

      // The API still answers: it is the browser that withholds the answer from the other site's page.
      const other = await rawRequest(shopApp, '/api/v1/networks', { headers: { origin: 'https://evil.example' } });
      expect(other.status).toBe(200);
      expect(other.headers['access-control-allow-origin']).toBeUndefined();
      expect(other.headers.vary).toMatch(/\bOrigin\b/);
      expect((await preflight(shopApp, 'https://evil.example')).headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await shopApp.close();
    }
  });

  test('with `*`, every origin is answered `*`', async () => {
    const anyApp = await startTestApp({ api: { corsOrigins: ['*'] } });
    try {
      const res = await rawRequest(anyApp, '/api/v1/networks', { headers: { origin: 'https://anywhere.example' } });
      expect(res.headers['access-control-allow-origin']).toBe('*');
      expect((await preflight(anyApp, 'https://anywhere.example')).headers['access-control-allow-origin']).toBe('*');
    } finally {
      await anyApp.close();
    }
  });

  test('without CORS_ORIGINS, no CORS header at all: same-origin only', async () => {
    const plain = await startTestApp();
    try {
      expect(corsHeadersOf(await rawRequest(plain, '/api/v1/networks', { headers: { origin: SHOP } }))).toEqual([]);
      // Express answers the OPTIONS itself (200, Allow: POST) with no Access-Control-Allow-Origin: a browser stops there.
      expect(corsHeadersOf(await preflight(plain, SHOP))).toEqual([]);
    } finally {
      await plain.close();
    }
  });
});

describe('compression', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(async () => {
    await app?.close();
  });

  test('a caller that accepts gzip gets the OpenAPI document gzipped, and it unzips to the document', async () => {
    const res = await rawRequest(app, '/openapi.json', { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    const document = JSON.parse(gunzipSync(res.body).toString('utf8'));
    expect(document.openapi).toMatch(/^3\./);
    expect(res.body.length).toBeLessThan(gunzipSync(res.body).length);
  });

  test('a caller that does not ask for gzip gets plain JSON', async () => {
    const res = await rawRequest(app, '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(JSON.parse(res.body.toString('utf8')).openapi).toMatch(/^3\./);
  });

  test('the payment WebSocket still connects: an unknown payment gets an error, then close 4404', async () => {
    const socket = await connectPaymentSocket(app, 'pay_000000000000000000000000');
    const error = await socket.next((m) => m.type === 'error');
    expect(error).toMatchObject({ paymentId: 'pay_000000000000000000000000', data: { code: 'not_found' } });
    expect(await socket.closed).toEqual({ code: 4404, reason: 'unknown payment' });
  });
});
