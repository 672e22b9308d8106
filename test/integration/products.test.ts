// Products (seed 003's product selection): an admin keeps the list, the public reads the active ones, and a checkout
// session made for a product takes its price (in the token the payer picks), name and description, and says which
// product it was. Bad input changes nothing.
import { randomUUID } from 'node:crypto';
import { TEST_KEYS, type TestApp } from '../support/app';
import { FAST_CHECKOUT, givenPayment } from '../support/checkout';
import { useWorkerAndApp } from '../support/suites';

let app: TestApp;
useWorkerAndApp((a) => (app = a), { checkout: FAST_CHECKOUT });

const productId = () => `p-${randomUUID().slice(0, 8)}`;
const putProduct = (id: string, body: unknown, key?: string | null) => app.api(`/api/v1/products/${id}`, { method: 'PUT', body, key });
const listed = async () => (await app.api('/api/v1/products', { key: null })).body.data as { id: string; price: string }[];
const sessions = async () => Number((await app.db('checkout_sessions').count({ n: '*' }))[0].n);
const products = () => app.db('products').orderBy('id').select('id', 'name', 'description', 'price', 'active');

async function givenProduct(price: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const id = productId();
  const res = await putProduct(id, { name: `Product ${id}`, description: 'Roasted this week', price, ...overrides });
  if (res.status !== 201) throw new Error(`PUT /api/v1/products/${id} answered ${res.status}: ${res.text}`);
  return id;
}

describe('products', () => {
  it('are created and changed by an admin, the same again is 200, and only the active ones are listed', async () => {
    const id = productId();
    const body = { name: 'Coffee beans, 1 kg', description: 'Single origin', price: '6.50' };
    const created = await putProduct(id, body);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ object: 'product', id, name: 'Coffee beans, 1 kg', description: 'Single origin', price: '6.5', active: true });
    const again = await putProduct(id, body);
    expect([again.status, again.body]).toEqual([200, created.body]);
    expect((await putProduct(id, { ...body, price: 7 })).body.price).toBe('7');
    expect((await listed()).find((p) => p.id === id)).toEqual({ ...created.body, price: '7' });

    expect((await putProduct(id, { ...body, active: false })).status).toBe(200);
    expect((await listed()).map((p) => p.id)).not.toContain(id);
  });

  it('make a session that takes the price, name and description, in the token picked, and says which product', async () => {
    const id = await givenProduct('6.5');
    const inUsdt = await givenPayment(app, { productId: id });
    expect(inUsdt).toMatchObject({ productId: id, productName: `Product ${id}`, description: 'Roasted this week', token: 'USDT', amount: '6.5', amountUnits: '6500000' });
    const inDai = await givenPayment(app, { productId: id, token: 'DAI' });
    expect(inDai).toMatchObject({ productId: id, token: 'DAI', amount: '6.5', amountUnits: '6500000000000000000' });
    // A session keeps the price it was made with
    await putProduct(id, { name: `Product ${id}`, price: '9' });
    expect((await app.api(`/api/v1/payments/${inUsdt.id}`, { key: null })).body).toMatchObject({ amount: '6.5', productId: id });
    // A session for an amount names no product
    expect((await givenPayment(app, { amount: '1' })).productId).toBeNull();
  });

  it('answer the same session to the same Idempotency-Key, and 409 to the same key for another product', async () => {
    const [first, second] = [await givenProduct('3'), await givenProduct('3')];
    const headers = { 'idempotency-key': `product-${randomUUID()}` };
    const body = { productId: first, token: 'USDT', network: 'local' };
    const made = await app.api('/api/v1/payments', { key: null, body, headers });
    const again = await app.api('/api/v1/payments', { key: null, body, headers });
    expect([made.status, again.status, again.body.id]).toEqual([201, 200, made.body.id]);
    const other = await app.api('/api/v1/payments', { key: null, body: { ...body, productId: second }, headers });
    expect([other.status, other.body.error.code]).toEqual([409, 'idempotency_conflict']);
  });

  it('refuse a session for an unknown or inactive product, both or neither of amount and product, or a price the token cannot hold', async () => {
    const inactive = await givenProduct('2', { active: false });
    const precise = await givenProduct('1.1234567');
    const cases = [
      ['unknown product', { productId: 'no-such-product' }, 422, 'unknown_product'],
      ['inactive product', { productId: inactive }, 422, 'unknown_product'],
      ['amount and product', { productId: precise, amount: '1' }, 400, 'invalid_request'],
      ['neither', {}, 400, 'invalid_request'],
      ['a product with a name of its own', { productId: precise, productName: 'Other' }, 400, 'invalid_request'],
      ['7 places in USDT (6)', { productId: precise }, 400, 'too_many_decimals'],
    ] as const;
    const before = await sessions();
    for (const [what, request, status, code] of cases) {
      const res = await app.api('/api/v1/payments', { key: null, body: { token: 'USDT', network: 'local', ...request }, headers: { 'idempotency-key': `bad-${randomUUID()}` } });
      expect({ what, status: res.status, code: res.body.error?.code }).toEqual({ what, status, code });
    }
    expect(await sessions()).toBe(before);
    // The same price in an 18-decimal token is fine
    expect((await givenPayment(app, { productId: precise, token: 'DAI' })).amount).toBe('1.1234567');
  });

  it('refuse bad product input with 400, a key without the admin scope with 403 and no key with 401, and change nothing', async () => {
    const before = await products();
    const ok = { name: 'Tea', price: '4' };
    const cases = [
      ['price zero', 'tea', { ...ok, price: '0' }, 'invalid_amount'],
      ['price negative', 'tea', { ...ok, price: '-1' }, 'invalid_amount'],
      ['price as words', 'tea', { ...ok, price: 'four' }, 'invalid_amount'],
      ['price with 19 places', 'tea', { ...ok, price: '1.0000000000000000001' }, 'too_many_decimals'],
      ['price with 21 digits', 'tea', { ...ok, price: '100000000000000000000' }, 'invalid_amount'],
      ['no name', 'tea', { price: '4' }, 'invalid_request'],
      ['a field it does not know', 'tea', { ...ok, currency: 'USD' }, 'invalid_request'],
      ['an id with a space', 'Green%20tea', ok, 'invalid_request'],
    ] as const;
    for (const [what, id, body, code] of cases) {
      const res = await putProduct(id, body);
      expect({ what, status: res.status, code: res.body.error?.code }).toEqual({ what, status: 400, code });
    }
    expect((await putProduct('tea', ok, TEST_KEYS.read)).status).toBe(403);
    expect((await putProduct('tea', ok, null)).status).toBe(401);
    expect(await products()).toEqual(before);
  });
});
