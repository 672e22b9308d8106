// Refunds of paid donations through the gateway: partial and full, never more than was paid, each once; the hold on
// the category's account is posted when the gateway confirms and voided when it refuses; the ranking goes down.
import { randomUUID } from 'node:crypto';
import { checkInvariants, getBalances } from '../../db/ledger';
import type { TestApp } from '../support/app';
import { alipaySandbox } from '../support/alipay-sandbox';
import { donationReaches, givenDonation, payAtGateway, rankingRow } from '../support/donations';
import { givenUser } from '../support/ledger';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';
import { wechatSandbox } from '../support/wechat-sandbox';

let app: TestApp;
useWorkerAndApp((a) => (app = a), { donations: { pollInitialMs: 200, pollMaxMs: 500 } });

beforeEach(async () => {
  await Promise.all([alipaySandbox.reset(), wechatSandbox.reset()]);
});
afterEach(async () => {
  expect((await checkInvariants(app.db)).violations).toEqual([]);
});

async function givenPaidDonation(method: 'alipay' | 'wechat', amount: string, uid?: number) {
  const donation = await givenDonation(app, { method, amount, category: 'medical', uid });
  await payAtGateway(method, donation.orderNo);
  await donationReaches(app, donation.orderNo, ['paid']);
  return donation;
}

const refund = (orderNo: string, key: string, body: Record<string, unknown> = {}) =>
  app.api(`/api/v1/donations/${orderNo}/refunds`, { headers: { 'idempotency-key': key }, body });

async function refundSettles(refundNo: string) {
  return waitFor(`refund ${refundNo} to settle`, async () => {
    const res = await app.api(`/api/v1/refunds/${refundNo}`);
    return res.body.status !== 'processing' ? res.body : undefined;
  });
}

describe.each(['alipay', 'wechat'] as const)('refunds at %s', (method) => {
  it('refunds part, then the rest, each once, and refuses more than was paid', async () => {
    const uid = await givenUser(app.db);
    const donation = await givenPaidDonation(method, '20.00', uid);
    const [before] = await getBalances(app.db, ['donations:medical'], 'CNY');

    const first = await refund(donation.orderNo, `r1-${randomUUID()}`, { amount: '5.00', reason: 'donor asked' });
    expect([200, 202]).toContain(first.status);
    const firstDone = await refundSettles(first.body.refundNo);
    expect(firstDone).toMatchObject({ status: 'succeeded', amount: '5.00' });

    const tooMuch = await refund(donation.orderNo, `r2-${randomUUID()}`, { amount: '15.01' });
    expect(tooMuch.status).toBe(422);
    expect(tooMuch.body.error.code).toBe('refund_exceeds_paid');

    const rest = await refund(donation.orderNo, `r3-${randomUUID()}`); // everything left
    const restDone = await refundSettles(rest.body.refundNo);
    expect(restDone).toMatchObject({ status: 'succeeded', amount: '15.00' });

    const shown = await app.api(`/api/v1/donations/${donation.orderNo}`, { key: null });
    expect(shown.body.refundedAmount).toBe('20.00');
    const [after] = await getBalances(app.db, ['donations:medical'], 'CNY');
    expect(Number(before.balance) - Number(after.balance)).toBeCloseTo(20, 2);
    expect(await rankingRow(app.db, `uid:${uid}`, 'medical')).toMatchObject({ total: expect.stringMatching(/^0(\.0+)?$/) });
    const gatewayRefunded = method === 'alipay' ? (await alipaySandbox.trade(donation.orderNo)).refundedAmount : (await wechatSandbox.trade(donation.orderNo)).refunds.length;
    expect(gatewayRefunded).toBe(method === 'alipay' ? '20.00' : 2);
  });
});

it('gives the same refund for the same Idempotency-Key and refuses the key for another amount', async () => {
  const donation = await givenPaidDonation('alipay', '9.00');
  const key = `r-${randomUUID()}`;
  const first = await refund(donation.orderNo, key, { amount: '3.00' });
  await refundSettles(first.body.refundNo);
  const again = await refund(donation.orderNo, key, { amount: '3.00' });
  expect(again.status).toBe(200);
  expect(again.body.refundNo).toBe(first.body.refundNo);
  const other = await refund(donation.orderNo, key, { amount: '4.00' });
  expect(other.status).toBe(409);
  expect((await alipaySandbox.trade(donation.orderNo)).refunds).toHaveLength(1);
});

it('refuses to refund an unpaid donation, and bad input, starting nothing', async () => {
  const donation = await givenDonation(app, { amount: '2.00' });
  const unpaid = await refund(donation.orderNo, `r-${randomUUID()}`);
  expect(unpaid.status).toBe(409);
  expect(unpaid.body.error.code).toBe('donation_not_paid');
  const paid = await givenPaidDonation('alipay', '2.00');
  for (const [body, code] of [[{ amount: '0.001' }, 'too_many_decimals'], [{ amount: '-1' }, 'invalid_amount']] as const) {
    const res = await refund(paid.orderNo, `r-${randomUUID()}`, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
  }
  const noKey = await app.api(`/api/v1/donations/${paid.orderNo}/refunds`, { body: {} });
  expect(noKey.body.error.code).toBe('idempotency_key_missing');
  const notAdmin = await app.api(`/api/v1/donations/${paid.orderNo}/refunds`, { key: null, headers: { 'idempotency-key': 'x1' }, body: {} });
  expect(notAdmin.status).toBe(401);
  expect(await app.db('donation_refunds').where({ order_no: paid.orderNo }).first()).toBeUndefined();
});

it('voids the hold and keeps the ranking when the gateway refuses the refund', async () => {
  const uid = await givenUser(app.db);
  const donation = await givenPaidDonation('wechat', '6.00', uid);
  const [before] = await getBalances(app.db, ['donations:medical'], 'CNY');
  await wechatSandbox.reset(); // the gateway forgets the trade: it refuses any refund of it
  const res = await refund(donation.orderNo, `r-${randomUUID()}`);
  const done = await refundSettles(res.body.refundNo);
  expect(done.status).toBe('failed');
  expect(done.failureReason).toBeTruthy();
  expect(await app.db('transfers').where({ id: `refund:${res.body.refundNo}` }).first()).toMatchObject({ state: 'voided' });
  const [after] = await getBalances(app.db, ['donations:medical'], 'CNY');
  expect(after).toEqual(before);
  expect((await app.api(`/api/v1/donations/${donation.orderNo}`, { key: null })).body.refundedAmount).toBe('0.00');
  expect(await rankingRow(app.db, `uid:${uid}`, 'medical')).toMatchObject({ total: expect.stringMatching(/^6(\.0+)?$/) });
});
