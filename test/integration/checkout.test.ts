// Checkout sessions end to end on the test chain (seed 003): a session gets an address of its own, the chain scanner
// routes transfers to it to its CheckoutSessionWorkflow, which follows them to the network's confirmations, credits the
// merchant once per transfer and writes each status change, which the API pushes over its WebSocket. Underpaid, overpaid,
// expired, paid late, a reorg, a tx hash handed in by hand with no scanner running, bad input, and the stats.
import { getAddress, Wallet } from 'ethers';
import { checkInvariants, getBalances } from '../../db/ledger';
import { getNetwork } from '../../db/networks';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import { TEST_KEYS, type TestApp } from '../support/app';
import { connectTestChain, type TestChain } from '../support/chain';
import { connectPaymentSocket, creditsOfPayment, FAST_CHECKOUT, givenPayment, paymentReaches, statusesSeen } from '../support/checkout';
import { givenSigningWallet, scannedPast, sendRaw, startTestScanners } from '../support/deposits';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';

let app: TestApp;
let chain: TestChain;
let chainAtStart: string;
let scanners: Awaited<ReturnType<typeof startTestScanners>>;
let confirmations: number;

useWorkerAndApp((a) => (app = a), { checkout: FAST_CHECKOUT });

/** The payer: account #8 of the node, with tokens minted to it. */
const PAYER = 8;

beforeAll(async () => {
  chain = connectTestChain();
  chainAtStart = await chain.snapshot();
  scanners = await startTestScanners(app.client, app.db);
  confirmations = (await getNetwork(app.db, LOCAL_NETWORK_ID))!.confirmations;
  const payer = (await chain.signer(PAYER)).address;
  await chain.mint('USDT', payer, '100000');
  await chain.mint('DAI', payer, '1000');
});
afterAll(async () => {
  await scanners?.stop();
  await chain?.revert(chainAtStart);
  chain?.close();
});
afterEach(async () => {
  expect((await checkInvariants(app.db)).violations).toEqual([]);
});

const merchantBalance = async (currency: string) => (await getBalances(app.db, ['merchant:checkout'], currency))[0]?.balance ?? '0';

