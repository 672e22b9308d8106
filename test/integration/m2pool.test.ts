// M2Pool's routes over real HTTP against the test stack: requests authenticated by their sign (good, bad, stale, replayed,
// retried), the topup that watches a user's deposit address, and withdraw / pay through to their final notification.
import { randomBytes, randomInt } from 'node:crypto';
import { getBalances } from '../../db/ledger';
import { saveNetwork } from '../../db/networks';
import { depositAddressFor, hotWallet, watchedAddresses } from '../../db/wallets';
import { checksumAddress } from '../../domain/chain';
import { userAccount } from '../../domain/ledger';
import { canonicalString, m2poolSign, parseM2PoolBody } from '../../domain/m2pool';
import { withdrawalWorkflowId } from '../../domain/withdrawal';
import type { TestApp } from '../support/app';
import { connectTestChain, type TestChain } from '../support/chain';
import { givenUser } from '../support/ledger';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';
import { useWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

let app: TestApp;
let receiver: WebhookReceiver;
let chain: TestChain;
/** A network of this file's own where the users' deposit addresses are made first, so that `local` does not watch them yet. */
const OTHER_NETWORK = `m2-${randomBytes(4).toString('hex')}`;

useWebhookReceiver((r) => (receiver = r));
// Declared before the app's hooks, so that it runs while the app is still up (jest runs afterAll hooks in order).
afterAll(async () => {
  await app.db('deposit_addresses').where({ network_id: OTHER_NETWORK }).delete();
  await app.db('networks').where({ id: OTHER_NETWORK }).delete();
  chain.close();
});
useWorkerAndApp((a) => (app = a));

beforeAll(async () => {
  chain = connectTestChain();
  await saveNetwork(app.db, { id: OTHER_NETWORK, chainId: randomInt(2 ** 40, 2 ** 47), name: OTHER_NETWORK, rpcUrls: ['http://127.0.0.1:1'], confirmations: 3, blockTimeMs: 1000, active: true });
});

const now = () => Math.floor(Date.now() / 1000);

/**
 * The JSON text of an M2Pool request signed as a caller would: fields in the order given, `timestamp` added unless given,
 * `sign` the HMAC of the canonical string. Numbers given as `{ literal }` are written as such (e.g. `50.0`).
 */
function signed(fields: Record<string, string | number | { literal: string }>, key = app.config.m2pool.signKeys[0]): string {
  const all: Record<string, string | number | { literal: string }> = { timestamp: now(), ...fields };
  const entries = Object.entries(all).map(([k, v]) => `${JSON.stringify(k)}:${typeof v === 'object' ? v.literal : JSON.stringify(v)}`);
  const unsigned = `{${entries.join(',')}}`;
  const sign = m2poolSign(key, canonicalString(parseM2PoolBody(unsigned)));
  return `{${[...entries, `"sign":"${sign}"`].join(',')}}`;
}

const post = (route: string, text: string) => app.api(`/m2pool/v2/${route}`, { key: null, body: text });

/** A user with a deposit address, watched only on this file's own network. */
async function givenDepositAddress(): Promise<{ uid: number; address: string }> {
  const uid = await givenUser(app.db);
  const { depositAddress } = await depositAddressFor(app.db, uid, OTHER_NETWORK);
  return { uid, address: depositAddress.address };
}

const watchedOnLocal = async (address: string) => (await watchedAddresses(app.db, 'local')).includes(address);

describe('topup', () => {
  test("watches a user's deposit address on the chain's network and answers with the watch", async () => {
    // given
    const { uid, address } = await givenDepositAddress();
    expect(await watchedOnLocal(address)).toBe(false);
    // when M2Pool asks, the address in checksum case
    const res = await post('topup', signed({ chain: 'ETH', symbol: 'USDT', address: checksumAddress(address) }));
    // then
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      object: 'm2pool_topup',
      chain: 'ETH',
      symbol: 'USDT',
      address,
      network: 'local',
      token: expect.any(String),
      uid,
      watching: true,
      watchingSince: expect.any(String),
    });
    expect(await watchedOnLocal(address)).toBe(true);
  });

  test('answers the same when asked again, with a new timestamp and sign', async () => {
    // given
    const { address } = await givenDepositAddress();
    const first = await post('topup', signed({ chain: 'ETH', symbol: 'USDT', address }));
    // when
    const again = await post('topup', signed({ chain: 'ETH', symbol: 'USDT', address, timestamp: now() - 1 }));
    // then
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  test("refuses an address that is no user's deposit address, and watches nothing", async () => {
    // given an unknown address and the network's hot wallet
    const unknown = `0x${randomBytes(20).toString('hex')}`;
    const hot = (await hotWallet(app.db, 'local')).address;
    for (const address of [unknown, hot]) {
      // when
      const res = await post('topup', signed({ chain: 'ETH', symbol: 'USDT', address }));
      // then
      expect(res.status).toBe(422);
      expect(res.body.error.code).toBe('unknown_address');
      expect(await watchedOnLocal(address)).toBe(false);
    }
  });

  test('refuses an unknown chain or symbol, a bad address and a missing or unknown field', async () => {
    const { address } = await givenDepositAddress();
    const cases: [Record<string, string | number>, number, string, RegExp][] = [
      [{ chain: 'TRON', symbol: 'USDT', address }, 400, 'invalid_request', /chain: 'TRON' is not supported \(supported: ETH\)/],
      [{ chain: 'ETH', symbol: 'XYZ', address }, 400, 'unsupported_currency', /symbol: 'XYZ'/],
      [{ chain: 'ETH', symbol: 'USDT', address: '0x1234' }, 400, 'invalid_request', /address must be 0x followed by 40 hex digits/],
      [{ chain: 'ETH', symbol: 'USDT' }, 400, 'invalid_request', /address/],
      [{ chain: 'ETH', symbol: 'USDT', address, memo: 'x' }, 400, 'invalid_request', /memo/],
    ];
    for (const [fields, status, code, message] of cases) {
      const res = await post('topup', signed(fields));
      expect([res.status, res.body.error.code]).toEqual([status, code]);
      expect(res.body.error.message).toMatch(message);
    }
    expect(await watchedOnLocal(address)).toBe(false);
  });
});

describe('the sign', () => {
  test('made with another key is refused (401 invalid_signature) and nothing is watched', async () => {
    // given
    const { address } = await givenDepositAddress();
    // when
    const res = await post('topup', signed({ chain: 'ETH', symbol: 'USDT', address }, 'not-the-shared-key-of-m2pool'));
    // then
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ code: 'invalid_signature', requestId: expect.any(String) });
    expect(await watchedOnLocal(address)).toBe(false);
  });

  test('that does not cover the body as sent is refused: a field changed after signing', async () => {
    const { address } = await givenDepositAddress();
    const tampered = signed({ chain: 'ETH', symbol: 'USDT', address }).replace('"USDT"', '"DAI"');
    const res = await post('topup', tampered);
    expect([res.status, res.body.error.code]).toEqual([401, 'invalid_signature']);
    expect(await watchedOnLocal(address)).toBe(false);
  });

  test('missing, or not 64 hex digits, is refused', async () => {
    const { address } = await givenDepositAddress();
    const unsigned = `{"chain":"ETH","symbol":"USDT","address":"${address}","timestamp":${now()}}`;
    for (const body of [unsigned, unsigned.replace('}', ',"sign":"signature_hash"}')]) {
      const res = await post('topup', body);
      expect([res.status, res.body.error.code]).toEqual([401, 'invalid_signature']);
    }
  });

  test('with a timestamp outside the window is refused as stale (401 stale_request), however well signed', async () => {
    const { address } = await givenDepositAddress();
    const window = app.config.m2pool.timestampWindowS;
    for (const timestamp of [now() - window - 5, now() + window + 5]) {
      const res = await post('topup', signed({ chain: 'ETH', symbol: 'USDT', address, timestamp }));
      expect([res.status, res.body.error.code]).toEqual([401, 'stale_request']);
      expect(res.body.error.message).toMatch(/within ±300 s/);
    }
    expect(await watchedOnLocal(address)).toBe(false);
  });

  test('sent again with the same request (a retry, even reformatted) gets the same answer', async () => {
    // given
    const { address } = await givenDepositAddress();
    const body = signed({ chain: 'ETH', symbol: 'USDT', address });
    const first = await post('topup', body);
    // when the caller retries: the same text, then the same fields written another way (same canonical string, same sign)
    const retried = await post('topup', body);
    const reformatted = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(body)).reverse()), null, 2);
    const again = await post('topup', reformatted);
    // then
    expect(first.status).toBe(200);
    expect(retried.status).toBe(200);
    expect(retried.body).toEqual(first.body);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  test('reused for another request is refused (409 replayed_request), and that request does nothing', async () => {
    // given a request that was taken
    const [a, b] = [await givenDepositAddress(), await givenDepositAddress()];
    const first = signed({ chain: 'ETH', symbol: 'USDT', address: a.address });
    expect((await post('topup', first)).status).toBe(200);
    // when its sign comes with another body
    const sign = JSON.parse(first).sign as string;
    const other = `{"chain":"ETH","symbol":"USDT","address":"${b.address}","timestamp":${now()},"sign":"${sign}"}`;
    const res = await post('topup', other);
    // then
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('replayed_request');
    expect(await watchedOnLocal(b.address)).toBe(false);
  });

  test('needs no API key; the body must be JSON', async () => {
    const res = await post('topup', '{"chain":');
    expect([res.status, res.body.error.code]).toEqual([400, 'invalid_json']);
  });
});

