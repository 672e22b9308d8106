// The donation admin side through real HTTP: categories, payment configs (credentials sealed, never echoed), the
// public list of payment methods, WeChat login → user, and the local stack's provisioning of the sandbox merchant.
import { randomBytes } from 'node:crypto';
import type { PaymentMethod } from '../../activities/providers/donation-gateway';
import { getCategory } from '../../db/categories';
import { loadPaymentConfig, savePaymentConfig } from '../../db/payment-configs';
import { open } from '../../db/secret-box';
import { uidForOpenid, WECHAT_UID_BASE } from '../../db/wechat-users';
import { userAccount } from '../../domain/ledger';
import { provisionSandboxGateways } from '../../scripts/stack/provision-gateways';
import { alipaySandbox } from '../support/alipay-sandbox';
import { startTestApp, TEST_KEYS, type TestApp } from '../support/app';
import { sandboxUrl } from '../support/sandbox';
import { wechatSandbox } from '../support/wechat-sandbox';

let app: TestApp;
let savedConfigs: Record<string, unknown>[];
const createdCategories: string[] = [];

beforeAll(async () => {
  app = await startTestApp();
  // Other suites pay through the provisioned configs: whatever this file changes is put back afterwards.
  savedConfigs = await app.db('payment_configs').select('method', 'enabled', 'min_amount', 'max_amount', 'credentials_sealed', 'credentials_key_id');
});

afterAll(async () => {
  await app.db('payment_configs').delete();
  if (savedConfigs.length) await app.db('payment_configs').insert(savedConfigs);
  if (createdCategories.length) await app.db('donation_categories').whereIn('id', createdCategories).delete();
  await app.close();
});

const keys = () => app.config.secrets.keys;
const rawConfig = (method: PaymentMethod) => app.db('payment_configs').where({ method }).first();
const newCategoryId = () => {
  const id = `t-${randomBytes(6).toString('hex')}`;
  createdCategories.push(id);
  return id;
};
const putConfig = (method: string, body: unknown, key: string | null = TEST_KEYS.admin) => app.api(`/api/v1/payment-configs/${method}`, { method: 'PUT', body, key });
const FAKE_PEM = `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(80)}\n-----END PRIVATE KEY-----`;
const count = async (query: Promise<Record<string, unknown>[]>) => Number(Object.values((await query)[0])[0]);
const login = (code: unknown) => app.api('/api/v1/users/wechat', { body: { code }, key: null });

/** Runs `fn` with a method's stored config row removed, and puts the row back whatever happens. */
async function withoutConfig(method: PaymentMethod, fn: () => Promise<void>): Promise<void> {
  const row = await app.db('payment_configs').where({ method }).first('method', 'enabled', 'min_amount', 'max_amount', 'credentials_sealed', 'credentials_key_id');
  await app.db('payment_configs').where({ method }).delete();
  try {
    await fn();
  } finally {
    await app.db('payment_configs').where({ method }).delete();
    if (row) await app.db('payment_configs').insert(row);
  }
}

