// Donations end to end: the API creates the order and its QR at the gateway (the sandbox, over real HTTP with real
// signatures), the buyer pays at the gateway, the notify (or the poll) makes it paid: one ledger credit, one ranking
// increment, however the gateway misbehaves. Bad input and forged callbacks change nothing.
import { randomUUID } from 'node:crypto';
import { checkInvariants, getBalances } from '../../db/ledger';
import { startTestApp, type TestApp } from '../support/app';
import { alipaySandbox } from '../support/alipay-sandbox';
import { countDonations, donationReaches, givenDonation, ledgerTransfersOf, payAtGateway, rankingRow } from '../support/donations';
import { givenUser } from '../support/ledger';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';
import { wechatSandbox } from '../support/wechat-sandbox';

// Gateway calls give up after 2 s here, so that the timeout tests are quick (the sandbox answers in ~5 ms).
process.env.GATEWAY_TIMEOUT_MS = '2000';

let app: TestApp;
useWorkerAndApp((a) => (app = a), { donations: { pollInitialMs: 300, pollMaxMs: 1_000 } });

beforeEach(async () => {
  await Promise.all([alipaySandbox.reset(), wechatSandbox.reset()]);
});
afterEach(async () => {
  const report = await checkInvariants(app.db);
  expect(report.violations).toEqual([]);
});

