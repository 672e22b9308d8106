// What every route shares: request ids, the error shape, auth, limits, health, metrics and the OpenAPI document.
import { randomUUID } from 'node:crypto';
import type express from 'express';
import pino from 'pino';
import { countTransfers } from '../../db/ledger';
import { transferWorkflowId } from '../../domain/transfer';
import { openApiPath } from '../../api/openapi';
import { batchBodyLimit } from '../../api/routes/batch-payouts';
import { startTestApp, TEST_KEYS, type TestApp } from '../support/app';
import { givenUser } from '../support/ledger';

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(async () => {
  await app?.close();
});

interface Layer {
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** Every `METHOD /path` Express would route, read from the router stacks themselves. */
function expressRoutes(expressApp: express.Express): string[] {
  const walk = (stack: Layer[], prefix: string): string[] =>
    stack.flatMap((layer) => {
      if (layer.route) return Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${prefix}${layer.route!.path}`);
      if (layer.handle.stack) return walk(layer.handle.stack, prefix + (layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : ''));
      return [];
    });
  return walk((expressApp as unknown as { router: { stack: Layer[] } }).router.stack, '');
}

describe('the OpenAPI document', () => {
  test('documents every route registered in Express', async () => {
    const res = await app.api('/openapi.json', { key: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toMatch(/^3\./);
    const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const routes = expressRoutes(app.app).map((r) => openApiPath(r));
    expect(routes.length).toBeGreaterThanOrEqual(12);
    expect(routes.filter((r) => !documented.includes(r))).toEqual([]);
    expect(documented.filter((r) => !routes.includes(r))).toEqual([]);
  });

  test('describes request bodies with the schemas used for validation', async () => {
    const doc = (await app.api('/openapi.json', { key: null })).body;
    const op = doc.paths['/api/v1/transfers'].post;
    expect(op.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'idempotency-key', in: 'header', required: true })]));
    expect(doc.components.schemas.TransferRequest.required).toEqual(['sourceUid', 'targetUid', 'amount']);
    expect(doc.components.securitySchemes).toHaveProperty('bearerAuth');
  });

  test('Swagger UI at /docs serves HTML and its assets from the npm package', async () => {
    const page = await app.api('/docs', { key: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.text).toContain('swagger-ui-bundle.js');
    expect(page.text).not.toMatch(/https?:\/\/(cdn|unpkg)/);
    const bundle = await app.api('/docs/swagger-ui-bundle.js', { key: null });
    expect(bundle.status).toBe(200);
    const init = await app.api('/docs/swagger-ui-init.js', { key: null });
    expect(init.text).toContain('/openapi.json');
  });
});

describe('request ids', () => {
  test('echoes a sane incoming X-Request-Id in the header and the error body', async () => {
    const res = await app.api('/api/v1/nowhere', { headers: { 'x-request-id': 'trace-abc.123' } });
    expect(res.headers.get('x-request-id')).toBe('trace-abc.123');
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.any(String), requestId: 'trace-abc.123' } });
  });

  test('logs each request with its id, and never the API key or cookies', async () => {
    const lines: string[] = [];
    const logged = await startTestApp({ logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) });
    try {
      await logged.api('/api/v1/nowhere', { key: TEST_KEYS.admin, headers: { 'x-request-id': 'log-check-1', cookie: 'session=secret-cookie', 'x-api-key': TEST_KEYS.read } });
    } finally {
      await logged.close();
    }
    const line = lines.map((l) => JSON.parse(l)).find((l) => l.requestId === 'log-check-1');
    expect(line).toMatchObject({ requestId: 'log-check-1', res: { statusCode: 404 }, req: { method: 'GET', url: '/api/v1/nowhere' } });
    expect(line.req.headers).toBeUndefined();
    expect(lines.join('\n')).not.toContain(TEST_KEYS.admin);
    expect(lines.join('\n')).not.toContain('secret-cookie');
  });

  test('replaces an unreasonable X-Request-Id with a fresh uuid', async () => {
    const res = await app.api('/health', { key: null, headers: { 'x-request-id': 'x'.repeat(500) } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('errors', () => {
  test('malformed JSON is a 400 invalid_json in the /api/v1 shape', async () => {
    const res = await app.api('/api/v1/users', { body: '{"uid": 12,' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: { code: 'invalid_json', message: expect.any(String), requestId: res.headers.get('x-request-id') } });
  });

  test('an unknown route is a 404 not_found', async () => {
    const res = await app.api('/api/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('auth', () => {
  const body = { sourceUid: 1, targetUid: 2, amount: '1' };

  test('no key → 401 unauthorized; an unknown key → 401; nothing is started', async () => {
    const key = `auth-${randomUUID()}`;
    const none = await app.api('/api/v1/transfers', { key: null, body, headers: { 'idempotency-key': key } });
    const unknown = await app.api('/api/v1/transfers', { key: 'not_a_key_we_know_of_at_all', body, headers: { 'idempotency-key': key } });
    expect([none.status, none.body.error.code]).toEqual([401, 'unauthorized']);
    expect([unknown.status, unknown.body.error.code]).toEqual([401, 'unauthorized']);
    expect(await app.workflowExists(transferWorkflowId(key))).toBe(false);
  });

  test('a key without the scope → 403 forbidden', async () => {
    const res = await app.api('/api/v1/transfers', { key: TEST_KEYS.read, body, headers: { 'idempotency-key': `auth-${randomUUID()}` } });
    expect([res.status, res.body.error.code]).toEqual([403, 'forbidden']);
  });

  test('reads need transfers:read, which a write-only key lacks; admin may do everything', async () => {
    const uid = await givenUser(app.db);
    expect((await app.api(`/api/v1/balances?uids=${uid}`, { key: TEST_KEYS.write })).status).toBe(403);
    expect((await app.api(`/api/v1/balances?uids=${uid}`, { key: TEST_KEYS.read })).status).toBe(200);
    expect((await app.api(`/api/v1/balances?uids=${uid}`, { key: TEST_KEYS.admin })).status).toBe(200);
  });

  test('accepts the key in X-API-Key as well as Authorization: Bearer', async () => {
    const uid = await givenUser(app.db);
    const res = await app.api(`/api/v1/balances?uids=${uid}`, { key: null, headers: { 'x-api-key': TEST_KEYS.read } });
    expect(res.status).toBe(200);
  });

  test('every route checks the key before it reads the body: a body larger than any route takes is 401 without a key, 403 without the scope', async () => {
    const huge = 'x'.repeat(batchBodyLimit(app.config.batch.maxItems) + 1);
    const routes: [string, string][] = [['POST', '/api/v1/transfers'], ['POST', '/api/v1/credits'], ['POST', '/api/v1/users'], ['PUT', '/api/v1/batch-payouts/b1/limits']];
    for (const [method, path] of routes) {
      const none = await app.api(path, { method, key: null, body: huge });
      const readOnly = await app.api(path, { method, key: TEST_KEYS.read, body: huge });
      expect({ path, none: none.body.error.code, readOnly: readOnly.body.error.code }).toEqual({ path, none: 'unauthorized', readOnly: 'forbidden' });
    }
    // With the right key, the body is read, and the limit applies
    const tooLarge = await app.api('/api/v1/users', { body: huge });
    expect(tooLarge.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringContaining('too large') });
  });

  test('/health, /metrics, /openapi.json and /docs need no key', async () => {
    for (const path of ['/health', '/metrics', '/openapi.json', '/docs/']) {
      expect({ path, status: (await app.api(path, { key: null })).status }).toEqual({ path, status: 200 });
    }
  });
});

describe('limits', () => {
  test('more requests per second from one address than allowed → 429 rate_limited with Retry-After', async () => {
    const limited = await startTestApp({ api: { rateLimitPerSecond: 3 } });
    try {
      const answers = await Promise.all(Array.from({ length: 10 }, () => limited.api('/api/v1/nowhere')));
      const refused = answers.filter((r) => r.status === 429);
      expect(refused.length).toBeGreaterThanOrEqual(3);
      expect(refused[0].body.error.code).toBe('rate_limited');
      expect(Number(refused[0].headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      // On /onePass the refusal keeps the envelope.
      const onePass = await limited.api('/onePass/queryUserAmount', { body: [1] });
      if (onePass.status === 429) expect(onePass.body).toMatchObject({ code: 429, data: { error: 'rate_limited' } });
    } finally {
      await limited.close();
    }
  });

  test('more requests in flight than allowed → 503 overloaded, and nothing is written for the refused one', async () => {
    // A transfer on a task queue nobody polls stays in flight for transferWaitMs.
    const busy = await startTestApp({ api: { maxConcurrentRequests: 1, transferWaitMs: 1500 }, temporal: { taskQueue: `nobody-polls-${randomUUID()}` } });
    const source = await givenUser(app.db, { balance: '5' });
    const target = await givenUser(app.db);
    const slowKey = `busy-${randomUUID()}`;
    const refusedKey = `busy-${randomUUID()}`;
    try {
      const before = await countTransfers(app.db);
      const slow = busy.api('/api/v1/transfers', { body: { sourceUid: source, targetUid: target, amount: '1' }, headers: { 'idempotency-key': slowKey } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const refused = await busy.api('/api/v1/transfers', { body: { sourceUid: source, targetUid: target, amount: '1' }, headers: { 'idempotency-key': refusedKey } });

      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('overloaded');
      expect(await busy.workflowExists(transferWorkflowId(refusedKey))).toBe(false);
      expect((await slow).status).toBe(202);
      expect(await countTransfers(app.db)).toBe(before);
      // Once the first request is answered, the next one is served again.
      expect((await busy.api('/api/v1/nowhere')).status).toBe(404);
    } finally {
      await busy.client.workflow.getHandle(transferWorkflowId(slowKey)).terminate('test cleanup').catch(() => undefined);
      await busy.close();
    }
  });
});

describe('/health', () => {
  test('is healthy when the database and Temporal answer', async () => {
    const res = await app.api('/health', { key: null });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'healthy', service: 'durapay', timestamp: expect.any(Number), checks: { database: 'ok', temporal: 'ok' } });
    expect(Math.abs(res.body.timestamp - Date.now() / 1000)).toBeLessThan(60);
  });

  test('is 503 unhealthy when the database cannot be reached', async () => {
    const broken = await startTestApp({ db: { url: 'mysql://nobody:nothing@127.0.0.1:1/none' } });
    const knexLog = jest.spyOn(console, 'log').mockImplementation(() => undefined); // knex logs the refused connection
    try {
      const res = await broken.api('/health', { key: null });
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ status: 'unhealthy', checks: { database: 'error', temporal: 'ok' } });
    } finally {
      knexLog.mockRestore();
      await broken.close();
    }
  });
});

describe('/metrics', () => {
  test('exposes request counts by route template and default process metrics', async () => {
    const uid = await givenUser(app.db);
    await app.api(`/api/v1/balances?uids=${uid}`);
    const res = await app.api('/metrics', { key: null });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    expect(res.text).toMatch(/durapay_http_requests_total\{method="GET",route="\/api\/v1\/balances",status="200"\} \d+/);
    expect(res.text).toContain('durapay_http_request_duration_seconds_bucket');
    expect(res.text).toContain('durapay_workflows_started_total');
    expect(res.text).toContain('process_cpu_user_seconds_total');
  });

  test('exposes payouts and deposits by status and each scanner\'s last block, as the database has them', async () => {
    // A scanner's cursor of this test's own, so there is one row at least to see
    const cursor = { network_id: 'local', token_symbol: `M${Date.now() % 100000}`, chain_id: 31337, last_block: 12345, recent_blocks: '[]', version: 0 };
    await app.db('chain_scan_cursors').insert(cursor);
    let res;
    try {
      res = await app.api('/metrics', { key: null });
    } finally {
      await app.db('chain_scan_cursors').where({ network_id: 'local', token_symbol: cursor.token_symbol }).delete();
    }
    expect(res.text).toContain(`durapay_scanner_last_block{network="local",token="${cursor.token_symbol}"} 12345`);
    const payouts = (await app.db('withdrawals').groupBy('kind', 'status').select('kind', 'status', app.db.raw('COUNT(*) AS n'))) as { kind: string; status: string; n: string }[];
    for (const p of payouts) expect(res.text).toContain(`durapay_payouts{kind="${p.kind}",status="${p.status}"} ${p.n}`);
    const deposits = (await app.db('deposits').groupBy('status').select('status', app.db.raw('COUNT(*) AS n'))) as { status: string; n: string }[];
    for (const d of deposits) expect(res.text).toContain(`durapay_deposits{status="${d.status}"} ${d.n}`);
    const cursors = await app.db('chain_scan_cursors').select('network_id', 'token_symbol', 'last_block');
    for (const c of cursors) expect(res.text).toContain(`durapay_scanner_last_block{network="${c.network_id}",token="${c.token_symbol}"} ${c.last_block}`);
    expect(res.text).toContain('# TYPE durapay_payouts gauge');
  });
});