describe('categories', () => {
  test('anyone lists the active categories in display order, with only their id, name and description', async () => {
    const res = await app.api('/api/v1/categories', { key: null });
    expect(res.status).toBe(200);
    // Other test files add categories of their own to the shared database: the seeded ones keep their relative order.
    const seeded = ['general', 'education', 'medical'];
    const ids = res.body.data.map((c: { id: string }) => c.id);
    expect(ids.filter((id: string) => seeded.includes(id))).toEqual(seeded);
    expect(res.body.data.find((c: { id: string }) => c.id === 'general')).toEqual({ id: 'general', name: '综合捐赠 General', description: 'Where the need is greatest' });
  });

  test('an admin creates a category (201), changes some fields and keeps the rest (200), and an inactive one leaves the list', async () => {
    // given
    const id = newCategoryId();
    // when
    const created = await app.api(`/api/v1/categories/${id}`, { method: 'PUT', body: { name: '赈灾 Disaster relief', description: 'Floods and earthquakes', sortOrder: 2 } });
    // then
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'category', id, name: '赈灾 Disaster relief', description: 'Floods and earthquakes', active: true, sortOrder: 2 });
    let ids = (await app.api('/api/v1/categories', { key: null })).body.data.map((c: { id: string }) => c.id);
    expect(ids.indexOf(id)).toBeGreaterThan(ids.indexOf('general'));
    expect(ids.indexOf(id)).toBeLessThan(ids.indexOf('medical'));

    // when it is deactivated
    const changed = await app.api(`/api/v1/categories/${id}`, { method: 'PUT', body: { name: 'Disaster relief', active: false } });
    // then the other fields stay and donors no longer see it
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id, name: 'Disaster relief', description: 'Floods and earthquakes', active: false, sortOrder: 2 });
    ids = (await app.api('/api/v1/categories', { key: null })).body.data.map((c: { id: string }) => c.id);
    expect(ids).not.toContain(id);
    expect(await getCategory(app.db, id)).toMatchObject({ active: false });
  });

  test('changing a category needs the admin scope', async () => {
    const id = newCategoryId();
    const body = { name: 'Nope' };
    expect((await app.api(`/api/v1/categories/${id}`, { method: 'PUT', body, key: null })).status).toBe(401);
    const forbidden = await app.api(`/api/v1/categories/${id}`, { method: 'PUT', body, key: TEST_KEYS.write });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.code).toBe('forbidden');
    expect(await getCategory(app.db, id)).toBeUndefined();
  });

  test.each([
    ['no name', 'ok-id', {}],
    ['an empty name', 'ok-id', { name: '  ' }],
    ['a name too long', 'ok-id', { name: 'x'.repeat(65) }],
    ['an unknown field', 'ok-id', { name: 'A', colour: 'red' }],
    ['a fractional sortOrder', 'ok-id', { name: 'A', sortOrder: 1.5 }],
    ['an id with spaces', 'Bad Id', { name: 'A' }],
  ])('refuses %s with 400 invalid_request and creates nothing', async (_case, idBase, body) => {
    const id = idBase === 'ok-id' ? newCategoryId() : idBase;
    const res = await app.api(`/api/v1/categories/${encodeURIComponent(id)}`, { method: 'PUT', body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect(await getCategory(app.db, id)).toBeUndefined();
  });
});

