// The Alipay emulator spoken to through the engine's adapter (alipay-sdk), over real HTTP with real RSA2 signatures both
// ways, and its notifies received by a real HTTP server standing in for the engine's callback route.
import { createPrivateKey } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallbackRejected, GatewayError, type GatewayTrade } from '../../activities/providers/donation-gateway';
import { rsa2Sign, signContent } from '../../sandbox/alipay-protocol';
import { newRsaKeyPair, type PemKeyPair } from '../../sandbox/key-store';
import { AlipaySandboxError, alipaySandbox } from '../support/alipay-sandbox';
import { waitFor } from '../support/processes';
import { sandboxUrl } from '../support/sandbox';

/** Stands in for the engine's notify_url: keeps every body it is sent, per out_trade_no, and answers as the test says. */
interface NotifyReceiver {
  url: string;
  /** The answer to the n-th notify (1-based) of an order. */
  answer: (n: number) => { status: number; body: string };
  bodies(orderNo: string): string[];
  arrivals(orderNo: string): number[];
  close(): Promise<void>;
}

async function startNotifyReceiver(): Promise<NotifyReceiver> {
  const received = new Map<string, { body: string; at: number }[]>();
  const receiver: NotifyReceiver = {
    url: '',
    answer: () => ({ status: 200, body: 'success' }),
    bodies: (orderNo) => (received.get(orderNo) ?? []).map((r) => r.body),
    arrivals: (orderNo) => (received.get(orderNo) ?? []).map((r) => r.at),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const orderNo = new URLSearchParams(body).get('out_trade_no') ?? '';
      const list = received.get(orderNo) ?? [];
      list.push({ body, at: Date.now() });
      received.set(orderNo, list);
      const { status, body: text } = receiver.answer(list.length);
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/alipay/notify`;
  return receiver;
}

let receiver: NotifyReceiver;
/** A key pair Alipay never issued: a forger's. */
let forger: PemKeyPair;
let seq = 0;

function order(overrides: Partial<GatewayTrade> = {}): GatewayTrade {
  return {
    orderNo: `ali_${process.pid}_${Date.now().toString(36)}_${++seq}`,
    amount: '10.00',
    subject: 'Donation to the library fund',
    expiresAt: new Date(Date.now() + 15 * 60_000).toISOString(),
    notifyUrl: receiver.url,
    ...overrides,
  };
}

/** An order precreated and paid through the phone, with its first notify received. */
async function paidOrder(buyerId = '2088000000001234', overrides: Partial<GatewayTrade> = {}) {
  const gateway = await alipaySandbox.gateway();
  const trade = order(overrides);
  await gateway.precreate(trade);
  await alipaySandbox.pay(trade.orderNo, buyerId);
  const [notify] = await waitFor(`the notify of ${trade.orderNo}`, async () => receiver.bodies(trade.orderNo).length > 0 && receiver.bodies(trade.orderNo), 10_000, 20);
  return { gateway, trade, notify: notify! };
}

async function gatewayError(promise: Promise<unknown>): Promise<GatewayError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${err === undefined ? 'success' : String(err)}`);
  return err;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A notify re-signed by the forger's key after `change`. */
function forged(body: string, change: (fields: Record<string, string>) => void): string {
  const fields = Object.fromEntries(new URLSearchParams(body));
  change(fields);
  fields.sign = rsa2Sign(signContent(fields, ['sign', 'sign_type']), createPrivateKey(forger.privateKey));
  return new URLSearchParams(fields).toString();
}

beforeAll(async () => {
  receiver = await startNotifyReceiver();
  forger = newRsaKeyPair();
});
afterAll(async () => {
  await receiver.close();
});
beforeEach(async () => {
  await alipaySandbox.reset();
  // Alipay's schedule (4m, 10m, 10m, 1h…) compressed 2000 times: 120 ms, 300 ms, 300 ms, 1.8 s…
  await alipaySandbox.configure({ notify: { scheduleScale: 0.0005 } });
  receiver.answer = () => ({ status: 200, body: 'success' });
});

describe('Alipay sandbox: the merchant console', () => {
  it('hands out the app id, the app private key, the Alipay public key and the gateway URL of this sandbox', async () => {
    const merchant = await alipaySandbox.merchant();

    expect(merchant.appId).toBe('2021000000000001');
    expect(merchant.appPrivateKey).toContain('BEGIN PRIVATE KEY');
    expect(merchant.alipayPublicKey).toContain('BEGIN PUBLIC KEY');
    expect(merchant.gatewayUrl).toBe(`${sandboxUrl()}/alipay/gateway.do`);
  });
});

describe('Alipay sandbox: precreate, query and the phone', () => {
  it('precreates a trade and answers with its QR code; the same order again gets the same QR code', async () => {
    const gateway = await alipaySandbox.gateway();
    const trade = order();

    const first = await gateway.precreate(trade);
    const again = await gateway.precreate(trade);

    expect(first.qrContent).toMatch(/^https:\/\/qr\.alipay\.com\/bax/);
    expect(again.qrContent).toBe(first.qrContent);
    expect(await alipaySandbox.stats()).toMatchObject({ precreated: 1, requests: 2, badSignatures: 0 });
  });

  it('refuses the same order number again with another amount', async () => {
    const gateway = await alipaySandbox.gateway();
    const trade = order();
    await gateway.precreate(trade);

    const err = await gatewayError(gateway.precreate({ ...trade, amount: '11.00' }));

    expect(err).toMatchObject({ code: 'ACQ.CONTEXT_INCONSISTENT', retryable: false });
  });

  it('reads waiting until the buyer pays through the phone, then paid with the amount, the buyer and the payment time', async () => {
    const gateway = await alipaySandbox.gateway();
    const trade = order({ amount: '88.80' });
    await gateway.precreate(trade);
    expect(await gateway.query(trade.orderNo)).toEqual({ state: 'waiting' });

    const before = Date.now();
    const paid = await alipaySandbox.pay(trade.orderNo, '2088000000005678');
    const status = await gateway.query(trade.orderNo);

    expect(status).toEqual({ state: 'paid', providerTradeNo: paid.tradeNo, amount: '88.80', paidAt: expect.any(String), buyerId: '2088000000005678' });
    // Alipay's times have whole seconds.
    const paidAt = Date.parse((status as { paidAt: string }).paidAt);
    expect(paidAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(paidAt).toBeLessThanOrEqual(Date.now());
  });

  it('reads an order it never saw as not found, and the phone cannot pay it', async () => {
    const gateway = await alipaySandbox.gateway();

    expect(await gateway.query('never_precreated')).toEqual({ state: 'not_found' });
    await expect(alipaySandbox.pay('never_precreated')).rejects.toMatchObject({ status: 404 });
  });

  it('closes an unpaid trade by itself at its time_expire: it reads closed, and the phone cannot pay it', async () => {
    const gateway = await alipaySandbox.gateway();
    // time_expire has whole seconds: this trade expires 1 to 2 seconds from now.
    const trade = order({ expiresAt: new Date(Date.now() + 2_000).toISOString() });
    await gateway.precreate(trade);
    expect(await gateway.query(trade.orderNo)).toEqual({ state: 'waiting' });

    await waitFor('the trade to expire', async () => (await gateway.query(trade.orderNo)).state === 'closed', 5_000, 100);

    const refused = await alipaySandbox.pay(trade.orderNo).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(AlipaySandboxError);
    expect(refused).toMatchObject({ status: 409 });
    expect(await gateway.close(trade.orderNo)).toBe('closed');
    expect(await gatewayError(gateway.precreate(trade))).toMatchObject({ code: 'ACQ.TRADE_HAS_CLOSE', retryable: false });
  });
});

describe('Alipay sandbox: the payment notify', () => {
  it('reaches the notify_url signed with the Alipay key, and the adapter reads the payment from it', async () => {
    const { gateway, trade, notify } = await paidOrder('2088000000004321', { amount: '12.34' });
    const paid = await alipaySandbox.trade(trade.orderNo);

    const notice = gateway.verifyCallback({ headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: notify });

    expect(notice).toEqual({
      method: 'alipay',
      orderNo: trade.orderNo,
      providerTradeNo: paid.tradeNo,
      amount: '12.34',
      paidAt: expect.any(String),
      buyerId: '2088000000004321',
      appId: '2021000000000001',
    });
    expect(Date.parse(notice!.paidAt)).toBe(Math.floor(Date.parse(paid.paidAt!) / 1000) * 1000);
    expect(Object.fromEntries(new URLSearchParams(notify))).toMatchObject({ notify_type: 'trade_status_sync', sign_type: 'RSA2', trade_status: 'TRADE_SUCCESS', charset: 'utf-8' });
    expect(gateway.callbackAnswer(true)).toEqual({ status: 200, contentType: 'text/plain', body: 'success' });
    expect(gateway.callbackAnswer(false)).toEqual({ status: 200, contentType: 'text/plain', body: 'failure' });
  });

  it('is sent again on the schedule while the answer is anything but exactly `success`, and no more once it is', async () => {
    const answers = [
      { status: 200, body: 'SUCCESS' },
      { status: 500, body: 'success' },
      { status: 200, body: 'success' },
    ];
    receiver.answer = (n) => answers[Math.min(n, answers.length) - 1]!;
    const { trade } = await paidOrder();

    const view = await waitFor('three notify attempts', async () => {
      const t = await alipaySandbox.trade(trade.orderNo);
      return t.notifies.length >= 3 && t;
    }, 10_000, 50);
    // The next attempt would be 10 min × 0.0005 = 300 ms after the third, had it not been acknowledged.
    await sleep(1_000);

    expect(view.notifies.map((n) => [n.status, n.acknowledged])).toEqual([
      [200, false],
      [500, false],
      [200, true],
    ]);
    expect(receiver.bodies(trade.orderNo)).toHaveLength(3);
    expect((await alipaySandbox.trade(trade.orderNo)).notifies).toHaveLength(3);
    expect(await alipaySandbox.stats()).toMatchObject({ notifyAttempts: 3, notifiesAcknowledged: 1 });
  });

  it('when lost, never arrives, and the query still finds the payment', async () => {
    await alipaySandbox.configure({ notify: { mode: 'lost' } });
    const gateway = await alipaySandbox.gateway();
    const trade = order();
    await gateway.precreate(trade);

    await alipaySandbox.pay(trade.orderNo);
    await sleep(1_000);

    expect(receiver.bodies(trade.orderNo)).toEqual([]);
    expect((await alipaySandbox.trade(trade.orderNo)).notifies).toEqual([]);
    expect(await gateway.query(trade.orderNo)).toMatchObject({ state: 'paid', amount: '10.00' });
  });

  it('when duplicated, arrives 5 times, every copy genuine and reporting the same payment', async () => {
    await alipaySandbox.configure({ notify: { mode: 'duplicate', copies: 5 } });
    const { gateway, trade } = await paidOrder();

    const copies = await waitFor('5 copies', async () => receiver.bodies(trade.orderNo).length >= 5 && receiver.bodies(trade.orderNo), 10_000, 20);
    await sleep(500);

    expect(receiver.bodies(trade.orderNo)).toHaveLength(5);
    const notices = copies.map((body) => gateway.verifyCallback({ headers: {}, body }));
    expect(new Set(notices.map((n) => JSON.stringify(n))).size).toBe(1);
    expect(notices[0]).toMatchObject({ orderNo: trade.orderNo, amount: '10.00' });
  });

  it('when delayed, arrives only after the delay', async () => {
    await alipaySandbox.configure({ notify: { mode: 'delayed', delayMs: 600 } });
    const gateway = await alipaySandbox.gateway();
    const trade = order();
    await gateway.precreate(trade);

    const paidAt = Date.now();
    await alipaySandbox.pay(trade.orderNo);
    await waitFor('the delayed notify', async () => receiver.bodies(trade.orderNo).length > 0, 10_000, 20);

    expect(receiver.arrivals(trade.orderNo)[0]! - paidAt).toBeGreaterThanOrEqual(600);
    expect(gateway.verifyCallback({ headers: {}, body: receiver.bodies(trade.orderNo)[0]! })).toMatchObject({ orderNo: trade.orderNo });
  });
});

describe('Alipay adapter: forged callbacks', () => {
  it('rejects a genuine notify whose amount was changed', async () => {
    const { gateway, notify } = await paidOrder();
    const tampered = notify.replace('total_amount=10.00', 'total_amount=0.01');
    expect(tampered).not.toBe(notify);

    expect(() => gateway.verifyCallback({ headers: {}, body: tampered })).toThrow(CallbackRejected);
  });

  it('rejects a notify signed with a key that is not Alipay’s', async () => {
    const { gateway, notify } = await paidOrder();

    expect(() => gateway.verifyCallback({ headers: {}, body: forged(notify, () => {}) })).toThrow(/does not verify/);
  });

  it('rejects a correctly signed notify for another app id', async () => {
    const { notify } = await paidOrder();
    // An adapter that trusts the forger's key, so that only the app id is wrong.
    const trusting = await alipaySandbox.gateway({ alipayPublicKey: forger.publicKey });
    const otherApp = forged(notify, (f) => (f.app_id = '2021000000009999'));
    const sameApp = forged(notify, () => {});

    expect(trusting.verifyCallback({ headers: {}, body: sameApp })).toMatchObject({ appId: '2021000000000001' });
    expect(() => trusting.verifyCallback({ headers: {}, body: otherApp })).toThrow(/app_id 2021000000009999 is not ours/);
  });

  it('rejects a notify without a sign', async () => {
    const { gateway, notify } = await paidOrder();
    const fields = new URLSearchParams(notify);
    fields.delete('sign');

    expect(() => gateway.verifyCallback({ headers: {}, body: fields.toString() })).toThrow(/no sign/);
    expect(() => gateway.verifyCallback({ headers: {}, body: '' })).toThrow(CallbackRejected);
  });
});

describe('Alipay sandbox: close', () => {
  it('closes an unpaid trade, and closing it again is still closed', async () => {
    const gateway = await alipaySandbox.gateway();
    const trade = order();
    await gateway.precreate(trade);

    expect(await gateway.close(trade.orderNo)).toBe('closed');
    expect(await gateway.close(trade.orderNo)).toBe('closed');
    expect(await gateway.query(trade.orderNo)).toEqual({ state: 'closed' });
    await expect(alipaySandbox.pay(trade.orderNo)).rejects.toMatchObject({ status: 409 });
  });

  it('answers already_paid for a trade the buyer paid first, and not_found for one it never saw', async () => {
    const { gateway, trade } = await paidOrder();

    expect(await gateway.close(trade.orderNo)).toBe('already_paid');
    expect(await gateway.query(trade.orderNo)).toMatchObject({ state: 'paid' });
    expect(await gateway.close('never_precreated')).toBe('not_found');
  });
});

describe('Alipay sandbox: refunds', () => {
  it('refunds in parts up to what was paid; the trade still reads paid once refunded in full', async () => {
    const { gateway, trade } = await paidOrder('2088000000001234', { amount: '30.00' });

    const part = await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r1`, amount: '10.00', totalAmount: '30.00', reason: 'donor asked' });
    const rest = await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r2`, amount: '20.00', totalAmount: '30.00', reason: null });

    expect(part).toMatchObject({ state: 'succeeded', amount: '10.00', refundedAt: expect.any(String) });
    expect(rest).toMatchObject({ state: 'succeeded', amount: '20.00' });
    expect(await alipaySandbox.trade(trade.orderNo)).toMatchObject({ status: 'TRADE_CLOSED', refundedAmount: '30.00' });
    expect(await gateway.query(trade.orderNo)).toMatchObject({ state: 'paid', amount: '30.00' });
    expect(await gateway.close(trade.orderNo)).toBe('already_paid');
  });

  it('refunds a refund number once however many times it is asked', async () => {
    const { gateway, trade } = await paidOrder('2088000000001234', { amount: '30.00' });
    const request = { orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r1`, amount: '10.00', totalAmount: '30.00', reason: null };

    const first = await gateway.refund(request);
    const again = await gateway.refund(request);
    // The same number with another amount is the same refund: it answers what was refunded.
    const changed = await gateway.refund({ ...request, amount: '15.00' });

    expect(again).toEqual(first);
    expect(changed).toEqual(first);
    expect(await alipaySandbox.trade(trade.orderNo)).toMatchObject({ refundedAmount: '10.00', refunds: [{ amount: '10.00' }] });
    expect(await alipaySandbox.stats()).toMatchObject({ refunds: 1 });
  });

  it('refuses for good a refund beyond what is left, and one of a trade never paid or never seen', async () => {
    const { gateway, trade } = await paidOrder('2088000000001234', { amount: '30.00' });
    await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r1`, amount: '25.00', totalAmount: '30.00', reason: null });
    const unpaid = order();
    await gateway.precreate(unpaid);

    const over = await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r2`, amount: '5.01', totalAmount: '30.00', reason: null });
    const notPaid = await gateway.refund({ orderNo: unpaid.orderNo, refundNo: `${unpaid.orderNo}_r1`, amount: '1.00', totalAmount: '10.00', reason: null });
    const unknown = await gateway.refund({ orderNo: 'never_precreated', refundNo: 'never_r1', amount: '1.00', totalAmount: '10.00', reason: null });

    expect(over).toEqual({ state: 'failed', reason: expect.stringContaining('ACQ.REFUND_AMT_NOT_EQUAL_TOTAL') });
    expect(notPaid).toEqual({ state: 'failed', reason: expect.stringContaining('ACQ.TRADE_STATUS_ERROR') });
    expect(unknown).toEqual({ state: 'failed', reason: expect.stringContaining('ACQ.TRADE_NOT_EXIST') });
    expect(await alipaySandbox.trade(trade.orderNo)).toMatchObject({ refundedAmount: '25.00' });
  });

  it('queries a refund: succeeded with its amount and time, not_found for a refund number never used', async () => {
    const { gateway, trade } = await paidOrder();
    const refunded = await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r1`, amount: '4.50', totalAmount: '10.00', reason: 'typo' });

    expect(await gateway.queryRefund(trade.orderNo, `${trade.orderNo}_r1`)).toEqual(refunded);
    expect(await gateway.queryRefund(trade.orderNo, `${trade.orderNo}_r9`)).toEqual({ state: 'not_found' });
    expect(await gateway.queryRefund('never_precreated', 'never_r1')).toEqual({ state: 'not_found' });
  });

  it('sends a notify for each refund, genuine but reporting no payment', async () => {
    const { gateway, trade } = await paidOrder('2088000000001234', { amount: '30.00' });

    await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r1`, amount: '10.00', totalAmount: '30.00', reason: null });
    await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}_r2`, amount: '20.00', totalAmount: '30.00', reason: null });
    const bodies = await waitFor('the two refund notifies', async () => receiver.bodies(trade.orderNo).length >= 3 && receiver.bodies(trade.orderNo), 10_000, 20);

    const refundNotifies = bodies.slice(1).map((body) => Object.fromEntries(new URLSearchParams(body)));
    expect(refundNotifies.map((f) => [f.trade_status, f.refund_fee]).sort()).toEqual([
      ['TRADE_CLOSED', '30.00'],
      ['TRADE_SUCCESS', '10.00'],
    ]);
    for (const body of bodies.slice(1)) expect(gateway.verifyCallback({ headers: {}, body })).toBeNull();
  });
});