describe('a checkout session paid on chain', () => {
  it('paid exactly: processing once seen, paid after the confirmations, credited once, every change pushed over the WebSocket', async () => {
    // Given a session for 12.5 USDT, followed over the WebSocket
    const payment = await givenPayment(app, { amount: '12.5', productName: 'T-shirt', description: 'Size M' });
    const usdt = chain.token('USDT');
    expect(payment).toMatchObject({
      object: 'payment',
      status: 'new',
      productName: 'T-shirt',
      amount: '12.5',
      amountUnits: '12500000',
      token: 'USDT',
      network: LOCAL_NETWORK_ID,
      chainId: 31337,
      decimals: 6,
      requiredConfirmations: confirmations,
      transactions: [],
      workflowId: `checkout-${payment.id}`,
    });
    expect(payment.id).toMatch(/^pay_[0-9a-f]{24}$/);
    expect(payment.address).toBe(getAddress(payment.address));
    expect(payment.paymentUri).toBe(`ethereum:${getAddress(usdt.address)}@31337/transfer?address=${payment.address}&uint256=12500000`);
    const qr = await fetch(`${app.baseUrl}${payment.qrImage.png}`);
    expect([qr.status, qr.headers.get('content-type')]).toEqual([200, 'image/png']);
    const socket = await connectPaymentSocket(app, payment.id);
    const ack = await socket.next((m) => m.type === 'connection_ack');
    expect(ack).toMatchObject({ paymentId: payment.id, data: { id: payment.id, status: 'new', address: payment.address } });
    const merchantBefore = await merchantBalance('USDT');

    // When the exact amount is sent to its address
    const tx = await chain.transferToken('USDT', PAYER, payment.address, '12.5');

    // Then it is processing, with nothing credited yet
    const processing = await socket.next((m) => m.data?.status === 'processing');
    expect(processing.data).toMatchObject({ transactionHash: tx.hash, blockNumber: tx.blockNumber, pendingAmount: '12.5', receivedAmount: '0' });
    expect(await creditsOfPayment(app.db, payment.id)).toEqual([]);

    // When its block gets the network's confirmations
    await chain.mine(confirmations);

    // Then it is paid, credited to the merchant once, and the client heard new → processing → paid
    const paid = await socket.next((m) => m.data?.status === 'paid');
    expect(paid.type).toBe('payment_status_update');
    expect(paid.data).toMatchObject({ receivedAmount: '12.5', dueAmount: '0', excessAmount: '0', transactionHash: tx.hash, confirmations });
    expect(paid.data.paidAt).not.toBeNull();
    expect(paid.data.transactions).toEqual([expect.objectContaining({ txHash: tx.hash, status: 'confirmed', late: false, transferId: `checkout:31337:${tx.hash}:0` })]);
    expect(await creditsOfPayment(app.db, payment.id)).toEqual([
      { id: `checkout:31337:${tx.hash}:0`, amount: expect.stringMatching(/^12\.50*$/), currency: 'USDT', state: 'posted', credit: 'merchant:checkout' },
    ]);
    expect(Number(await merchantBalance('USDT')) - Number(merchantBefore)).toBe(12.5);
    expect(statusesSeen(socket)).toEqual(['new', 'processing', 'paid']);
    const versions = socket.messages.filter((m) => m.type !== 'pong').map((m) => m.data.version);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(versions).size).toBe(versions.length);

    // And a ping is answered
    socket.send({ type: 'ping' });
    await socket.next((m) => m.type === 'pong');
    socket.close();
  });

  it('underpaid, then topped up before expiry: paid, each transfer credited once', async () => {
    const payment = await givenPayment(app, { amount: '10' });
    const first = await chain.transferToken('USDT', PAYER, payment.address, '4');
    await chain.mine(confirmations);
    expect(await paymentReaches(app, payment.id, ['underpaid'])).toMatchObject({ receivedAmount: '4', dueAmount: '6', pendingAmount: '0' });

    const second = await chain.transferToken('USDT', PAYER, payment.address, '6');
    await chain.mine(confirmations);

    const paid = await paymentReaches(app, payment.id, ['paid']);
    expect(paid).toMatchObject({ receivedAmount: '10', dueAmount: '0', excessAmount: '0', transactionHash: second.hash });
    expect((await creditsOfPayment(app.db, payment.id)).map((c) => [c.id, Number(c.amount)])).toEqual([
      [`checkout:31337:${first.hash}:0`, 4],
      [`checkout:31337:${second.hash}:0`, 6],
    ]);
  });

  it('overpaid: the excess is recorded, the whole transfer credited', async () => {
    const payment = await givenPayment(app, { amount: '5' });
    await chain.transferToken('USDT', PAYER, payment.address, '7.25');
    await chain.mine(confirmations);
    expect(await paymentReaches(app, payment.id, ['overpaid'])).toMatchObject({ receivedAmount: '7.25', excessAmount: '2.25', dueAmount: '0' });
    expect((await creditsOfPayment(app.db, payment.id)).map((c) => Number(c.amount))).toEqual([7.25]);
  });

  it('pays a token of 18 decimals to the last wei', async () => {
    const payment = await givenPayment(app, { amount: '1.000000000000000001', token: 'DAI' });
    expect(payment.amountUnits).toBe('1000000000000000001');
    await chain.transferToken('DAI', PAYER, payment.address, '1.000000000000000001');
    await chain.mine(confirmations);
    expect(await paymentReaches(app, payment.id, ['paid'])).toMatchObject({ receivedAmount: '1.000000000000000001' });
    expect(await creditsOfPayment(app.db, payment.id)).toEqual([expect.objectContaining({ amount: '1.000000000000000001', currency: 'DAI' })]);
  });

  it('expired: nothing came by expiry', async () => {
    const payment = await givenPayment(app, { amount: '3', expiresInSeconds: 5 });
    const socket = await connectPaymentSocket(app, payment.id);
    const expired = await socket.next((m) => m.data?.status === 'expired', 30_000);
    expect(expired.data).toMatchObject({ receivedAmount: '0', transactions: [] });
    expect(Date.parse(expired.timestamp)).toBeGreaterThanOrEqual(Date.parse(payment.expiresAt));
    expect(await creditsOfPayment(app.db, payment.id)).toEqual([]);
    socket.close();
  });

  it('paid after expiry: paid_late, the transfer flagged late and credited once', async () => {
    const payment = await givenPayment(app, { amount: '3', expiresInSeconds: 5 });
    await paymentReaches(app, payment.id, ['expired'], { timeoutMs: 30_000 });

    const tx = await chain.transferToken('USDT', PAYER, payment.address, '3');
    await chain.mine(confirmations);

    const late = await paymentReaches(app, payment.id, ['paid_late']);
    expect(late.transactions).toEqual([expect.objectContaining({ txHash: tx.hash, late: true, status: 'confirmed' })]);
    expect(await creditsOfPayment(app.db, payment.id)).toHaveLength(1);
  });
});

