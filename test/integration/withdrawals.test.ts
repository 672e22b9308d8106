// Withdrawals and merchant payments through the API, on the test chain: held → signed from the hot wallet (or the
// collection wallet when the hot one is short) → confirmed → posted, with one final notification; and every refusal
// (insufficient balance, bad input) answered before anything is signed.
import { hotWallet, collectionWallet, depositAddressFor } from '../../db/wallets';
import { checkInvariants, getBalances, getTransfer } from '../../db/ledger';
import { startWithdrawal } from '../../api/withdrawals';
import { chainTxsOf } from '../../db/chain-sends';
import { getWithdrawal } from '../../db/withdrawals';
import { WorkflowNotFoundError } from '@temporalio/client';
import { confirmationWorkflowId } from '../../domain/chain';
import type { ChainTxOutcome } from '../../domain/withdrawal';
import { LOCAL_CHAIN_ID, LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import type { TestApp } from '../support/app';
import type { TestChain } from '../support/chain';
import { useWorkerAndApp } from '../support/suites';
import { useWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import {
  checksummed,
  givenTokenHolder,
  newRecipient,
  notificationsOf,
  payoutReaches,
  payoutTxReaches,
  runsOf,
  transfersTo,
  useChainSendSettings,
  useChainSnapshot,
  withConfirmPollMs,
} from '../support/withdrawals';

let app: TestApp;
let receiver: WebhookReceiver;
let chain: TestChain;
let hot: string;
let collection: string;

useChainSendSettings({ pollMs: 200 });
useChainSnapshot((c) => (chain = c));
useWebhookReceiver((r) => (receiver = r));
useWorkerAndApp((a) => (app = a));

beforeAll(async () => {
  hot = (await hotWallet(app.db, LOCAL_NETWORK_ID)).address;
  collection = (await collectionWallet(app.db, LOCAL_NETWORK_ID)).address;
});

let seq = 0;
const queueId = (label: string) => `${label}-${Date.now().toString(36)}-${++seq}`;

const withdraw = (key: string, body: Record<string, unknown>) => app.api('/api/v1/withdrawals', { headers: { 'Idempotency-Key': key }, body });
const available = async (uid: number, currency: string) => (await getBalances(app.db, [`user:${uid}`], currency))[0];

/** The one final notification of a payout, as delivered; fails when there is not exactly one. */
async function theNotification(payoutId: string, deliveredBy = payoutId) {
  const [delivery] = await receiver.waitForDeliveries(1, (d) => d.notificationId === `${payoutId}:final` && d.answered === 200);
  // The payout delivers it itself when its first attempt is answered; a NotificationWorkflow exists only once it took over.
  // A second start would have made a second run, or a second notification id, by now: none may exist.
  expect(await runsOf(app, `notify-${payoutId}:final`)).toBe(deliveredBy === payoutId ? 0 : 1);
  expect((await notificationsOf(app.db, payoutId)).map((n) => n.id)).toEqual([`${payoutId}:final`]);
  const shown = await app.api(`/api/v1/notifications/${encodeURIComponent(`${payoutId}:final`)}`);
  expect(shown.body).toMatchObject({ status: 'delivered', workflowId: deliveredBy });
  expect(receiver.deliveries().filter((d) => d.notificationId.startsWith(`${payoutId}:`) && d.answered === 200)).toHaveLength(1);
  expect(delivery.signatureValid).toBe(true);
  return delivery;
}

describe('withdrawals', () => {
  test('pays the tokens out once the transaction has its confirmations: hold posted, tokens at the recipient, one withdraw_resp with status 1', async () => {
    // given a user holding 100 USDT in the ledger
    const uid = await givenTokenHolder(app, 'USDT', '100');
    const to = newRecipient();
    const key = queueId('w');

    // when they withdraw 12.5 USDT to their address
    const res = await withdraw(key, { uid, toAddress: checksummed(to), amount: '12.5', network: 'local', token: 'USDT' });

    // then it is accepted with the balance held
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ object: 'withdrawal', id: `withdrawal-${key}`, queueId: key, uid, toAddress: to, amount: '12.5', token: 'USDT', chain: 'ETH' });
    expect(['held', 'sent']).toContain(res.body.status);
    expect(await available(uid, 'USDT')).toMatchObject({ balance: '100', held: '12.5', available: '87.5' });

    // and once mined and confirmed (3 blocks on the local network) the hold is posted
    const [tx] = await payoutTxReaches(app.db, `withdrawal-${key}`, ['mined']);
    expect(tx).toMatchObject({ from: hot, nonce: expect.any(Number), attempt: 0, recipient: to, tokenUnits: '12500000' });
    // two blocks on top of it are not enough: after several looks it is still held
    await chain.mine(2);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await getWithdrawal(app.db, `withdrawal-${key}`))?.status).toBe('held');
    expect(await getTransfer(app.db, `withdrawal-${key}`)).toMatchObject({ state: 'pending' });
    await chain.mine(1);
    const done = await payoutReaches(app.db, `withdrawal-${key}`, ['confirmed']);
    expect(done.txHash).toBe(tx.hash);
    expect(await available(uid, 'USDT')).toMatchObject({ balance: '87.5', held: '0', available: '87.5' });
    expect(await getTransfer(app.db, `withdrawal-${key}`)).toMatchObject({ state: 'posted', creditAccount: 'external:chain:31337:USDT', kind: 'withdrawal' });

    // and the tokens arrived, in one transfer from the hot wallet
    expect(await transfersTo(chain, 'USDT', to)).toEqual([expect.objectContaining({ from: hot, value: 12_500_000n, txHash: tx.hash })]);
    expect(await chain.tokenBalance('USDT', to)).toBe('12500000');

    // and one withdraw_resp says so, in M2Pool's shape
    const delivery = await theNotification(`withdrawal-${key}`);
    expect(delivery.channel).toBe('withdraw');
    expect(JSON.parse(delivery.body)).toEqual({ queue_id: key, status: 1, amount: 12.5, chain: 'ETH', symbol: 'USDT', tx_hash: tx.hash });

    // and the API shows it confirmed, from the hot wallet
    const shown = await app.api(`/api/v1/withdrawals/withdrawal-${key}`);
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ status: 'confirmed', wallet: { kind: 'hot', address: hot }, txHash: tx.hash, blockNumber: done.blockNumber, failure: null });
    expect(shown.body.transactions).toEqual([{ hash: tx.hash, nonce: tx.nonce, attempt: 0, replaces: null, status: 'confirmed', blockNumber: done.blockNumber }]);
    expect((await checkInvariants(app.db)).violations).toEqual([]);

    // and the payout's own look (4 looks' time after the broadcast) saw it mined without its confirmations: a
    // ChainConfirmationWorkflow followed it from there on, with what that look saw
    const followed = (await app.client.workflow.getHandle(confirmationWorkflowId(LOCAL_CHAIN_ID, tx.hash)).result()) as ChainTxOutcome;
    expect(followed).toMatchObject({ outcome: 'confirmed', hash: tx.hash, blockNumber: done.blockNumber });
    expect(followed.events.map((e) => e.kind)).toEqual(['mined']);
  });

  test('settles a transaction its own first look finds final, with no workflow to follow it', async () => {
    // given payouts looked at once a second (the payout's own first look comes 4 s after the broadcast)
    const uid = await givenTokenHolder(app, 'USDT', '10');
    const key = queueId('first-look');
    const id = `withdrawal-${key}`;

    // when a withdrawal's transaction is mined and has its 3 confirmations before that look
    const { view } = await startWithdrawal(withConfirmPollMs(app, 1_000), { queueId: key, uid, toAddress: newRecipient(), amount: '2', network: 'local', token: 'USDT' });
    expect(view).toMatchObject({ id, status: 'sent' });
    await chain.mine(3);

    // then that look settles it: confirmed, posted and notified by the payout alone, no ChainConfirmationWorkflow started
    const done = await payoutReaches(app.db, id, ['confirmed']);
    const [tx] = await chainTxsOf(app.db, id);
    expect(tx).toMatchObject({ hash: done.txHash, status: 'confirmed', blockNumber: done.blockNumber });
    await expect(app.client.workflow.getHandle(confirmationWorkflowId(LOCAL_CHAIN_ID, tx.hash)).describe()).rejects.toThrow(WorkflowNotFoundError);
    expect(await available(uid, 'USDT')).toMatchObject({ balance: '8', held: '0' });
    expect(await getTransfer(app.db, id)).toMatchObject({ state: 'posted' });
    await theNotification(id);
  });

  test('hands the final notification over to its own workflow when the first attempt fails: delivered once, attempts numbered on', async () => {
    // given a user holding 20 USDT, and a receiver that fails the next request
    const uid = await givenTokenHolder(app, 'USDT', '20');
    const key = queueId('w-retry');
    const id = `withdrawal-${key}`;
    receiver.failNext(1);

    // when they withdraw 5 USDT and the transfer is confirmed
    expect((await withdraw(key, { uid, toAddress: checksummed(newRecipient()), amount: '5', network: 'local', token: 'USDT' })).status).toBe(202);
    await payoutTxReaches(app.db, id, ['mined']);
    await chain.mine(3);
    await payoutReaches(app.db, id, ['confirmed']);

    // then the payout's own attempt was refused, and NotificationWorkflow delivered it on the next one, once
    const delivery = await theNotification(id, `notify-${id}:final`);
    expect(JSON.parse(delivery.body)).toMatchObject({ queue_id: key, status: 1 });
    expect(receiver.deliveries().filter((d) => d.notificationId === `${id}:final`).map((d) => d.answered)).toEqual([500, 200]);
    const shown = await app.api(`/api/v1/notifications/${encodeURIComponent(`${id}:final`)}`);
    expect(shown.body).toMatchObject({ attempts: 2, deliveries: [{ run: 1, attempt: 1, statusCode: 500 }, { run: 1, attempt: 2, statusCode: 200 }] });
  });

  test('redelivers on an admin\'s request a notice the payout delivered itself: its own workflow sends run 2', async () => {
    // given a confirmed withdrawal whose notice the payout delivered at its first attempt
    const uid = await givenTokenHolder(app, 'USDT', '10');
    const key = queueId('w-again');
    const id = `withdrawal-${key}`;
    expect((await withdraw(key, { uid, toAddress: checksummed(newRecipient()), amount: '2', network: 'local', token: 'USDT' })).status).toBe(202);
    await payoutTxReaches(app.db, id, ['mined']);
    await chain.mine(3);
    await payoutReaches(app.db, id, ['confirmed']);
    await theNotification(id);

    // when an admin asks for it again
    const res = await app.api(`/api/v1/notifications/${encodeURIComponent(`${id}:final`)}/redeliver`, { method: 'POST' });

    // then NotificationWorkflow delivers the same body as run 2, and delivers it from now on
    expect(res.status).toBe(202);
    const [first, second] = await receiver.waitForDeliveries(2, (d) => d.notificationId === `${id}:final` && d.answered === 200);
    expect(second.body).toBe(first.body);
    const result = await app.client.workflow.getHandle(`notify-${id}:final`).result();
    expect(result).toEqual({ id: `${id}:final`, state: 'delivered', run: 2 });
    expect((await app.api(`/api/v1/notifications/${encodeURIComponent(`${id}:final`)}`)).body).toMatchObject({ run: 2, workflowId: `notify-${id}:final` });
  });

  test('answers a repeated request with the payout as it is, and a reused queue id with another body with 409', async () => {
    // given a confirmed withdrawal
    const uid = await givenTokenHolder(app, 'USDT', '10');
    const to = newRecipient();
    const key = queueId('again');
    const body = { uid, toAddress: to, amount: '1', network: 'local', token: 'USDT' };
    expect((await withdraw(key, body)).status).toBe(202);
    await payoutReaches(app.db, `withdrawal-${key}`, ['confirmed'], { chain });

    // when the same request comes again, then it is answered with the outcome and nothing more is sent
    const again = await withdraw(key, body);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: `withdrawal-${key}`, status: 'confirmed' });
    // and the queue id in the body works as the key too
    expect((await app.api('/api/v1/withdrawals', { body: { ...body, queueId: key } })).body.status).toBe('confirmed');

    // when the queue id comes with another amount, then 409
    const other = await withdraw(key, { ...body, amount: '2' });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect(await transfersTo(chain, 'USDT', to)).toHaveLength(1);
    expect(await chain.tokenBalance('USDT', to)).toBe('1000000');
  });

  test('pays from the collection wallet when the hot wallet holds too few tokens', async () => {
    // given a hot wallet with 1,000,000 USDT and a collection wallet with 3,000,000, and a user holding 1,500,000
    await chain.mint('USDT', collection, '2000000');
    const hotBefore = await chain.tokenBalance('USDT', hot);
    const uid = await givenTokenHolder(app, 'USDT', '1500000');
    const to = newRecipient();
    const key = queueId('big');

    // when the user withdraws 1,500,000 USDT
    expect((await withdraw(key, { uid, toAddress: to, amount: '1500000', network: 'local', token: 'USDT' })).status).toBe(202);

    // then the collection wallet pays it, the hot wallet is untouched
    const done = await payoutReaches(app.db, `withdrawal-${key}`, ['confirmed'], { chain });
    expect(await transfersTo(chain, 'USDT', to)).toEqual([expect.objectContaining({ from: collection, value: 1_500_000_000_000n, txHash: done.txHash })]);
    expect(await chain.tokenBalance('USDT', hot)).toBe(hotBefore);
    expect((await app.api(`/api/v1/withdrawals/withdrawal-${key}`)).body.wallet).toEqual({ kind: 'collection', address: collection });
    expect(JSON.parse((await theNotification(`withdrawal-${key}`)).body)).toMatchObject({ status: 1, tx_hash: done.txHash });
  });

  test('pays from the collection wallet when the hot wallet has no gas money', async () => {
    // given a hot wallet without ether
    const ether = (await chain.provider.getBalance(hot)).toString();
    await chain.setBalance(hot, '0');
    try {
      const uid = await givenTokenHolder(app, 'USDT', '5');
      const to = newRecipient();
      const key = queueId('nogas');

      // when a user withdraws
      expect((await withdraw(key, { uid, toAddress: to, amount: '5', network: 'local', token: 'USDT' })).status).toBe(202);

      // then the collection wallet pays it
      await payoutReaches(app.db, `withdrawal-${key}`, ['confirmed'], { chain });
      expect(await transfersTo(chain, 'USDT', to)).toEqual([expect.objectContaining({ from: collection, value: 5_000_000n })]);
    } finally {
      await chain.setBalance(hot, ether);
    }
  });

  test('fails clearly when neither wallet can pay: nothing signed, the hold voided, one withdraw_resp with status 0', async () => {
    // given a user holding more than both wallets together
    const uid = await givenTokenHolder(app, 'USDT', '50000000');
    const key = queueId('short');

    // when they withdraw it all (the answer comes once the send was tried: failed already)
    const res = await withdraw(key, { uid, toAddress: newRecipient(), amount: '50000000', network: 'local', token: 'USDT' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'failed', failure: { code: 'wallets_short' } });

    // then the payout fails, and says why
    const failed = await payoutReaches(app.db, `withdrawal-${key}`, ['failed']);
    expect(failed.failure?.code).toBe('wallets_short');
    expect(failed.failure?.message).toMatch(/hot wallet holds .* USDT, 50000000 USDT needed; collection wallet holds/);
    expect(await chainTxsOf(app.db, `withdrawal-${key}`)).toEqual([]);
    expect(await getTransfer(app.db, `withdrawal-${key}`)).toMatchObject({ state: 'voided' });
    expect(await available(uid, 'USDT')).toMatchObject({ balance: '50000000', held: '0' });
    expect(JSON.parse((await theNotification(`withdrawal-${key}`)).body)).toEqual({ queue_id: key, status: 0, amount: 50000000, chain: 'ETH', symbol: 'USDT', tx_hash: null });
    expect((await app.api(`/api/v1/withdrawals/withdrawal-${key}`)).body).toMatchObject({ status: 'failed', failure: { code: 'wallets_short' }, transactions: [] });
  });

  test('refuses a withdrawal above the user\'s balance with 422 before anything is signed, the same every time', async () => {
    // given a user holding 5 USDT
    const uid = await givenTokenHolder(app, 'USDT', '5');
    const key = queueId('poor');
    const body = { uid, toAddress: newRecipient(), amount: '5.000001', network: 'local', token: 'USDT' };

    // when they withdraw more, then 422 insufficient_funds
    const res = await withdraw(key, body);
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('insufficient_funds');

    // and nothing was held or signed; the one final notification says 0
    expect(await getTransfer(app.db, `withdrawal-${key}`)).toBeUndefined();
    expect(await chainTxsOf(app.db, `withdrawal-${key}`)).toEqual([]);
    expect(await available(uid, 'USDT')).toMatchObject({ balance: '5', held: '0' });
    expect(JSON.parse((await theNotification(`withdrawal-${key}`)).body)).toMatchObject({ queue_id: key, status: 0, tx_hash: null });

    // and asking again answers the same; GET shows it refused
    const again = await withdraw(key, body);
    expect([again.status, again.body.error.code]).toEqual([422, 'insufficient_funds']);
    expect((await app.api(`/api/v1/withdrawals/withdrawal-${key}`)).body).toMatchObject({ status: 'refused', failure: { code: 'insufficient_funds' } });
  });
});