describe('payment configs', () => {
  test('the local stack starts with both sandbox merchants configured and enabled from 0.01 to 50000.00', async () => {
    const res = await app.api('/api/v1/payment-configs');
    expect(res.status).toBe(200);
    const [alipay, wechat] = res.body.data;
    const alipayMerchant = await alipaySandbox.merchant();
    const wechatMerchant = await wechatSandbox.merchant();
    expect(alipay).toMatchObject({
      object: 'payment_config',
      method: 'alipay',
      enabled: true,
      minAmount: '0.01',
      maxAmount: '50000.00',
      hasCredentials: true,
      credentials: { appId: alipayMerchant.appId, gatewayUrl: alipayMerchant.gatewayUrl, appKeyFingerprint: expect.stringMatching(/^SHA256:/) },
    });
    expect(wechat).toMatchObject({
      method: 'wechat',
      enabled: true,
      hasCredentials: true,
      credentials: { mchId: wechatMerchant.mchId, appId: wechatMerchant.appId, merchantSerialNo: wechatMerchant.merchantSerialNo, loginBaseUrl: wechatMerchant.loginBaseUrl },
    });
    // No secret, in any form, is in the answer.
    expect(res.text).not.toMatch(/PRIVATE KEY|appPrivateKey|appSecret|apiV3Key/);
    for (const secret of [wechatMerchant.appSecret, wechatMerchant.apiV3Key]) expect(res.text).not.toContain(secret);
  });

  test('an admin changes limits and credentials; the answer never echoes a secret and the column holds only sealed text', async () => {
    // given the sandbox merchant's credentials
    const credentials = await alipaySandbox.merchant();
    // when
    const res = await putConfig('alipay', { minAmount: '1.00', maxAmount: 200, credentials });
    // then
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'alipay', enabled: true, minAmount: '1.00', maxAmount: '200.00', hasCredentials: true });
    expect(res.text).not.toMatch(/PRIVATE KEY|BEGIN PUBLIC KEY/);
    expect((await app.api('/api/v1/payment-configs')).body.data[0]).toEqual(res.body);

    const row = await rawConfig('alipay');
    expect(row.credentials_sealed).toMatch(/^v1\.[A-Za-z0-9_-]+\./);
    expect(row.credentials_sealed).not.toContain(credentials.appId);
    expect(row.credentials_sealed).not.toContain('PRIVATE KEY');
    expect(row.credentials_key_id).toBe(keys()[0].id);
    expect(JSON.parse(open(row.credentials_sealed, keys()))).toEqual(credentials);
    expect((await loadPaymentConfig(app.db, keys(), 'alipay'))?.credentials).toEqual(credentials);

    // and a later change of limits keeps the credentials
    const limits = await putConfig('alipay', { minAmount: '0.01', maxAmount: '50000' });
    expect(limits.body).toMatchObject({ minAmount: '0.01', maxAmount: '50000.00', hasCredentials: true });
    expect((await rawConfig('alipay')).credentials_sealed).toBe(row.credentials_sealed);
  });

  test('every save moves updatedAt forward, however quickly they follow each other', async () => {
    const times: string[] = [];
    for (let i = 0; i < 5; i++) times.push((await putConfig('wechat', { maxAmount: '50000.00' })).body.updatedAt);
    expect(new Set(times).size).toBe(5);
    expect([...times].sort()).toEqual(times);
  });

  test.each([
    ['minAmount above maxAmount', 'invalid_amount', { minAmount: '100', maxAmount: '10' }],
    ['minAmount above the stored maxAmount', 'invalid_amount', { minAmount: '60000' }],
    ['a zero minAmount', 'invalid_amount', { minAmount: '0' }],
    ['a negative maxAmount', 'invalid_amount', { maxAmount: '-5' }],
    ['three decimals', 'too_many_decimals', { minAmount: '0.001' }],
    ['a limit that is not a number', 'invalid_amount', { maxAmount: 'lots' }],
    ['an inexact JSON number', 'amount_not_exact', '{"maxAmount": 12345678901234567.89}'],
    ['enabled as a string', 'invalid_request', { enabled: 'yes' }],
    ['an unknown field', 'invalid_request', { enable: true }],
    ['nothing to change', 'invalid_request', {}],
    ['credentials missing a field', 'invalid_request', { credentials: { appId: '2021000000000001', gatewayUrl: 'https://openapi.alipay.com/gateway.do' } }],
    ['a key that only looks like PEM', 'invalid_request', async () => ({ credentials: { ...(await alipaySandbox.merchant()), appPrivateKey: FAKE_PEM } })],
    ["WeChat's credentials for Alipay", 'invalid_request', async () => ({ credentials: await wechatSandbox.merchant() })],
  ])('refuses %s with 400 %s and changes nothing', async (_case, code, input) => {
    // given
    const before = await rawConfig('alipay');
    const body = typeof input === 'function' ? await input() : input;
    // when
    const res = await putConfig('alipay', body);
    // then
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.text).not.toContain('PRIVATE KEY-----');
    expect(await rawConfig('alipay')).toEqual(before);
  });

  test('an unknown method is 404', async () => {
    const res = await putConfig('paypal', { enabled: false });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });

  test('a method cannot be enabled before it has credentials; limits alone make a disabled config', async () => {
    await withoutConfig('wechat', async () => {
      const refused = await putConfig('wechat', { enabled: true });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toMatch(/without credentials/);
      expect(await rawConfig('wechat')).toBeUndefined();

      const limits = await putConfig('wechat', { minAmount: '5', maxAmount: '500' });
      expect(limits.status).toBe(200);
      expect(limits.body).toMatchObject({ method: 'wechat', enabled: false, minAmount: '5.00', maxAmount: '500.00', hasCredentials: false, credentials: null });
    });
  });

  test('reading or changing payment configs needs the admin scope', async () => {
    expect((await app.api('/api/v1/payment-configs', { key: null })).status).toBe(401);
    expect((await app.api('/api/v1/payment-configs', { key: TEST_KEYS.read })).status).toBe(403);
    const before = await rawConfig('alipay');
    expect((await putConfig('alipay', { enabled: false }, null)).status).toBe(401);
    expect((await putConfig('alipay', { enabled: false }, TEST_KEYS.write)).status).toBe(403);
    expect(await rawConfig('alipay')).toEqual(before);
  });
});