describe('the end of the watch', () => {
  it('closes the session once the late window has passed: a transfer then is not its, and a tx hash handed in is refused', async () => {
    // Given a session that expired unpaid, and whose late window (8 s here) has passed
    const payment = await givenPayment(app, { amount: '2', expiresInSeconds: 5 });
    const closed = await paymentReaches(app, payment.id, ['expired'], { timeoutMs: 30_000 }).then(() =>
      waitFor('the session to close', async () => {
        const now = (await app.api(`/api/v1/payments/${payment.id}`, { key: null })).body;
        return now.closed ? now : undefined;
      }, 30_000),
    );
    expect(closed).toMatchObject({ status: 'expired', closed: true });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(closed.watchUntil));

    // When money is sent to its address anyway
    const tx = await chain.transferToken('USDT', PAYER, payment.address, '2');
    await scannedPast(app.db, tx.blockNumber);

    // Then the session does not take it, by scan or by hand
    const handed = await app.api(`/api/v1/payments/${payment.id}/process`, { key: null, body: { txHash: tx.hash } });
    expect([handed.status, handed.body.error.code]).toEqual([409, 'payment_closed']);
    expect((await app.api(`/api/v1/payments/${payment.id}`, { key: null })).body).toMatchObject({ status: 'expired', transactions: [] });
    expect(await creditsOfPayment(app.db, payment.id)).toEqual([]);
  });
});

describe('a reorg around the payment', () => {
  it('drops a transfer that left the chain back to new, then follows it to paid in the block that holds it now', async () => {
    // Given a session whose payment, signed here, is processing one block deep
    const payment = await givenPayment(app, { amount: '8' });
    const payer = await givenSigningWallet(chain, 'USDT', '100');
    const raw = await payer.signTransfer(payment.address, '8');
    const beforePayment = await chain.snapshot();
    const first = await sendRaw(chain, raw);
    await chain.mine(1);
    await paymentReaches(app, payment.id, ['processing']);

    // When the chain goes back before its block and a longer chain without it is mined
    await chain.revert(beforePayment);
    await chain.mine(confirmations + 1);

    // Then the session drops back to new and nothing is credited
    const dropped = await paymentReaches(app, payment.id, ['new'], { chain });
    expect(dropped).toMatchObject({ pendingAmount: '0', receivedAmount: '0' });
    expect(dropped.transactions).toEqual([expect.objectContaining({ txHash: first.hash, onChain: false })]);
    expect(await creditsOfPayment(app.db, payment.id)).toEqual([]);

    // When the same transaction is mined again, and confirmed
    const again = await sendRaw(chain, raw);
    expect(again.hash).toBe(first.hash);
    await chain.mine(confirmations);

    // Then it is paid, once, from the block that holds the transfer on the canonical chain
    const paid = await paymentReaches(app, payment.id, ['paid']);
    const receipt = (await chain.provider.getTransactionReceipt(first.hash))!;
    expect(paid.transactions).toEqual([expect.objectContaining({ txHash: first.hash, status: 'confirmed', onChain: true, blockNumber: receipt.blockNumber })]);
    expect(await creditsOfPayment(app.db, payment.id)).toHaveLength(1);
  });
});