describe.each(['alipay', 'wechat'] as const)('a donation paid with %s', (method) => {
  it('shows its QR, turns paid on the gateway notify, credits the category once and ranks the donor', async () => {
    const uid = await givenUser(app.db);
    const before = await getBalances(app.db, ['donations:education'], 'CNY');
    const donation = await givenDonation(app, { method, category: 'education', amount: '12.34', uid, name: 'Ada' });
    expect(donation).toMatchObject({ status: 'pending', method, amount: '12.34' });
    expect(donation.qrContent).toMatch(method === 'alipay' ? /^https:\/\/qr\.alipay\.com\// : /^weixin:\/\/wxpay\//);

    const png = await fetch(`${app.baseUrl}/api/v1/donations/${donation.orderNo}/qr.png`);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect((await png.arrayBuffer()).byteLength).toBeGreaterThan(200);

    await payAtGateway(method, donation.orderNo);
    const paid = await donationReaches(app, donation.orderNo, ['paid']);
    expect(paid.paidAt).not.toBeNull();

    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toEqual([{ id: `donation:${donation.orderNo}`, amount: expect.any(String), state: 'posted' }]);
    const after = await getBalances(app.db, ['donations:education'], 'CNY');
    expect(Number(after[0].balance) - Number(before[0]?.balance ?? 0)).toBeCloseTo(12.34, 2);
    expect(await rankingRow(app.db, `uid:${uid}`, 'education')).toMatchObject({ donations: 1 });

    const ranking = await app.api('/api/v1/rankings?category=education&range=today&pageSize=100', { key: null });
    expect(ranking.body.data).toEqual(expect.arrayContaining([expect.objectContaining({ uid, name: 'Ada', total: '12.34', count: 1 })]));
  });
});

describe('exactly once', () => {
  it('counts a payment once when the gateway notifies five times', async () => {
    const uid = await givenUser(app.db);
    await alipaySandbox.configure({ notify: { mode: 'duplicate', copies: 5 } });
    const donation = await givenDonation(app, { uid, amount: '5.00' });
    await payAtGateway('alipay', donation.orderNo);
    await donationReaches(app, donation.orderNo, ['paid']);
    await waitFor('all five notifies to be answered', async () => (await alipaySandbox.trade(donation.orderNo)).notifies.length >= 5);

    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(1);
    expect(await rankingRow(app.db, `uid:${uid}`)).toMatchObject({ donations: 1, total: expect.stringMatching(/^5\.0+$/) });
  });

  it('finds the payment by polling when the notify is lost', async () => {
    await wechatSandbox.configure({ notify: { mode: 'lost' } });
    const uid = await givenUser(app.db);
    const donation = await givenDonation(app, { method: 'wechat', uid, amount: '8.00' });
    await payAtGateway('wechat', donation.orderNo);
    await donationReaches(app, donation.orderNo, ['paid']);
    expect((await wechatSandbox.trade(donation.orderNo)).callbackAttempts).toHaveLength(0);
    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(1);
    expect(await rankingRow(app.db, `uid:${uid}`)).toMatchObject({ donations: 1 });
  });

  it('counts once when the notify and the poll both report the payment', async () => {
    await alipaySandbox.configure({ notify: { mode: 'delayed', delayMs: 1_500 } });
    const uid = await givenUser(app.db);
    const donation = await givenDonation(app, { uid, amount: '3.00' });
    await payAtGateway('alipay', donation.orderNo);
    await donationReaches(app, donation.orderNo, ['paid']); // the poll (every ≤1 s) sees it first
    await waitFor('the delayed notify to be answered', async () => (await alipaySandbox.trade(donation.orderNo)).notifies.some((a: { acknowledged: boolean }) => a.acknowledged));
    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(1);
    expect(await rankingRow(app.db, `uid:${uid}`)).toMatchObject({ donations: 1 });
  });

  it('gives the same order for the same Idempotency-Key and refuses the key for another body', async () => {
    const key = `don-${randomUUID()}`;
    const first = await givenDonation(app, { amount: '1.00' }, key);
    const again = await app.api('/api/v1/donations', { key: null, headers: { 'idempotency-key': key }, body: { category: 'general', amount: '1.00', method: 'alipay' } });
    expect(again.status).toBe(200);
    expect(again.body.orderNo).toBe(first.orderNo);
    const other = await app.api('/api/v1/donations', { key: null, headers: { 'idempotency-key': key }, body: { category: 'general', amount: '2.00', method: 'alipay' } });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
  });
});

describe('bad input starts nothing', () => {
  const cases: [string, Record<string, unknown>, number, string][] = [
    ['an unknown category', { category: 'no-such-thing' }, 422, 'unknown_category'],
    ['more than 2 decimals', { amount: '1.001' }, 400, 'too_many_decimals'],
    ['a negative amount', { amount: '-1.00' }, 400, 'invalid_amount'],
    ['an amount above the limit', { amount: '50000.01' }, 422, 'amount_out_of_limits'],
    ['an amount below the limit', { amount: '0.00' }, 400, 'invalid_amount'],
    ['an unknown method', { method: 'paypal' }, 400, 'invalid_request'],
    ['an unknown donor', { uid: 999_999_999_999 }, 422, 'unknown_user'],
    ['an openid that never logged in', { openid: 'o-never-seen' }, 422, 'unknown_user'],
  ];
  it.each(cases)('refuses %s', async (_what, patch, status, code) => {
    const before = await countDonations(app.db);
    const res = await app.api('/api/v1/donations', { key: null, body: { category: 'general', amount: '10.00', method: 'alipay', ...patch } });
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
    expect(await countDonations(app.db)).toBe(before);
  });

  it('refuses a disabled method', async () => {
    const off = await app.api('/api/v1/payment-configs/wechat', { method: 'PUT', body: { enabled: false } });
    expect(off.status).toBe(200);
    try {
      const before = await countDonations(app.db);
      const res = await app.api('/api/v1/donations', { key: null, body: { category: 'general', amount: '10.00', method: 'wechat' } });
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('method_disabled');
      expect(await countDonations(app.db)).toBe(before);
    } finally {
      await app.api('/api/v1/payment-configs/wechat', { method: 'PUT', body: { enabled: true } });
    }
  });
});

describe('the gateway failing', () => {
  it('retries a precreate through transient 5xx and gives a clear 503 when the gateway never recovers', async () => {
    await alipaySandbox.configure({ behaviour: { failureRate: 1 } });
    const res = await app.api('/api/v1/donations', { key: null, body: { category: 'general', amount: '10.00', method: 'alipay' } });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('gateway_unavailable');
    const stats = await alipaySandbox.stats();
    expect(stats.transientFailures).toBeGreaterThanOrEqual(4);
  });

  it('retries a precreate whose answers time out, and gets the QR the gateway made once', async () => {
    // The first two answers are held past the client's timeout: the trade was made but its QR never came back.
    await wechatSandbox.configure({ behaviour: { lostResponseRate: 1, lostResponseMode: 'delay', lostResponseDelayMs: 5_000 } });
    const pending = app.api('/api/v1/donations', { key: null, body: { category: 'general', amount: '3.30', method: 'wechat' } });
    await new Promise((r) => setTimeout(r, 3_000));
    await wechatSandbox.configure({ behaviour: { lostResponseRate: 0 } });
    const res = await pending;
    expect(res.status).toBe(201);
    expect(res.body.qrContent).toMatch(/^weixin:\/\/wxpay\//);
    const stats = await wechatSandbox.stats();
    expect(stats.lostResponses).toBeGreaterThanOrEqual(1);
  });

  it('gets the QR when the gateway recovers within the retries', async () => {
    await alipaySandbox.configure({ behaviour: { failureRate: 0.5, seed: 7 } });
    const donation = await givenDonation(app, { amount: '2.00' });
    expect(donation.qrContent).toBeTruthy();
  });
});

describe('forged callbacks', () => {
  it('refuses a callback with a bad signature and changes nothing', async () => {
    const donation = await givenDonation(app, { amount: '4.00' });
    const body = new URLSearchParams({
      app_id: (await alipaySandbox.merchant()).appId,
      out_trade_no: donation.orderNo,
      trade_no: '2026112100000001',
      trade_status: 'TRADE_SUCCESS',
      total_amount: '4.00',
      gmt_payment: '2026-11-21 10:00:00',
      notify_id: 'forged',
      sign_type: 'RSA2',
      sign: Buffer.from('not a signature').toString('base64'),
    }).toString();
    const res = await fetch(`${app.baseUrl}/api/v1/callbacks/alipay`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(await res.text()).not.toBe('success');
    const shown = await app.api(`/api/v1/donations/${donation.orderNo}`, { key: null });
    expect(shown.body.status).toBe('pending');
    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(0);
  });

  it('refuses a genuinely signed callback whose amount or order does not match', async () => {
    const donation = await givenDonation(app, { method: 'wechat', amount: '6.00' });
    const merchant = await wechatSandbox.merchant();
    const resource = (orderNo: string, total: number) => ({
      appid: merchant.appId,
      mchid: merchant.mchId,
      out_trade_no: orderNo,
      transaction_id: '4200000000202611210000000001',
      trade_type: 'NATIVE',
      trade_state: 'SUCCESS',
      success_time: '2026-11-21T18:00:00+08:00',
      payer: { openid: 'o-forger' },
      amount: { total, payer_total: total, currency: 'CNY', payer_currency: 'CNY' },
    });
    for (const forged of [resource(donation.orderNo, 1), resource('Dnosuchorder000000000000000000000', 600)]) {
      const callback = await wechatSandbox.signedCallback('TRANSACTION.SUCCESS', forged);
      const res = await fetch(`${app.baseUrl}/api/v1/callbacks/wechat`, { method: 'POST', headers: callback.headers, body: callback.body });
      expect(res.status).toBeGreaterThanOrEqual(400);
    }
    const shown = await app.api(`/api/v1/donations/${donation.orderNo}`, { key: null });
    expect(shown.body.status).toBe('pending');
    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(0);
  });
});

describe('expiry', () => {
  let shortLived: TestApp;
  beforeAll(async () => {
    // Orders that expire after 2.5 s, polled rarely, so that only the expiry path can settle them.
    shortLived = await startTestApp({ donations: { expiryMs: 2_500, pollInitialMs: 60_000, pollMaxMs: 60_000, lateWindowMs: 60_000 } });
  });
  afterAll(async () => shortLived?.close());

  it('closes the trade at the gateway and expires an unpaid order', async () => {
    const donation = await givenDonation(shortLived, { amount: '7.00' });
    await donationReaches(shortLived, donation.orderNo, ['expired']);
    expect((await alipaySandbox.trade(donation.orderNo)).status).toBe('TRADE_CLOSED');
    await expect(alipaySandbox.pay(donation.orderNo)).rejects.toThrow();
    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(0);
  });

  it('takes a payment the gateway reports at expiry as paid', async () => {
    await alipaySandbox.configure({ notify: { mode: 'lost' } });
    const donation = await givenDonation(shortLived, { amount: '7.50' });
    await payAtGateway('alipay', donation.orderNo);
    await donationReaches(shortLived, donation.orderNo, ['paid']);
    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(1);
  });

  it('records a payment reported after expiry as paid late, once', async () => {
    const uid = await givenUser(app.db);
    // The buyer pays; the notify comes late, and at expiry the gateway cannot be reached to query or close.
    await alipaySandbox.configure({ notify: { mode: 'delayed', delayMs: 15_000 } });
    const donation = await givenDonation(shortLived, { amount: '9.00', uid });
    await payAtGateway('alipay', donation.orderNo);
    await alipaySandbox.configure({ behaviour: { failureRate: 1 } });
    await donationReaches(shortLived, donation.orderNo, ['expired'], 30_000);
    await alipaySandbox.configure({ behaviour: { failureRate: 0 } });
    const late = await donationReaches(shortLived, donation.orderNo, ['paid_late'], 40_000);
    expect(late.paidAt).not.toBeNull();
    expect(await ledgerTransfersOf(app.db, donation.orderNo)).toHaveLength(1);
    expect(await rankingRow(app.db, `uid:${uid}`)).toMatchObject({ donations: 1 });
  });
});

describe('a WeChat donor', () => {
  it('logs in with a login code and donates as that user', async () => {
    const { code } = await wechatSandbox.loginCode();
    const login = await app.api('/api/v1/users/wechat', { key: null, body: { code } });
    expect(login.status).toBe(201);
    const donation = await givenDonation(app, { method: 'wechat', openid: login.body.openid, amount: '1.23', name: 'Wei' });
    await payAtGateway('wechat', donation.orderNo);
    const paid = await donationReaches(app, donation.orderNo, ['paid']);
    expect(paid.donor).toEqual({ uid: login.body.uid, name: 'Wei' });
    expect(await rankingRow(app.db, `uid:${login.body.uid}`)).toMatchObject({ donations: 1 });
  });
});