describe('GET /api/v1/payment-methods', () => {
  const methods = async () => {
    const res = await app.api('/api/v1/payment-methods', { key: null });
    expect(res.status).toBe(200);
    return res.body.data;
  };

  test('lists, to anyone, the enabled methods that have credentials, with their limits', async () => {
    expect(await methods()).toEqual([
      { method: 'alipay', minAmount: '0.01', maxAmount: '50000.00' },
      { method: 'wechat', minAmount: '0.01', maxAmount: '50000.00' },
    ]);
  });

  test('leaves out a disabled method and one without credentials', async () => {
    await putConfig('alipay', { enabled: false });
    try {
      expect((await methods()).map((m: { method: string }) => m.method)).toEqual(['wechat']);
      await withoutConfig('wechat', async () => {
        await putConfig('wechat', { minAmount: '1' });
        expect(await methods()).toEqual([]);
      });
    } finally {
      await putConfig('alipay', { enabled: true });
    }
    expect((await methods()).map((m: { method: string }) => m.method)).toEqual(['alipay', 'wechat']);
  });
});

describe('POST /api/v1/users/wechat', () => {
  test('registers the user with an account on the first login (201) and returns the same uid afterwards (200)', async () => {
    // given a new WeChat user's login code
    const first = await wechatSandbox.loginCode();
    // when
    const created = await login(first.code);
    // then
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ object: 'wechat_user', uid: expect.any(Number), openid: first.openid, created: true });
    const { uid } = created.body;
    expect(uid).toBeGreaterThan(WECHAT_UID_BASE);
    expect(await app.db('users').where({ uid }).first()).toBeDefined();
    expect(await app.db('accounts').where({ code: userAccount(uid), currency: 'CNY' }).first()).toBeDefined();
    expect(await uidForOpenid(app.db, first.openid)).toBe(uid);

    // when the same user logs in again with a new code
    const again = await login((await wechatSandbox.loginCode(first.openid)).code);
    // then
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ object: 'wechat_user', uid, openid: first.openid, created: false });
  });

  test('concurrent first logins of one user register one user', async () => {
    // given ten codes of one new user
    const { openid } = await wechatSandbox.loginCode();
    const codes = await Promise.all(Array.from({ length: 10 }, () => wechatSandbox.loginCode(openid)));
    // when all are exchanged at once
    const responses = await Promise.all(codes.map((c) => login(c.code)));
    // then one registered the user, every one names the same uid
    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    expect(new Set(responses.map((r) => r.body.uid)).size).toBe(1);
    expect(await count(app.db('wechat_users').where({ openid }).count({ n: '*' }))).toBe(1);
    expect(await count(app.db('users').where({ uid: responses[0].body.uid }).count({ n: '*' }))).toBe(1);
  });

  test('keeps the unionid WeChat gives', async () => {
    const unionid = `u${randomBytes(10).toString('hex')}`;
    const { code, openid } = await wechatSandbox.loginCode(undefined, unionid);
    expect((await login(code)).status).toBe(201);
    expect(await app.db('wechat_users').where({ openid }).first('unionid')).toEqual({ unionid });
  });

  test('refuses a used or unknown code with 422 invalid_login_code and registers nobody', async () => {
    const { code, openid } = await wechatSandbox.loginCode();
    expect((await login(code)).status).toBe(201);
    const users = await count(app.db('wechat_users').count({ n: '*' }));

    const reused = await login(code);
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ code: 'invalid_login_code', message: expect.stringMatching(/unknown, expired or already used/) });
    const unknown = await login('never-issued-code');
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.code).toBe('invalid_login_code');
    expect(await count(app.db('wechat_users').count({ n: '*' }))).toBe(users);
    expect(await uidForOpenid(app.db, openid)).toBeGreaterThan(WECHAT_UID_BASE);
  });

  test.each([
    ['no code', {}],
    ['an empty code', { code: '' }],
    ['a numeric code', { code: 12345 }],
  ])('refuses %s with 400 invalid_request', async (_case, body) => {
    const res = await app.api('/api/v1/users/wechat', { body, key: null });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
  });

  test('says clearly that WeChat login is not configured when the wechat config has no credentials', async () => {
    const { code } = await wechatSandbox.loginCode();
    await withoutConfig('wechat', async () => {
      const res = await login(code);
      expect(res.status).toBe(422);
      expect(res.body.error).toMatchObject({ code: 'method_disabled', message: expect.stringMatching(/WeChat login is not configured/) });
    });
  });
});