describe('Alipay adapter: gateway failures', () => {
  it('throws a retryable GatewayError when the gateway answers 5xx, having executed nothing', async () => {
    await alipaySandbox.configure({ behaviour: { failureRate: 1 } });
    const gateway = await alipaySandbox.gateway();
    const trade = order();

    const err = await gatewayError(gateway.precreate(trade));

    expect(err).toMatchObject({ method: 'alipay', code: 'http_503', retryable: true });
    await expect(alipaySandbox.trade(trade.orderNo)).rejects.toMatchObject({ status: 404 });
    expect(await alipaySandbox.stats()).toMatchObject({ transientFailures: 1 });
  });

  it('throws a retryable GatewayError when the gateway is over its capacity (429)', async () => {
    await alipaySandbox.configure({ behaviour: { capacity: 1, latencyMs: 300, jitterMs: 0 } });
    const gateway = await alipaySandbox.gateway();

    const outcomes = await Promise.allSettled([1, 2, 3].map(() => gateway.query('never_precreated')));

    const errors = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as GatewayError] : []));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    for (const err of errors) expect(err).toMatchObject({ code: 'http_429', retryable: true });
  });

  it('throws a retryable GatewayError when the answer is lost, and the retry finds the trade the lost call made', async () => {
    await alipaySandbox.configure({ behaviour: { lostResponseRate: 1, lostResponseMode: 'drop' } });
    const gateway = await alipaySandbox.gateway();
    const trade = order();

    const cut = await gatewayError(gateway.precreate(trade));
    await alipaySandbox.configure({ behaviour: { lostResponseMode: 'delay', lostResponseDelayMs: 3_000 } });
    const timedOut = await gatewayError((await alipaySandbox.gateway({ timeoutMs: 300 })).query(trade.orderNo));
    await alipaySandbox.configure({ behaviour: { lostResponseRate: 0 } });
    const retried = await gateway.precreate(trade);

    expect(cut).toMatchObject({ code: 'connection_failed', retryable: true });
    expect(timedOut).toMatchObject({ code: 'timeout', retryable: true });
    expect(retried.qrContent).toBe((await alipaySandbox.trade(trade.orderNo)).qrCode);
    // alipay-sdk's HTTP client (urllib) sends a request again once when the connection is cut: 2 or 3 answers lost, one trade.
    const stats = await alipaySandbox.stats();
    expect(stats).toMatchObject({ precreated: 1 });
    expect(stats.lostResponses).toBeGreaterThanOrEqual(2);
  });

  it('throws a non-retryable GatewayError for a request signed with another app key', async () => {
    const gateway = await alipaySandbox.gateway({ appPrivateKey: forger.privateKey });

    const err = await gatewayError(gateway.precreate(order()));

    expect(err).toMatchObject({ code: 'isv.invalid-signature', retryable: false });
    expect(await alipaySandbox.stats()).toMatchObject({ badSignatures: 1, precreated: 0 });
  });

  it('throws a non-retryable GatewayError for an app id the gateway does not know', async () => {
    const gateway = await alipaySandbox.gateway({ appId: '2021000000009999' });

    expect(await gatewayError(gateway.query('any_order'))).toMatchObject({ code: 'isv.invalid-app-id', retryable: false });
  });

  it('rejects an answer that is not signed with the Alipay key it was given', async () => {
    const gateway = await alipaySandbox.gateway({ alipayPublicKey: forger.publicKey });

    const err = await gatewayError(gateway.precreate(order()));

    expect(err).toMatchObject({ code: 'invalid_response_signature', retryable: false });
  });
});