describe('without a worker', () => {
  test('accepts a withdrawal no worker has taken yet as processing, and shows it from its run', async () => {
    // given a task queue no worker polls
    const uid = await givenTokenHolder(app, 'USDT', '3');
    const key = queueId('idle');
    const idle = { ...app, config: { ...app.config, temporal: { ...app.config.temporal, taskQueue: `nobody-${key}` } } };

    // when a withdrawal is started there, then after the API's wait it is accepted, processing, nothing held yet
    const { view } = await startWithdrawal(idle, { queueId: key, uid, toAddress: newRecipient(), amount: '3', network: 'local', token: 'USDT' });
    expect(view).toMatchObject({ id: `withdrawal-${key}`, status: 'processing', amount: '3', uid });
    expect(await available(uid, 'USDT')).toMatchObject({ held: '0' });

    // and GET shows it from the run
    const shown = await app.api(`/api/v1/withdrawals/withdrawal-${key}`);
    expect(shown.body).toMatchObject({ object: 'withdrawal', id: `withdrawal-${key}`, status: 'processing', amount: '3', token: 'USDT', transactions: [] });
    await app.client.workflow.getHandle(`withdrawal-${key}`).terminate('test done');
  });
});

describe('merchant payments', () => {
  test('pays a merchant for an order in an 18-decimal token from the user named by deposit address, with the order id in its pay_resp', async () => {
    // given a user with a deposit address, holding DAI
    const uid = await givenTokenHolder(app, 'DAI', '10');
    const { depositAddress } = await depositAddressFor(app.db, uid, LOCAL_NETWORK_ID);
    const merchant = newRecipient();
    const key = queueId('pay');

    // when they pay an order of 3.141592653589793238 DAI, named by their deposit address
    const res = await app.api('/api/v1/merchant-payments', {
      headers: { 'Idempotency-Key': key },
      body: { fromAddress: checksummed(depositAddress.address), toAddress: merchant, amount: '3.141592653589793238', network: 'local', token: 'DAI', orderId: 'order_789' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ object: 'merchant_payment', id: `payment-${key}`, orderId: 'order_789', uid, fromAddress: depositAddress.address });

    // then the merchant gets exactly that, and the hold is posted
    const done = await payoutReaches(app.db, `payment-${key}`, ['confirmed'], { chain });
    expect(await chain.tokenBalance('DAI', merchant)).toBe('3141592653589793238');
    expect(await getTransfer(app.db, `payment-${key}`)).toMatchObject({ state: 'posted', kind: 'payment', amount: '3.141592653589793238', currency: 'DAI' });
    expect(await available(uid, 'DAI')).toMatchObject({ balance: '6.858407346410206762', held: '0' });

    // and one pay_resp carries the order id and the amount as written
    const delivery = await theNotification(`payment-${key}`);
    expect(delivery.channel).toBe('pay');
    expect(delivery.body).toBe(
      `{"queue_id":"${key}","status":1,"amount":3.141592653589793238,"chain":"ETH","symbol":"DAI","tx_hash":"${done.txHash}","order_id":"order_789"}`,
    );
    expect((await app.api(`/api/v1/merchant-payments/payment-${key}`)).body).toMatchObject({ status: 'confirmed', orderId: 'order_789' });
    // a payment is not a withdrawal
    expect((await app.api(`/api/v1/withdrawals/payment-${key}`)).status).toBe(404);
  });
});

describe('bad input', () => {
  const cases: [string, Record<string, unknown>, number, string][] = [
    ['an address with a bad checksum', { toAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79c8' }, 400, 'invalid_request'],
    ['an address of the wrong length', { toAddress: '0x70997970c51812dc3a010c7d01b50e0d17dc79' }, 400, 'invalid_request'],
    ['the zero address', { toAddress: '0x0000000000000000000000000000000000000000' }, 400, 'invalid_request'],
    ['an unknown token', { token: 'DOGE' }, 400, 'unsupported_currency'],
    ['an unknown network', { network: 'nowhere' }, 400, 'invalid_request'],
    ['more decimals than the token has', { amount: '1.0000001' }, 400, 'too_many_decimals'],
    ['a zero amount', { amount: '0' }, 400, 'invalid_amount'],
    ['a negative amount', { amount: '-1' }, 400, 'invalid_amount'],
    ['an amount that is not a number', { amount: '1e3' }, 400, 'invalid_amount'],
    ['an unknown user', { uid: 999_999_999_999 }, 422, 'unknown_user'],
    ['no user at all', { uid: undefined }, 400, 'invalid_request'],
    ['a from address that is no deposit address', { uid: undefined, fromAddress: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' }, 422, 'unknown_address'],
  ];

  test.each(cases)('refuses %s with a 4xx and starts nothing', async (_what, change, status, code) => {
    // given a funded user
    const uid = await givenTokenHolder(app, 'USDT', '100');
    const key = queueId('bad');

    // when the request has the flaw
    const res = await withdraw(key, { uid, toAddress: newRecipient(), amount: '1', network: 'local', token: 'USDT', ...change });

    // then it is refused, and no workflow, hold or transaction exists
    expect([res.status, res.body.error.code]).toEqual([status, code]);
    expect(res.body.error.message).toEqual(expect.any(String));
    expect(await app.workflowExists(`withdrawal-${key}`)).toBe(false);
    expect(await getTransfer(app.db, `withdrawal-${key}`)).toBeUndefined();
    expect(await available(uid, 'USDT')).toMatchObject({ held: '0' });
  });

  test('refuses a request without a key, and a merchant payment without an order id, and starts nothing', async () => {
    const uid = await givenTokenHolder(app, 'USDT', '1');
    const body = { uid, toAddress: newRecipient(), amount: '1', network: 'local', token: 'USDT' };
    const noKey = await app.api('/api/v1/withdrawals', { body });
    expect([noKey.status, noKey.body.error.code]).toEqual([400, 'idempotency_key_missing']);

    const key = queueId('noorder');
    const noOrder = await app.api('/api/v1/merchant-payments', { headers: { 'Idempotency-Key': key }, body });
    expect(noOrder.status).toBe(400);
    expect(await app.workflowExists(`payment-${key}`)).toBe(false);

    const readOnly = await app.api('/api/v1/withdrawals', { key: 'test_read_key_0000000000000', headers: { 'Idempotency-Key': queueId('ro') }, body });
    expect(readOnly.status).toBe(403);
    expect((await app.api('/api/v1/withdrawals/withdrawal-nothing-here')).status).toBe(404);
  });
});