describe('withdraw and pay', () => {
  /** A user with `balance` USDT in the ledger and a deposit address on `local` (M2Pool's from_address). */
  async function givenFundedUser(balance = '100'): Promise<{ uid: number; address: string }> {
    const uid = await givenUser(app.db, { balance, currency: 'USDT' });
    const { depositAddress } = await depositAddressFor(app.db, uid, 'local');
    return { uid, address: depositAddress.address };
  }
  const queueId = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;
  const anyAddress = () => `0x${randomBytes(20).toString('hex')}`;
  const available = async (uid: number) => (await getBalances(app.db, [userAccount(uid)], 'USDT'))[0];

  test('withdraw: held at once, sent, and one final withdraw_resp (status 1) once confirmed; the amount taken as written', async () => {
    // given
    const user = await givenFundedUser();
    const to = anyAddress();
    const queue = queueId('withdraw');
    // when M2Pool asks, the amount written 12.50
    const res = await post('withdraw', signed({ queue_id: queue, from_address: user.address, to_address: to, amount: { literal: '12.50' }, chain: 'ETH', symbol: 'USDT' }));
    // then
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ object: 'withdrawal', id: withdrawalWorkflowId(queue), queueId: queue, uid: user.uid, toAddress: to, network: 'local', chain: 'ETH', token: 'USDT', amount: '12.5' });
    await waitFor('the withdrawal to be broadcast', async () => (await chain.tokenBalance('USDT', to)) === '12500000');
    await chain.mine(5);
    const [notice] = await receiver.waitForDeliveries(1, (d) => d.channel === 'withdraw' && d.json.queue_id === queue && d.answered === 200, 60_000);
    expect(notice.signatureValid).toBe(true);
    expect(notice.json).toMatchObject({ queue_id: queue, chain: 'ETH', symbol: 'USDT' });
    expect(String(notice.json.status)).toBe('1');
    expect(String(notice.json.amount)).toBe('12.5');
    expect(notice.body).toContain('"amount":12.5,');
    expect((await available(user.uid)).balance).toBe('87.5');
  });

  test('withdraw retried with the same sign answers the same and starts nothing more; a new sign for the same queue_id too', async () => {
    // given
    const user = await givenFundedUser();
    const fields = { queue_id: queueId('withdraw'), from_address: user.address, to_address: anyAddress(), amount: 1, chain: 'ETH', symbol: 'USDT' };
    const body = signed(fields);
    const first = await post('withdraw', body);
    // when
    const retried = await post('withdraw', body);
    const resigned = await post('withdraw', signed({ ...fields, timestamp: now() - 2 }));
    // then
    expect(first.status).toBe(202);
    for (const again of [retried, resigned]) {
      expect(again.status).toBeLessThan(300);
      expect(again.body).toMatchObject({ id: first.body.id, queueId: fields.queue_id, amount: '1', uid: user.uid });
    }
    expect((await available(user.uid)).held).toBe('1');
  });

  test('withdraw: a queue_id used for another payout is 409 idempotency_conflict; a short balance is 422 before anything is signed', async () => {
    const user = await givenFundedUser('5');
    const fields = { queue_id: queueId('withdraw'), from_address: user.address, to_address: anyAddress(), amount: 2, chain: 'ETH', symbol: 'USDT' };
    expect((await post('withdraw', signed(fields))).status).toBe(202);
    const conflict = await post('withdraw', signed({ ...fields, amount: 3 }));
    expect([conflict.status, conflict.body.error.code]).toEqual([409, 'idempotency_conflict']);
    const short = await post('withdraw', signed({ ...fields, queue_id: queueId('withdraw'), amount: 50 }));
    expect([short.status, short.body.error.code]).toEqual([422, 'insufficient_funds']);
  });

  test('withdraw with a bad or stale sign, or a sign made for a topup, starts nothing', async () => {
    // given
    const user = await givenFundedUser();
    const topup = signed({ chain: 'ETH', symbol: 'USDT', address: user.address });
    expect((await post('topup', topup)).status).toBe(200);
    const fields = { from_address: user.address, to_address: anyAddress(), amount: 1, chain: 'ETH', symbol: 'USDT' };
    const attempts: [string, string, number, string][] = [];
    // when
    const bad = queueId('withdraw');
    attempts.push([bad, signed({ ...fields, queue_id: bad }, 'not-the-shared-key-of-m2pool'), 401, 'invalid_signature']);
    const stale = queueId('withdraw');
    attempts.push([stale, signed({ ...fields, queue_id: stale, timestamp: now() - 3600 }), 401, 'stale_request']);
    const replayed = queueId('withdraw');
    const body = `{"queue_id":"${replayed}","from_address":"${user.address}","to_address":"${fields.to_address}","amount":1,"chain":"ETH","symbol":"USDT","timestamp":${now()},"sign":"${JSON.parse(topup).sign}"}`;
    attempts.push([replayed, body, 409, 'replayed_request']);
    // then
    for (const [queue, text, status, code] of attempts) {
      const res = await post('withdraw', text);
      expect([queue, res.status, res.body.error.code]).toEqual([queue, status, code]);
      expect(await app.workflowExists(withdrawalWorkflowId(queue))).toBe(false);
    }
    expect((await available(user.uid)).held).toBe('0');
  });

  test('withdraw: an unknown from_address, an amount with more places than the token, an unknown field: 4xx, nothing started', async () => {
    const user = await givenFundedUser();
    const base = { queue_id: queueId('withdraw'), from_address: user.address, to_address: anyAddress(), amount: 1, chain: 'ETH', symbol: 'USDT' };
    const cases: [Record<string, string | number | { literal: string }>, number, string][] = [
      [{ ...base, from_address: anyAddress() }, 422, 'unknown_address'],
      [{ ...base, amount: { literal: '0.0000000000000000001' } }, 400, 'too_many_decimals'],
      [{ ...base, amount: { literal: '-1' } }, 400, 'invalid_amount'],
      [{ ...base, to_address: '0x12' }, 400, 'invalid_request'],
      [{ ...base, order_id: 'o1' }, 400, 'invalid_request'],
    ];
    for (const [fields, status, code] of cases) {
      const res = await post('withdraw', signed(fields));
      expect([JSON.stringify(fields), res.status, res.body.error.code]).toEqual([JSON.stringify(fields), status, code]);
    }
    expect(await app.workflowExists(withdrawalWorkflowId(base.queue_id))).toBe(false);
  });

  test('pay: a merchant payment for an order, and one final pay_resp with the order id', async () => {
    // given
    const user = await givenFundedUser();
    const merchant = anyAddress();
    const queue = queueId('pay');
    // when
    const res = await post('pay', signed({ queue_id: queue, from_address: user.address, to_address: merchant, amount: 3, chain: 'ETH', symbol: 'USDT', order_id: 'order_789' }));
    // then
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ object: 'merchant_payment', queueId: queue, orderId: 'order_789', amount: '3', toAddress: merchant });
    await waitFor('the payment to be broadcast', async () => (await chain.tokenBalance('USDT', merchant)) === '3000000');
    await chain.mine(5);
    const [notice] = await receiver.waitForDeliveries(1, (d) => d.channel === 'pay' && d.json.queue_id === queue && d.answered === 200, 60_000);
    expect(notice.signatureValid).toBe(true);
    expect(notice.json).toMatchObject({ queue_id: queue, order_id: 'order_789', chain: 'ETH', symbol: 'USDT' });
    expect(String(notice.json.status)).toBe('1');
    expect(notice.body).toContain('"amount":3,');
  });
});