describe('bad input', () => {
  const sessions = async () => Number((await app.db('checkout_sessions').count({ n: '*' }))[0].n);

  it.each([
    [{ amount: '1', token: 'XYZ', network: 'local' }, 422, 'unknown_token'],
    [{ amount: '1', token: 'USDT', network: 'nowhere' }, 422, 'unknown_network'],
    [{ amount: '1.1234567', token: 'USDT', network: 'local' }, 400, 'too_many_decimals'],
    [{ amount: '0', token: 'USDT', network: 'local' }, 400, 'invalid_amount'],
    [{ amount: '-5', token: 'USDT', network: 'local' }, 400, 'invalid_amount'],
    [{ amount: 'ten', token: 'USDT', network: 'local' }, 400, 'invalid_amount'],
    ['{"amount":12345678901234567.89,"token":"USDT","network":"local"}', 400, 'amount_not_exact'],
    [{ token: 'USDT', network: 'local' }, 400, 'invalid_request'],
    [{ amount: '1', token: 'USDT', network: 'local', expiresInSeconds: 1 }, 400, 'invalid_request'],
  ])('refuses %j with %i %s and starts nothing', async (body, status, code) => {
    const before = await sessions();
    const res = await app.api('/api/v1/payments', { key: null, body, headers: { 'idempotency-key': `bad-${Math.random()}` } });
    expect([res.status, res.body.error?.code]).toEqual([status, code]);
    expect(res.body.error.message).toEqual(expect.any(String));
    expect(await sessions()).toBe(before);
  });

  it('answers the same payment to the same Idempotency-Key, and 409 to the same key with another body', async () => {
    const headers = { 'idempotency-key': `same-${Math.random()}` };
    const body = { amount: '2.5', token: 'USDT', network: 'local' };
    const first = await app.api('/api/v1/payments', { key: null, body, headers });
    const again = await app.api('/api/v1/payments', { key: null, body, headers });
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.address).toBe(first.body.address);
    const other = await app.api('/api/v1/payments', { key: null, body: { ...body, amount: '3' }, headers });
    expect([other.status, other.body.error.code]).toEqual([409, 'idempotency_conflict']);
  });

  it('gives every session an address of its own, none of them a deposit address', async () => {
    const [a, b] = await Promise.all([givenPayment(app, { amount: '1' }), givenPayment(app, { amount: '1' })]);
    expect(a.address).not.toBe(b.address);
    const [{ n }] = await app.db('wallets').whereIn('address', [a.address.toLowerCase(), b.address.toLowerCase()]).count({ n: '*' });
    expect(Number(n)).toBe(0);
  });

  it('answers 404 for an unknown payment, by GET and over the WebSocket (an error, then the socket is closed)', async () => {
    expect((await app.api('/api/v1/payments/pay_000000000000000000000000', { key: null })).status).toBe(404);
    expect((await app.api('/api/v1/payments/nonsense', { key: null })).body.error.code).toBe('not_found');
    for (const id of ['pay_000000000000000000000000', 'nonsense']) {
      const socket = await connectPaymentSocket(app, id);
      const error = await socket.next((m) => m.type === 'error');
      expect(error).toMatchObject({ paymentId: id, data: { code: 'not_found' } });
      expect(await socket.closed).toEqual({ code: 4404, reason: 'unknown payment' });
    }
  });

  it('tells each connection its session id, takes a client\'s pong quietly, and cuts off a client that floods it (1008)', async () => {
    const payment = await givenPayment(app, { amount: '1' });
    const calm = await connectPaymentSocket(app, payment.id);
    const flooding = await connectPaymentSocket(app, payment.id);
    const acks = [await calm.next((m) => m.type === 'connection_ack'), await flooding.next((m) => m.type === 'connection_ack')];
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    expect(acks.map((ack) => ack.sessionId)).toEqual([expect.stringMatching(uuid), expect.stringMatching(uuid)]);
    expect(acks[0].sessionId).not.toBe(acks[1].sessionId);

    // A pong needs no answer; a ping gets its pong; neither is an error
    calm.send({ type: 'pong' });
    calm.send({ type: 'ping' });
    const firstPong = await calm.next((m) => m.type === 'pong');

    // 30 pings at once: the first ten are answered, then an error and the socket closed
    for (let i = 0; i < 30; i++) flooding.send({ type: 'ping' });
    const refused = await flooding.next((m) => m.type === 'error');
    expect(refused.data).toMatchObject({ code: 'rate_limited' });
    expect(await flooding.closed).toEqual({ code: 1008, reason: 'too many messages' });
    expect(flooding.messages.filter((m) => m.type === 'pong')).toHaveLength(10);

    // The other connection to the same payment is untouched
    calm.send({ type: 'ping' });
    await calm.next((m) => m.type === 'pong' && m !== firstPong);
    expect(calm.messages.map((m) => m.type)).toEqual(['connection_ack', 'pong', 'pong']);
    calm.close();
  });
});