describe('provisioning the sandbox merchants', () => {
  test('stores and enables both merchants on an empty table, and changes nothing the second time', async () => {
    await withoutConfig('alipay', () =>
      withoutConfig('wechat', async () => {
        const first = await provisionSandboxGateways(app.db, keys(), sandboxUrl());
        expect(first.map((r) => r.outcome)).toEqual(['provisioned', 'provisioned']);
        expect(await app.api('/api/v1/payment-methods', { key: null }).then((r) => r.body.data.length)).toBe(2);
        const row = await rawConfig('wechat');

        const second = await provisionSandboxGateways(app.db, keys(), sandboxUrl());
        expect(second.map((r) => r.outcome)).toEqual(['unchanged', 'unchanged']);
        expect(await rawConfig('wechat')).toEqual(row);
      }),
    );
  });

  test("keeps an operator's credentials for a real gateway, and the limits and switch an operator chose", async () => {
    await withoutConfig('alipay', async () => {
      // given an operator's production credentials, disabled, with their own limits
      const merchant = await alipaySandbox.merchant();
      const production = { ...merchant, gatewayUrl: 'https://openapi.alipay.com/gateway.do' };
      await savePaymentConfig(app.db, keys(), 'alipay', { enabled: false, minAmount: '2', maxAmount: '20', credentials: production });
      const before = await rawConfig('alipay');
      // when
      const [result] = await provisionSandboxGateways(app.db, keys(), sandboxUrl());
      // then
      expect(result).toEqual({ method: 'alipay', outcome: 'kept', reason: expect.stringContaining('https://openapi.alipay.com/gateway.do') });
      expect(await rawConfig('alipay')).toEqual(before);
    });
  });

  test('replaces stale sandbox credentials (another port) and leaves the switch and limits alone', async () => {
    await withoutConfig('alipay', async () => {
      const merchant = await alipaySandbox.merchant();
      await savePaymentConfig(app.db, keys(), 'alipay', { enabled: false, minAmount: '3', credentials: { ...merchant, gatewayUrl: 'http://127.0.0.1:1/alipay/gateway.do' } });
      const [result] = await provisionSandboxGateways(app.db, keys(), sandboxUrl());
      expect(result.outcome).toBe('refreshed');
      const stored = await loadPaymentConfig(app.db, keys(), 'alipay');
      expect(stored).toMatchObject({ enabled: false, minAmount: '3.00', credentials: merchant });
    });
  });
});
