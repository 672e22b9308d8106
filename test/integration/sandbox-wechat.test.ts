// The WeChat Pay emulator spoken to through the engine's own adapter and login client, over real HTTP with real
// RSA signatures and AES-256-GCM, as the donation activities and the callback route will.
import { randomBytes, sign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CallbackRejected, GatewayError, type DonationGateway, type GatewayTrade, type PaymentNotice, type RawCallback } from '../../activities/providers/donation-gateway';
import { newRsaKeyPair } from '../../sandbox/key-store';
import { waitFor } from '../support/processes';
import { wechatSandbox } from '../support/wechat-sandbox';

/** The engine's callback route in miniature: verifies each callback with the adapter and answers as it says. */
interface Receiver {
  url: string;
  received: { callback: RawCallback; at: number; notice?: PaymentNotice | null; rejected?: string }[];
  /** Callbacks still to refuse (answered like a failed verification) before accepting. */
  refuseFirst: number;
  close(): Promise<void>;
}

async function startReceiver(gateway: DonationGateway): Promise<Receiver> {
  const receiver: Receiver = { url: '', received: [], refuseFirst: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]));
      const entry: Receiver['received'][number] = { callback: { headers, body: Buffer.concat(chunks).toString('utf8') }, at: Date.now() };
      try {
        entry.notice = gateway.verifyCallback(entry.callback);
      } catch (err) {
        entry.rejected = (err as Error).message;
      }
      receiver.received.push(entry);
      const accepted = entry.rejected === undefined && receiver.refuseFirst-- <= 0;
      const answer = gateway.callbackAnswer(accepted);
      res.writeHead(answer.status, answer.contentType ? { 'content-type': answer.contentType } : {});
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/callbacks/wechat`;
  receiver.close = () => new Promise((resolve) => server.close(() => resolve()));
  return receiver;
}

let gateway: DonationGateway;
let receiver: Receiver;
let orderSeq = 0;

/** A donation order as the workflow hands it to precreate: 10.00 CNY, payable for 15 minutes. */
function order(overrides: Partial<GatewayTrade> = {}): GatewayTrade {
  return {
    orderNo: `WX${process.pid}T${Date.now().toString(36)}N${++orderSeq}`,
    amount: '10.00',
    subject: 'Donation: school library',
    expiresAt: new Date(Date.now() + 15 * 60_000).toISOString(),
    notifyUrl: receiver.url,
    ...overrides,
  };
}

/** A trade precreated and paid by a buyer; resolves once the receiver got its first callback. */
async function paidTrade(openid = 'oBuyer0000000000000000000001', overrides: Partial<GatewayTrade> = {}) {
  const trade = order(overrides);
  await gateway.precreate(trade);
  const view = await wechatSandbox.pay(trade.orderNo, openid);
  return { trade, view };
}

const callbacksOf = (orderNo: string) => receiver.received.filter((r) => r.notice?.orderNo === orderNo);
const gatewayError = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a GatewayError, the call succeeded');
    },
    (err: unknown) => {
      if (!(err instanceof GatewayError)) throw err;
      return err;
    },
  );
const rejection = (callback: RawCallback) => {
  try {
    gateway.verifyCallback(callback);
  } catch (err) {
    if (err instanceof CallbackRejected) return err.reason;
    throw err;
  }
  throw new Error('expected the callback to be rejected, it was accepted');
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  gateway = await wechatSandbox.gateway({ timeoutMs: 2_000 });
  receiver = await startReceiver(gateway);
});

afterAll(async () => {
  await wechatSandbox.reset();
  await receiver.close();
});

beforeEach(async () => {
  await wechatSandbox.reset();
  receiver.received = [];
  receiver.refuseFirst = 0;
});

describe('WeChat Pay Native through the adapter', () => {
  it('precreates a trade and returns its weixin:// code_url; the same order again returns the same code_url', async () => {
    const trade = order();
    const first = await gateway.precreate(trade);
    const again = await gateway.precreate(trade);

    expect(first.qrContent).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=\w+$/);
    expect(again).toEqual(first);
    expect(await wechatSandbox.trade(trade.orderNo)).toMatchObject({ state: 'NOTPAY', total: 1000, currency: 'CNY', codeUrl: first.qrContent });
    expect(await wechatSandbox.stats()).toMatchObject({ precreated: 1 });
  });

  it('refuses the same order number with another amount for good, keeping the first trade', async () => {
    const trade = order();
    await gateway.precreate(trade);

    const err = await gatewayError(gateway.precreate({ ...trade, amount: '12.00' }));
    expect(err).toMatchObject({ code: 'INVALID_REQUEST', retryable: false });
    expect(await wechatSandbox.trade(trade.orderNo)).toMatchObject({ total: 1000 });
  });

  it('reads a trade as waiting until the buyer pays on the phone, then as paid with the amount in yuan and the payer', async () => {
    const trade = order({ amount: '88.80' });
    await gateway.precreate(trade);
    expect(await gateway.query(trade.orderNo)).toEqual({ state: 'waiting' });

    const view = await wechatSandbox.pay(trade.orderNo, 'oDonor000000000000000000042');

    expect(await gateway.query(trade.orderNo)).toEqual({
      state: 'paid',
      providerTradeNo: view.payment!.transactionId,
      amount: '88.80',
      paidAt: view.payment!.paidAt,
      buyerId: 'oDonor000000000000000000042',
    });
  });

  it('reads an order it never saw as not_found', async () => {
    expect(await gateway.query('NEVER-SEEN-ORDER-1')).toEqual({ state: 'not_found' });
  });

  it('closes an unpaid trade, after which the buyer can no longer pay it and a second close is still closed', async () => {
    const trade = order();
    await gateway.precreate(trade);

    expect(await gateway.close(trade.orderNo)).toBe('closed');
    expect(await gateway.close(trade.orderNo)).toBe('closed');
    expect(await gateway.query(trade.orderNo)).toEqual({ state: 'closed' });
    await expect(wechatSandbox.pay(trade.orderNo)).rejects.toThrow(/409/);
    await expect(gatewayError(gateway.precreate(trade))).resolves.toMatchObject({ code: 'ORDER_CLOSED', retryable: false });
  });

  it('answers already_paid when closing a trade the buyer paid first, and not_found for an unknown one', async () => {
    const { trade } = await paidTrade();

    expect(await gateway.close(trade.orderNo)).toBe('already_paid');
    expect(await gateway.query(trade.orderNo)).toMatchObject({ state: 'paid' });
    expect(await gateway.close('NEVER-SEEN-ORDER-2')).toBe('not_found');
  });

  it('closes an unpaid trade by itself at its time_expire', async () => {
    const trade = order({ expiresAt: new Date(Date.now() + 1_500).toISOString() });
    await gateway.precreate(trade);
    expect(await gateway.query(trade.orderNo)).toEqual({ state: 'waiting' });

    await waitFor('the trade to expire', async () => (await gateway.query(trade.orderNo)).state === 'closed', 5_000, 100);
    expect(await wechatSandbox.trade(trade.orderNo)).toMatchObject({ state: 'CLOSED', closed: { by: 'expiry' } });
    await expect(wechatSandbox.pay(trade.orderNo)).rejects.toThrow(/409/);
  });
});

describe('the payment callback', () => {
  it('reaches the notify_url, verifies and decrypts to the payment, and stops at the 204 answer', async () => {
    const { trade, view } = await paidTrade('oDonor000000000000000000007', { amount: '0.01' });

    await waitFor('the callback', async () => callbacksOf(trade.orderNo).length === 1, 5_000, 20);
    const { callback, notice } = callbacksOf(trade.orderNo)[0]!;
    expect(notice).toEqual({
      method: 'wechat',
      orderNo: trade.orderNo,
      providerTradeNo: view.payment!.transactionId,
      amount: '0.01',
      paidAt: view.payment!.paidAt,
      buyerId: 'oDonor000000000000000000007',
      appId: (await wechatSandbox.merchant()).appId,
    });
    expect(JSON.parse(callback.body)).toMatchObject({
      resource_type: 'encrypt-resource',
      event_type: 'TRANSACTION.SUCCESS',
      resource: { algorithm: 'AEAD_AES_256_GCM', associated_data: 'transaction', original_type: 'transaction' },
    });
    expect(callback.headers['wechatpay-signature-type']).toBe('WECHATPAY2-SHA256-RSA2048');

    await sleep(200);
    expect((await wechatSandbox.trade(trade.orderNo)).callbackAttempts).toEqual([expect.objectContaining({ status: 204, acknowledged: true })]);
  });

  it('is sent again on the schedule while the receiver refuses it, until it is taken', async () => {
    await wechatSandbox.configure({ notify: { scheduleScale: 0.001 } });
    receiver.refuseFirst = 2;
    const { trade } = await paidTrade();

    await waitFor('the third attempt', async () => (await wechatSandbox.trade(trade.orderNo)).callbackAttempts.length >= 3, 5_000, 20);
    await sleep(300);
    const attempts = (await wechatSandbox.trade(trade.orderNo)).callbackAttempts;
    expect(attempts.map((a) => [a.status, a.acknowledged])).toEqual([
      [400, false],
      [400, false],
      [204, true],
    ]);
    expect(callbacksOf(trade.orderNo)).toHaveLength(3);
  });

  it('when lost never arrives, and the query still finds the payment', async () => {
    await wechatSandbox.configure({ notify: { mode: 'lost' } });
    const { trade } = await paidTrade();

    await sleep(300);
    expect(callbacksOf(trade.orderNo)).toHaveLength(0);
    expect(await gateway.query(trade.orderNo)).toMatchObject({ state: 'paid', amount: '10.00' });
  });

  it('when duplicated arrives 5 times, every copy verifying to the same payment', async () => {
    await wechatSandbox.configure({ notify: { mode: 'duplicate', copies: 5 } });
    const { trade } = await paidTrade();

    await waitFor('5 copies', async () => callbacksOf(trade.orderNo).length === 5, 5_000, 20);
    await sleep(200);
    const notices = callbacksOf(trade.orderNo).map((r) => r.notice);
    expect(notices).toHaveLength(5);
    expect(new Set(notices.map((n) => JSON.stringify(n))).size).toBe(1);
  });

  it('when delayed arrives only after the delay', async () => {
    await wechatSandbox.configure({ notify: { mode: 'delayed', delayMs: 700 } });
    const paidAt = Date.now();
    const { trade } = await paidTrade();

    await sleep(300);
    expect(callbacksOf(trade.orderNo)).toHaveLength(0);
    await waitFor('the delayed callback', async () => callbacksOf(trade.orderNo).length === 1, 5_000, 20);
    expect(callbacksOf(trade.orderNo)[0]!.at - paidAt).toBeGreaterThanOrEqual(700);
  });

  it('answers 204 with no body to take a callback, and 400 {"code":"FAIL"} to have it sent again', () => {
    expect(gateway.callbackAnswer(true)).toEqual({ status: 204, contentType: null, body: '' });
    const refused = gateway.callbackAnswer(false);
    expect(refused).toMatchObject({ status: 400, contentType: 'application/json' });
    expect(JSON.parse(refused.body)).toEqual({ code: 'FAIL', message: expect.any(String) });
  });
});

describe('callbacks that are not genuine', () => {
  /** A genuine callback as it reached the receiver, to tamper with. */
  async function genuineCallback(): Promise<RawCallback> {
    const { trade } = await paidTrade();
    await waitFor('the callback', async () => callbacksOf(trade.orderNo).length === 1, 5_000, 20);
    return callbacksOf(trade.orderNo)[0]!.callback;
  }

  /** What WeChat would put in the resource of a payment of ours. */
  async function transaction(overrides: Record<string, unknown> = {}) {
    const { appId, mchId } = await wechatSandbox.merchant();
    return {
      appid: appId,
      mchid: mchId,
      out_trade_no: 'FORGED-ORDER-1',
      transaction_id: '4200000000000000000000000001',
      trade_type: 'NATIVE',
      trade_state: 'SUCCESS',
      success_time: '2024-05-01T10:00:00+08:00',
      payer: { openid: 'oForger00000000000000000001' },
      amount: { total: 100000, payer_total: 100000, currency: 'CNY' },
      ...overrides,
    };
  }

  it('rejects a callback whose ciphertext was tampered with', async () => {
    const callback = await genuineCallback();
    const envelope = JSON.parse(callback.body);
    const sealed = Buffer.from(envelope.resource.ciphertext, 'base64');
    sealed[0] ^= 0xff;
    envelope.resource.ciphertext = sealed.toString('base64');

    expect(rejection({ ...callback, body: JSON.stringify(envelope) })).toMatch(/signature does not verify/);
  });

  it('rejects a callback with a signature that is not the platform key', async () => {
    const callback = await genuineCallback();
    const { timestamp, nonce } = { timestamp: callback.headers['wechatpay-timestamp'], nonce: callback.headers['wechatpay-nonce'] };
    const forged = sign('sha256', Buffer.from(`${timestamp}\n${nonce}\n${callback.body}\n`), newRsaKeyPair().privateKey).toString('base64');

    expect(rejection({ ...callback, headers: { ...callback.headers, 'wechatpay-signature': forged } })).toMatch(/signature does not verify/);
    expect(rejection({ ...callback, headers: { ...callback.headers, 'wechatpay-signature': undefined } })).toMatch(/missing/);
  });

  it('rejects a callback naming another platform serial', async () => {
    const signed = await wechatSandbox.signedCallback('TRANSACTION.SUCCESS', await transaction(), { serialNo: '0000000000000000000000000000000000000000' });
    expect(rejection(lowerCased(signed))).toMatch(/not by the platform key/);
  });

  it('rejects a genuinely signed callback older than five minutes (a replay)', async () => {
    const signed = await wechatSandbox.signedCallback('TRANSACTION.SUCCESS', await transaction(), { timestamp: Math.floor(Date.now() / 1000) - 6 * 60 });
    expect(rejection(lowerCased(signed))).toMatch(/timestamp/);
  });

  it('rejects a genuinely signed callback for another app or another merchant', async () => {
    const otherApp = await wechatSandbox.signedCallback('TRANSACTION.SUCCESS', await transaction({ appid: 'wx0000000000000000' }));
    const otherMerchant = await wechatSandbox.signedCallback('TRANSACTION.SUCCESS', await transaction({ mchid: '1900000000' }));

    expect(rejection(lowerCased(otherApp))).toMatch(/for app wx0000000000000000/);
    expect(rejection(lowerCased(otherMerchant))).toMatch(/for merchant 1900000000/);
  });

  it('rejects a genuinely signed callback whose resource is sealed with another APIv3 key', async () => {
    const signed = await wechatSandbox.signedCallback('TRANSACTION.SUCCESS', await transaction(), { apiV3Key: 'x'.repeat(32) });
    expect(rejection(lowerCased(signed))).toMatch(/does not decrypt/);
  });

  it('reads a genuine notification that reports no payment (REFUND.SUCCESS) as null', async () => {
    const { mchId } = await wechatSandbox.merchant();
    const signed = await wechatSandbox.signedCallback('REFUND.SUCCESS', {
      mchid: mchId,
      out_trade_no: 'SOME-ORDER-1',
      out_refund_no: 'SOME-REFUND-1',
      refund_status: 'SUCCESS',
      amount: { total: 1000, refund: 1000, payer_total: 1000, payer_refund: 1000 },
    });
    expect(gateway.verifyCallback(lowerCased(signed))).toBeNull();
  });
});

/** Header names as the API hands them to verifyCallback: lower case. */
function lowerCased(signed: { headers: Record<string, string>; body: string }): RawCallback {
  return { headers: Object.fromEntries(Object.entries(signed.headers).map(([name, value]) => [name.toLowerCase(), value])), body: signed.body };
}

describe('refunds', () => {
  it('refunds part then the rest, once per refund number, refuses more than was paid, and each refund reaches succeeded', async () => {
    await wechatSandbox.configure({ refundSettleMs: 200 });
    const { trade } = await paidTrade();
    const refund = (refundNo: string, amount: string) => gateway.refund({ orderNo: trade.orderNo, refundNo, amount, totalAmount: '10.00', reason: 'donor asked' });

    expect(await refund(`${trade.orderNo}R1`, '3.00')).toEqual({ state: 'processing' });
    expect(await refund(`${trade.orderNo}R1`, '3.00')).toEqual({ state: 'processing' });
    expect(await refund(`${trade.orderNo}R2`, '7.00')).toEqual({ state: 'processing' });
    const over = await refund(`${trade.orderNo}R3`, '0.01');
    expect(over).toEqual({ state: 'failed', reason: expect.stringMatching(/^INVALID_REQUEST: .*可退金额/) });

    const settled = await waitFor(
      'the first refund to succeed',
      async () => {
        const status = await gateway.queryRefund(trade.orderNo, `${trade.orderNo}R1`);
        return status.state === 'succeeded' && status;
      },
      5_000,
      50,
    );
    expect(settled).toEqual({ state: 'succeeded', providerRefundNo: expect.stringMatching(/^\d+$/), amount: '3.00', refundedAt: expect.any(String) });
    expect(await refund(`${trade.orderNo}R1`, '3.00')).toEqual(settled);
    await waitFor('the full refund to succeed', async () => (await gateway.queryRefund(trade.orderNo, `${trade.orderNo}R2`)).state === 'succeeded', 5_000, 50);

    const view = await wechatSandbox.trade(trade.orderNo);
    expect(view.state).toBe('REFUND');
    expect(view.refunds.map((r) => [r.outRefundNo, r.refund, r.status])).toEqual([
      [`${trade.orderNo}R1`, 300, 'SUCCESS'],
      [`${trade.orderNo}R2`, 700, 'SUCCESS'],
    ]);
    expect(await gateway.query(trade.orderNo)).toMatchObject({ state: 'paid', amount: '10.00' });
  });

  it('refuses a refund of a trade that was never paid, and reads an unknown refund number as not_found', async () => {
    const trade = order();
    await gateway.precreate(trade);

    expect(await gateway.refund({ orderNo: trade.orderNo, refundNo: `${trade.orderNo}R1`, amount: '1.00', totalAmount: '10.00', reason: null })).toMatchObject({
      state: 'failed',
    });
    expect(await gateway.queryRefund(trade.orderNo, `${trade.orderNo}R9`)).toEqual({ state: 'not_found' });
  });
});

describe('faults and authentication', () => {
  it('throws a retryable GatewayError on a transient 5xx, having created nothing', async () => {
    await wechatSandbox.configure({ behaviour: { failureRate: 1 } });
    const trade = order();

    await expect(gatewayError(gateway.precreate(trade))).resolves.toMatchObject({ code: 'SYSTEM_ERROR', retryable: true });
    await wechatSandbox.configure({ behaviour: { failureRate: 0 } });
    await expect(wechatSandbox.trade(trade.orderNo)).rejects.toThrow(/404/);
  });

  it('throws a retryable GatewayError when the answer is lost, and the retry gets the trade that was made', async () => {
    await wechatSandbox.configure({ behaviour: { lostResponseRate: 1, lostResponseMode: 'drop' } });
    const trade = order();

    await expect(gatewayError(gateway.precreate(trade))).resolves.toMatchObject({ code: 'no_answer', retryable: true });
    await wechatSandbox.configure({ behaviour: { lostResponseRate: 0 } });
    const made = await wechatSandbox.trade(trade.orderNo);
    expect(await gateway.precreate(trade)).toEqual({ qrContent: made.codeUrl });
  });

  it('throws a retryable GatewayError when the gateway cannot be reached', async () => {
    const unreachable = await wechatSandbox.gateway({ payBaseUrl: 'http://127.0.0.1:1/wechatpay' });
    await expect(gatewayError(unreachable.query('ANY-ORDER-01'))).resolves.toMatchObject({ retryable: true });
  });

  it('is refused for good (401 SIGN_ERROR) when it signs with a key that is not the merchant key', async () => {
    const misconfigured = await wechatSandbox.gateway({ merchantPrivateKey: newRsaKeyPair().privateKey });

    await expect(gatewayError(misconfigured.precreate(order()))).resolves.toMatchObject({ code: 'SIGN_ERROR', retryable: false });
    expect(await wechatSandbox.stats()).toMatchObject({ unauthorized: 1, precreated: 0 });
  });

  it('refuses a request signed more than five minutes ago with 401 SIGN_ERROR', async () => {
    const m = await wechatSandbox.merchant();
    const url = new URL(`${m.payBaseUrl}/v3/pay/transactions/out-trade-no/ANY-ORDER-01?mchid=${m.mchId}`);
    const timestamp = String(Math.floor(Date.now() / 1000) - 6 * 60);
    const nonce = randomBytes(16).toString('hex');
    const signature = sign('sha256', Buffer.from(`GET\n${url.pathname}${url.search}\n${timestamp}\n${nonce}\n\n`), m.merchantPrivateKey).toString('base64');

    const res = await fetch(url, {
      headers: {
        authorization: `WECHATPAY2-SHA256-RSA2048 mchid="${m.mchId}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${m.merchantSerialNo}"`,
        accept: 'application/json',
      },
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'SIGN_ERROR', message: expect.stringMatching(/timestamp/) });
  });

  it('rejects an answer not signed by the platform key it was given, for good', async () => {
    const misconfigured = await wechatSandbox.gateway({ platformPublicKey: newRsaKeyPair().publicKey });
    const trade = order();

    await expect(gatewayError(misconfigured.precreate(trade))).resolves.toMatchObject({ code: 'response_signature_invalid', retryable: false });
    const wrongSerial = await wechatSandbox.gateway({ platformSerialNo: '0000000000000000000000000000000000000000' });
    await expect(gatewayError(wrongSerial.query(trade.orderNo))).resolves.toMatchObject({ code: 'response_signature_invalid', retryable: false });
  });
});

describe('WeChat login', () => {
  it('exchanges a login code for the openid, with the unionid when the user has one', async () => {
    const login = await wechatSandbox.login();
    const issued = await wechatSandbox.loginCode();
    expect(await login.openidFor(issued.code)).toEqual({ openid: issued.openid, unionid: null });

    const again = await wechatSandbox.loginCode(issued.openid, 'uUnion000000000000000000001');
    expect(await login.openidFor(again.code)).toEqual({ openid: issued.openid, unionid: 'uUnion000000000000000000001' });
  });

  it('refuses a code used once already, or never issued, as invalid_code for good', async () => {
    const login = await wechatSandbox.login();
    const { code } = await wechatSandbox.loginCode();
    await login.openidFor(code);

    await expect(gatewayError(login.openidFor(code))).resolves.toMatchObject({ code: 'invalid_code', retryable: false });
    await expect(gatewayError(login.openidFor('never-issued-code'))).resolves.toMatchObject({ code: 'invalid_code', retryable: false });
  });

  it('is refused for good with a wrong app secret, and says retry when WeChat cannot be reached', async () => {
    const { code } = await wechatSandbox.loginCode();
    const wrongSecret = await wechatSandbox.login({ appSecret: '0'.repeat(32) });
    await expect(gatewayError(wrongSecret.openidFor(code))).resolves.toMatchObject({ code: '40125', retryable: false });

    const unreachable = await wechatSandbox.login({ loginBaseUrl: 'http://127.0.0.1:1/weixin' });
    await expect(gatewayError(unreachable.openidFor(code))).resolves.toMatchObject({ retryable: true });
  });
});