describe('the stats', () => {
  it('count the sessions by status and token, and show the scanners, the system and the WebSocket with real figures', async () => {
    const followed = await givenPayment(app, { amount: '1' });
    // a client that comes back to the same payment is counted as reconnecting
    const first = await connectPaymentSocket(app, followed.id);
    await first.next((m) => m.type === 'connection_ack');
    first.close();
    await first.closed;
    const socket = await connectPaymentSocket(app, followed.id);
    await socket.next((m) => m.type === 'connection_ack');
    // a transaction handed in that pays nothing here: one validation, not a successful one
    const notMined = await app.api(`/api/v1/payments/${followed.id}/process`, { key: null, body: { txHash: `0x${'ab'.repeat(32)}` } });
    expect([notMined.status, notMined.body.error.code]).toEqual([422, 'tx_not_found']);

    const payments = await app.api('/api/v1/stats/payments', { key: TEST_KEYS.read });
    expect(payments.status).toBe(200);
    const p = payments.body;
    expect(p.total_payments).toBeGreaterThanOrEqual(8);
    expect(p.payments_by_status).toMatchObject({ paid: expect.any(Number), expired: expect.any(Number), overpaid: expect.any(Number), paid_late: expect.any(Number) });
    expect(p.payments_by_status.paid).toBeGreaterThanOrEqual(3);
    expect(p.successful_payments).toBe(p.payments_by_status.paid + p.payments_by_status.overpaid + p.payments_by_status.paid_late);
    expect(p.total_payments).toBe(p.successful_payments + p.failed_payments + p.open_payments);
    expect(p.success_rate).toBeCloseTo((p.successful_payments / p.total_payments) * 100, 0);
    expect(p.payments_by_period['24h']).toBe(p.total_payments);
    expect(Number(p.amounts_by_token.USDT.received)).toBeGreaterThanOrEqual(12.5 + 10 + 7.25 + 3 + 8);
    expect(p.average_processing_time).toBeGreaterThan(0);
    const reorgedForGood = Number((await app.db('checkout_transfers').where({ state: 'reorged' }).count({ n: '*' }))[0].n);
    expect(p.failure_reasons).toEqual({
      expired: p.payments_by_status.expired,
      underpaid: p.failure_reasons.underpaid,
      amount_mismatch: p.failure_reasons.underpaid,
      transaction_failed: reorgedForGood,
    });
    expect((await app.api('/api/v1/stats/payments?period=24h', { key: TEST_KEYS.read })).body.total_payments).toBe(p.total_payments);
    expect((await app.api('/api/v1/stats/payments?period=year', { key: TEST_KEYS.read })).status).toBe(400);
    expect((await app.api('/api/v1/stats/payments', { key: null })).status).toBe(401);

    const monitoring = (await app.api('/api/v1/stats/monitoring', { key: TEST_KEYS.read })).body;
    const local = monitoring.networks.find((n: { network: string }) => n.network === LOCAL_NETWORK_ID);
    const head = await chain.blockNumber();
    expect(local).toMatchObject({ chainId: 31337, connected: true, error: null, endpoints: [expect.objectContaining({ healthy: true })] });
    expect(local.head).toBeGreaterThanOrEqual(head);
    const usdtScanner = local.scanners.find((s: { token: string }) => s.token === 'USDT');
    expect(usdtScanner).toMatchObject({ workflowId: 'scanner-31337-USDT' });
    expect(usdtScanner.lag).toBe(local.head - usdtScanner.cursor);
    expect(usdtScanner.lag).toBeLessThan(20);
    expect(monitoring.blockchain_monitoring.events_detected).toBeGreaterThanOrEqual(7);
    expect(monitoring.open_sessions).toBeGreaterThanOrEqual(1);
    const endpoints = monitoring.networks.reduce((n: number, net: { endpoints: unknown[] }) => n + net.endpoints.length, 0);
    expect(monitoring.websocket_connections).toEqual({ active: endpoints, healthy: endpoints, degraded: 0 });
    expect(monitoring.validation_performance).toEqual({ average_validation_time: expect.any(Number), validation_success_rate: 0, validations: 1 });
    expect(monitoring.validation_performance.average_validation_time).toBeGreaterThan(0);
    expect(monitoring.temporal).toEqual({ uiUrl: app.config.temporal.uiUrl, namespace: app.config.temporal.namespace });

    const system = (await app.api('/api/v1/stats/system', { key: TEST_KEYS.read })).body;
    expect(system).toMatchObject({ database_health: 'healthy', temporal_health: 'healthy', blockchain_connection: 'connected', workers: { present: true } });
    expect(system.uptime).toBeGreaterThan(0);
    expect(system.memory_usage).toBeGreaterThan(0);
    expect(system.api_response_time).toBeGreaterThan(0);

    // (the server counts the first connection closed once its side of the socket is closed too)
    const websocket = await waitFor('the first connection to be closed on the server', async () => {
      const stats = (await app.api('/api/v1/stats/websocket', { key: TEST_KEYS.read })).body;
      return stats.frontend.activeConnections === 1 && stats;
    });
    expect(websocket.frontend.reconnectAttempts).toBeGreaterThanOrEqual(1);
    expect(websocket.blockchain.activeSubscriptions).toBe((await app.api('/api/v1/tokens', { key: null })).body.data.length);
    expect(websocket.frontend.totalConnections).toBeGreaterThanOrEqual(5);
    expect(websocket.frontend.messagesSent.connection_ack).toBeGreaterThanOrEqual(3);
    expect(websocket.frontend.messagesSent.error).toBeGreaterThanOrEqual(2);
    expect(websocket.blockchain).toMatchObject({ isConnected: true });
    socket.close();

    const openapi = (await app.api('/openapi.json', { key: null })).body;
    for (const path of ['/api/v1/payments', '/api/v1/payments/{id}', '/api/v1/payments/{id}/process', '/api/v1/stats/payments', '/api/v1/stats/monitoring', '/api/v1/stats/system', '/api/v1/stats/websocket']) {
      expect(Object.keys(openapi.paths)).toContain(path);
    }
  });
});

describe('the message log', () => {
  it('shows the WebSocket\'s messages both ways and the Transfer logs the scanners routed, newest first', async () => {
    // Given a client that follows a payment, pings, sends something else, and sees it paid
    const payment = await givenPayment(app, { amount: '2' });
    const socket = await connectPaymentSocket(app, payment.id);
    await socket.next((m) => m.type === 'connection_ack');
    socket.send({ type: 'ping' });
    await socket.next((m) => m.type === 'pong');
    socket.send({ type: 'subscribe' });
    await socket.next((m) => m.type === 'error');
    const tx = await chain.transferToken('USDT', PAYER, payment.address, '2');
    await socket.next((m) => m.data?.status === 'processing');
    await chain.mine(confirmations);
    await socket.next((m) => m.data?.status === 'paid');
    socket.close();

    // Then the frontend log holds every message of that connection, each way, in the order they went
    const frontend = await app.api('/api/v1/stats/websocket/messages?source=frontend&limit=200', { key: TEST_KEYS.read });
    expect(frontend.status).toBe(200);
    const ours = frontend.body.messages.filter((m: { paymentId?: string }) => m.paymentId === payment.id).reverse();
    expect(ours.map((m: { type: string; direction: string }) => `${m.direction} ${m.type}`)).toEqual([
      'out connection_ack',
      'in ping',
      'out pong',
      'in invalid',
      'out error',
      ...socket.messages.slice(3).map((m) => `out ${m.type}`),
    ]);
    expect(ours.at(-1)).toMatchObject({ source: 'frontend', data: { id: payment.id, status: 'paid', transactionHash: tx.hash } });
    expect(frontend.body.count).toBe(frontend.body.messages.length);
    expect(frontend.body.messages.every((m: { source: string }) => m.source === 'frontend')).toBe(true);

    // And the blockchain log holds its transfer as the scanner routed it, value in base units
    const blockchain = (await app.api('/api/v1/stats/websocket/messages?source=blockchain&limit=200', { key: TEST_KEYS.read })).body.messages;
    const payer = (await chain.signer(PAYER)).address.toLowerCase();
    expect(blockchain.filter((m: { paymentId?: string }) => m.paymentId === payment.id)).toEqual([
      {
        source: 'blockchain',
        type: 'transfer_event',
        paymentId: payment.id,
        direction: 'in',
        data: {
          network: LOCAL_NETWORK_ID,
          token: 'USDT',
          from: payer,
          to: payment.address.toLowerCase(),
          value: '2000000',
          amount: '2',
          transactionHash: tx.hash,
          blockNumber: tx.blockNumber,
          logIndex: 0,
          routedTo: { kind: 'checkout', id: payment.id },
        },
        timestamp: expect.any(String),
      },
    ]);

    // And both together come newest first, as many as asked for
    const both = (await app.api('/api/v1/stats/websocket/messages?limit=3', { key: TEST_KEYS.read })).body;
    expect(both.count).toBe(3);
    const times = both.messages.map((m: { timestamp: string }) => Date.parse(m.timestamp));
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('refuses a bad limit or source with 400, and answers nobody without a key', async () => {
    for (const query of ['limit=0', 'limit=201', 'limit=ten', 'limit=-1', 'source=node']) {
      const res = await app.api(`/api/v1/stats/websocket/messages?${query}`, { key: TEST_KEYS.read });
      expect({ query, status: res.status, code: res.body.error?.code }).toEqual({ query, status: 400, code: 'invalid_request' });
    }
    expect((await app.api('/api/v1/stats/websocket/messages', { key: null })).status).toBe(401);
    const openapi = (await app.api('/openapi.json', { key: null })).body;
    expect(Object.keys(openapi.paths)).toContain('/api/v1/stats/websocket/messages');
  });
});

describe('a transaction handed in by hash, with no scanner running', () => {
  beforeAll(async () => {
    await scanners.stop();
  });

  it('is verified and followed to paid, once, however often it is handed in', async () => {
    const payment = await givenPayment(app, { amount: '4.5' });
    const tx = await chain.transferToken('USDT', PAYER, payment.address, '4.5');
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await app.api(`/api/v1/payments/${payment.id}`, { key: null })).body.status).toBe('new');

    const handed = await app.api(`/api/v1/payments/${payment.id}/process`, { key: null, body: { txHash: tx.hash } });
    expect(handed.status).toBe(200);
    expect(handed.body).toMatchObject({ status: 'processing', transactions: [expect.objectContaining({ txHash: tx.hash, amount: '4.5' })] });
    await chain.mine(confirmations);
    await paymentReaches(app, payment.id, ['paid']);

    const again = await app.api(`/api/v1/payments/${payment.id}/process`, { key: null, body: { txHash: tx.hash.toUpperCase().replace('0X', '0x') } });
    expect([again.status, again.body.status, again.body.transactions.length]).toEqual([200, 'paid', 1]);
    expect(await creditsOfPayment(app.db, payment.id)).toHaveLength(1);
  });

  it('refuses a transaction that pays something else, one that does not exist, and a bad hash; 404 for an unknown payment', async () => {
    const payment = await givenPayment(app, { amount: '1' });
    const elsewhere = await chain.transferToken('USDT', PAYER, Wallet.createRandom().address, '1');
    const wrongToken = await chain.transferToken('DAI', PAYER, payment.address, '1');
    const process = (id: string, txHash: string) => app.api(`/api/v1/payments/${id}/process`, { key: null, body: { txHash } });

    for (const hash of [elsewhere.hash, wrongToken.hash]) {
      const res = await process(payment.id, hash);
      expect([res.status, res.body.error.code]).toEqual([422, 'tx_not_for_payment']);
    }
    expect((await process(payment.id, `0x${'ab'.repeat(32)}`)).body.error.code).toBe('tx_not_found');
    const bad = await process(payment.id, '0x1234');
    expect([bad.status, bad.body.error.code]).toEqual([400, 'invalid_request']);
    expect((await process('pay_000000000000000000000000', elsewhere.hash)).status).toBe(404);
    expect((await app.api(`/api/v1/payments/${payment.id}`, { key: null })).body).toMatchObject({ status: 'new', transactions: [] });
  });
});
