// ERC-20 deposits end to end on the test chain (M2Pool topup): the chain scanner finds a transfer to a user's deposit
// address, its DepositWorkflow notifies "pending" (2), waits for the network's confirmations on the canonical chain and
// credits the user once, then notifies the outcome (1, or 0 when a reorg took the transfer away). Reorgs, rescans and an
// RPC node that goes down change none of that.
import { Wallet } from 'ethers';
import { rewindScanCursor } from '../../db/deposits';
import { checkInvariants, getBalances } from '../../db/ledger';
import { getNetwork, saveNetwork } from '../../db/networks';
import { notificationWorkflowId } from '../../domain/notification';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import { TEST_KEYS, type TestApp } from '../support/app';
import { connectTestChain, startRpcProxy, type TestChain } from '../support/chain';
import {
  creditsOf,
  depositIdOf,
  depositReaches,
  givenDepositor,
  givenSigningWallet,
  scannedPast,
  sendRaw,
  startTestScanners,
  transfersInFewBlocks,
} from '../support/deposits';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';
import { useWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';

let app: TestApp;
let receiver: WebhookReceiver;
let chain: TestChain;
let chainAtStart: string;
let scanners: Awaited<ReturnType<typeof startTestScanners>>;
let confirmations: number;

useWebhookReceiver((r) => (receiver = r));
useWorkerAndApp((a) => (app = a));

beforeAll(async () => {
  chain = connectTestChain();
  chainAtStart = await chain.snapshot();
  confirmations = (await getNetwork(app.db, LOCAL_NETWORK_ID))!.confirmations;
  scanners = await startTestScanners(app.client, app.db);
  // Tokens for the accounts this file sends from.
  for (const account of [5, 6, 7]) await chain.mint('USDT', (await chain.signer(account)).address, '100000');
  await chain.mint('DAI', (await chain.signer(5)).address, '100');
});
afterAll(async () => {
  await scanners?.stop();
  await chain?.revert(chainAtStart);
  chain?.close();
});
afterEach(async () => {
  expect((await checkInvariants(app.db)).violations).toEqual([]);
});

/** The topup notifications delivered for a transaction, as M2Pool receives them, in order. */
const topupsOf = (txHash: string) => receiver.deliveries().filter((d) => d.answered === 200 && d.json.tx_hash === txHash);
const statusesOf = (txHash: string) => topupsOf(txHash).map((d) => Number(String(d.json.status)));
const depositsOfTx = async (txHash: string) => Number((await app.db('deposits').where({ tx_hash: txHash }).count({ n: '*' }))[0].n);

describe('a transfer to a user\'s deposit address', () => {
  it('is pending at once (notified 2), then after the confirmations credited once and notified 1', async () => {
    // Given a user with a deposit address
    const user = await givenDepositor(app.db);
    const [before] = await getBalances(app.db, [`user:${user.uid}`], 'USDT');

    // When 12.5 USDT are sent to it
    const tx = await chain.transferToken('USDT', 5, user.address, '12.5');
    const id = depositIdOf(tx);

    // Then the deposit is pending with its pending notification started, and nothing is credited yet
    const pending = await depositReaches(app.db, id, ['pending']);
    expect(pending).toMatchObject({ uid: user.uid, to: user.address, amount: '12.5', amountUnits: '12500000', blockNumber: tx.blockNumber, txHash: tx.hash, tokenSymbol: 'USDT' });
    await receiver.waitForDeliveries(1, (d) => d.json.tx_hash === tx.hash);
    // delivered by the deposit itself at its first attempt: no NotificationWorkflow of its own
    expect(await app.workflowExists(notificationWorkflowId(`${id}:2`))).toBe(false);
    expect((await app.api(`/api/v1/notifications/${encodeURIComponent(`${id}:2`)}`)).body).toMatchObject({ status: 'delivered', workflowId: id, attempts: 1 });
    await chain.mine(confirmations - 2);
    await new Promise((r) => setTimeout(r, 500));
    expect((await depositReaches(app.db, id, ['pending', 'confirmed'])).status).toBe('pending');
    expect(await creditsOf(app.db, id)).toEqual([]);

    // When the block gets the network's confirmations
    await chain.mine(2);

    // Then it is confirmed and credited once, and M2Pool hears 2 then 1, with the amount as an exact number
    const confirmed = await depositReaches(app.db, id, ['confirmed']);
    expect(confirmed.transferId).toBe(`deposit:31337:${tx.hash}:0`);
    expect(await creditsOf(app.db, id)).toEqual([{ id: confirmed.transferId, amount: expect.stringMatching(/^12\.50*$/), currency: 'USDT', state: 'posted' }]);
    const [after] = await getBalances(app.db, [`user:${user.uid}`], 'USDT');
    expect(Number(after.balance) - Number(before.balance)).toBe(12.5);
    await receiver.waitForDeliveries(2, (d) => d.json.tx_hash === tx.hash);
    expect(statusesOf(tx.hash)).toEqual([2, 1]);
    const final = topupsOf(tx.hash)[1];
    expect(final.body).toBe(`{"address":"${user.address}","status":1,"chain":"ETH","symbol":"USDT","amount":12.5,"tx_hash":"${tx.hash}"}`);
    expect(final.signatureValid).toBe(true);

    // And the stats' message log shows the Transfer log routed to the deposit
    const log = (await app.api('/api/v1/stats/websocket/messages?source=blockchain&limit=200', { key: TEST_KEYS.read })).body.messages;
    expect(log.filter((m: { data: { transactionHash: string } }) => m.data.transactionHash === tx.hash)).toEqual([
      expect.objectContaining({
        type: 'transfer_event',
        direction: 'in',
        data: expect.objectContaining({ token: 'USDT', to: user.address, value: '12500000', amount: '12.5', routedTo: { kind: 'deposit', id } }),
      }),
    ]);
  });

  it('hands a notice whose first attempt fails over to its own workflow, and sends the final one only after it', async () => {
    // Given a user with a deposit address, and M2Pool's receiver failing the next request
    const user = await givenDepositor(app.db);
    receiver.failNext(1);

    // When 3 USDT are sent to it and the block gets its confirmations
    const tx = await chain.transferToken('USDT', 5, user.address, '3');
    const id = depositIdOf(tx);
    await receiver.waitForDeliveries(1, (d) => d.json.tx_hash === tx.hash && d.answered === 500);
    await chain.mine(confirmations);
    await depositReaches(app.db, id, ['confirmed']);

    // Then the pending notice was taken over by NotificationWorkflow and delivered at its second attempt, before the final one
    await receiver.waitForDeliveries(2, (d) => d.json.tx_hash === tx.hash && d.answered === 200);
    expect(receiver.deliveries().filter((d) => d.json.tx_hash === tx.hash).map((d) => [Number(String(d.json.status)), d.answered])).toEqual([
      [2, 500],
      [2, 200],
      [1, 200],
    ]);
    expect((await app.api(`/api/v1/notifications/${encodeURIComponent(`${id}:2`)}`)).body).toMatchObject({
      status: 'delivered',
      workflowId: notificationWorkflowId(`${id}:2`),
      deliveries: [{ attempt: 1, statusCode: 500 }, { attempt: 2, statusCode: 200 }],
    });
    expect(await app.workflowExists(notificationWorkflowId(`${id}:1`))).toBe(false);
  });

  it('credits 20 transfers to 20 addresses mined in a few blocks, each once', async () => {
    const users = await Promise.all(Array.from({ length: 20 }, () => givenDepositor(app.db)));
    const ids = await transfersInFewBlocks(chain, 'USDT', 6, users.map((u, i) => ({ to: u.address, amount: `${i + 1}.25` })), 7);
    await Promise.all(ids.map((id) => depositReaches(app.db, id, ['pending'])));

    await chain.mine(confirmations);

    const deposits = await Promise.all(ids.map((id) => depositReaches(app.db, id, ['confirmed'])));
    expect(deposits.map((d) => [d.uid, d.amount])).toEqual(users.map((u, i) => [u.uid, `${i + 1}.25`]));
    expect(new Set(deposits.map((d) => d.blockNumber)).size).toBe(3);
    for (const id of ids) expect(await creditsOf(app.db, id)).toHaveLength(1);
    const balances = await getBalances(app.db, users.map((u) => `user:${u.uid}`), 'USDT');
    expect(balances.map((b) => Number(b.balance))).toEqual(users.map((_, i) => i + 1.25));
  });

  it('credits a token of 18 decimals to the last wei', async () => {
    const user = await givenDepositor(app.db);
    const tx = await chain.transferToken('DAI', 5, user.address, '1.000000000000000001');
    await chain.mine(confirmations);
    const id = depositIdOf(tx);
    expect(await depositReaches(app.db, id, ['confirmed'])).toMatchObject({ tokenSymbol: 'DAI', amount: '1.000000000000000001', amountUnits: '1000000000000000001' });
    expect(await creditsOf(app.db, id)).toEqual([expect.objectContaining({ amount: '1.000000000000000001', currency: 'DAI' })]);
  });

  it('ignores a transfer to an address that is no user\'s deposit address', async () => {
    const stranger = Wallet.createRandom().address;
    const tx = await chain.transferToken('USDT', 5, stranger, '3');
    await scannedPast(app.db, tx.blockNumber);
    expect(await depositsOfTx(tx.hash)).toBe(0);
  });

  it('credits nothing twice when the scanner reads the same blocks again', async () => {
    const user = await givenDepositor(app.db);
    const tx = await chain.transferToken('USDT', 5, user.address, '7');
    await chain.mine(confirmations);
    const id = depositIdOf(tx);
    await depositReaches(app.db, id, ['confirmed']);
    await receiver.waitForDeliveries(2, (d) => d.json.tx_hash === tx.hash);

    // When its cursor is moved back before the transfer's block and it scans up to the head again
    await rewindScanCursor(app.db, LOCAL_NETWORK_ID, 'USDT', tx.blockNumber - 2);
    await chain.mine(1);
    await scannedPast(app.db, await chain.blockNumber());
    await new Promise((r) => setTimeout(r, 1_000));

    // Then the deposit, its credit and its notifications are as they were
    expect(await depositsOfTx(tx.hash)).toBe(1);
    expect(await creditsOf(app.db, id)).toHaveLength(1);
    expect(statusesOf(tx.hash)).toEqual([2, 1]);
  });
});

describe('a reorg shallower than the confirmations', () => {
  it('leaves a deposit whose transfer left the chain reorged: notified 0, nothing credited', async () => {
    // Given a pending deposit one block deep
    const user = await givenDepositor(app.db);
    const beforeTransfer = await chain.snapshot();
    const tx = await chain.transferToken('USDT', 7, user.address, '40');
    await chain.mine(1);
    const id = depositIdOf(tx);
    await depositReaches(app.db, id, ['pending']);

    // When the chain goes back before its block, and another, longer chain without it is mined
    await chain.revert(beforeTransfer);
    await chain.mine(confirmations + 1);

    // Then it is reorged: no credit, and M2Pool hears 2 then 0
    const reorged = await depositReaches(app.db, id, ['reorged', 'confirmed'], { chain });
    expect(reorged.status).toBe('reorged');
    expect(await creditsOf(app.db, id)).toEqual([]);
    await receiver.waitForDeliveries(2, (d) => d.json.tx_hash === tx.hash);
    expect(statusesOf(tx.hash)).toEqual([2, 0]);
    const [balance] = await getBalances(app.db, [`user:${user.uid}`], 'USDT');
    expect(balance.balance).toBe('0');
  });

  it('credits once, in its new block, a deposit whose transaction is mined again after the reorg', async () => {
    // Given a pending deposit whose transaction was signed here
    const user = await givenDepositor(app.db);
    const sender = await givenSigningWallet(chain, 'USDT', '100');
    const raw = await sender.signTransfer(user.address, '25');
    const beforeTransfer = await chain.snapshot();
    const first = await sendRaw(chain, raw);
    await chain.mine(1);
    const id = depositIdOf(first);
    await depositReaches(app.db, id, ['pending']);

    // When the chain goes back before its block, and the same transaction is mined again a block later
    await chain.revert(beforeTransfer);
    await chain.mine(1);
    const again = await sendRaw(chain, raw);
    expect(again.hash).toBe(first.hash);
    expect(again.blockNumber).toBe(first.blockNumber + 1);
    await waitFor('the deposit to follow its transaction to its new block', async () => (await depositReaches(app.db, id, ['pending'])).blockHash === again.blockHash);
    await chain.mine(confirmations);

    // Then it is credited once, in its new block, and M2Pool hears 2 then 1 (never 0)
    const confirmed = await depositReaches(app.db, id, ['confirmed', 'reorged']);
    expect(confirmed).toMatchObject({ status: 'confirmed', blockNumber: again.blockNumber, blockHash: again.blockHash });
    expect(await creditsOf(app.db, id)).toHaveLength(1);
    await receiver.waitForDeliveries(2, (d) => d.json.tx_hash === first.hash);
    expect(statusesOf(first.hash)).toEqual([2, 1]);
    const cursor = await app.db('chain_scan_cursors').where({ network_id: LOCAL_NETWORK_ID, token_symbol: 'USDT' }).first('reorgs');
    expect(cursor.reorgs).toBeGreaterThanOrEqual(1);
  });
});

describe('a transaction mined again after its deposit was found reorged', () => {
  it('credits the deposit then, once: M2Pool hears 2, 0, then 1', async () => {
    // Given a deposit found reorged: its transaction left the chain, and a longer chain without it was mined
    const user = await givenDepositor(app.db);
    const sender = await givenSigningWallet(chain, 'USDT', '100');
    const raw = await sender.signTransfer(user.address, '33');
    const beforeTransfer = await chain.snapshot();
    const first = await sendRaw(chain, raw);
    const id = depositIdOf(first);
    await depositReaches(app.db, id, ['pending']);
    await chain.revert(beforeTransfer);
    await chain.mine(confirmations + 1);
    expect((await depositReaches(app.db, id, ['reorged', 'confirmed'], { chain })).status).toBe('reorged');
    await receiver.waitForDeliveries(2, (d) => d.json.tx_hash === first.hash);

    // When the same transaction is mined later
    const again = await sendRaw(chain, raw);
    await chain.mine(confirmations);

    // Then the deposit is confirmed in its new block and credited once
    const confirmed = await depositReaches(app.db, id, ['confirmed']);
    expect(confirmed).toMatchObject({ blockNumber: again.blockNumber, blockHash: again.blockHash, reorgedAt: null });
    expect(await creditsOf(app.db, id)).toHaveLength(1);
    await receiver.waitForDeliveries(3, (d) => d.json.tx_hash === first.hash);
    expect(statusesOf(first.hash)).toEqual([2, 0, 1]);
  });
});

describe('a restarted node', () => {
  it('resets a cursor that matches nothing of the chain (higher block numbers, other hashes) and goes on finding deposits', async () => {
    // Given the scanner's cursor as a node that was replaced by a fresh one left it: further on, with hashes this chain never had
    const head = await chain.blockNumber();
    const elsewhere = Array.from({ length: 5 }, (_, i) => [head + 50 + i, `0x${String(i).repeat(64)}`]);
    const cursor = { network_id: LOCAL_NETWORK_ID, token_symbol: 'USDT' };
    const { resets } = await app.db('chain_scan_cursors').where(cursor).first('resets');
    await app.db('chain_scan_cursors').where(cursor).update({ last_block: head + 54, recent_blocks: JSON.stringify(elsewhere), version: app.db.raw('version + 1') });

    // When a deposit is made
    const user = await givenDepositor(app.db);
    const tx = await chain.transferToken('USDT', 5, user.address, '2');

    // Then the cursor was reset, and the deposit is found and credited once
    const id = depositIdOf(tx);
    await depositReaches(app.db, id, ['pending']);
    expect((await app.db('chain_scan_cursors').where(cursor).first('resets')).resets).toBe(resets + 1);
    await chain.mine(confirmations);
    await depositReaches(app.db, id, ['confirmed']);
    expect(await creditsOf(app.db, id)).toHaveLength(1);
  });
});

describe('the RPC node down', () => {
  it('has the scanner wait while no RPC URL answers, and find the deposit made meanwhile once one does', async () => {
    const network = (await getNetwork(app.db, LOCAL_NETWORK_ID))!;
    const proxy = await startRpcProxy('pass');
    try {
      // Given the network reached through a node that answers, then goes down
      await saveNetwork(app.db, { ...network, rpcUrls: [proxy.url] });
      await waitFor('the scanner to use the new URL', async () => proxy.requests > 3);
      proxy.mode = 'down';
      const user = await givenDepositor(app.db);

      // When a deposit is made while it is down
      const tx = await chain.transferToken('USDT', 5, user.address, '9.75');
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await depositsOfTx(tx.hash)).toBe(0);

      // Then once it is back the deposit is found, confirmed and credited once
      proxy.mode = 'pass';
      const id = depositIdOf(tx);
      await depositReaches(app.db, id, ['pending'], { timeoutMs: 90_000 });
      await chain.mine(confirmations);
      await depositReaches(app.db, id, ['confirmed'], { timeoutMs: 90_000 });
      expect(await creditsOf(app.db, id)).toHaveLength(1);
    } finally {
      await saveNetwork(app.db, network);
      await proxy.close();
    }
  });
});

describe('the deposits API', () => {
  it('lists a user\'s deposits by status, shows one, and refuses bad queries', async () => {
    const user = await givenDepositor(app.db);
    const tx = await chain.transferToken('USDT', 5, user.address, '1.5');
    const id = depositIdOf(tx);
    await depositReaches(app.db, id, ['pending']);

    const listed = await app.api(`/api/v1/deposits?uid=${user.uid}&status=pending`, { key: TEST_KEYS.read });
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ object: 'list', hasMore: false, nextCursor: null });
    expect(listed.body.data).toEqual([expect.objectContaining({ object: 'deposit', id, uid: user.uid, amount: '1.5', status: 'pending', txHash: tx.hash, transferId: null })]);
    expect(listed.body.data[0].to.toLowerCase()).toBe(user.address);

    const one = await app.api(`/api/v1/deposits/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ id, network: LOCAL_NETWORK_ID, chainId: 31337, token: 'USDT', logIndex: 0, blockNumber: tx.blockNumber });

    expect((await app.api(`/api/v1/deposits?uid=${user.uid}&status=confirmed`)).body.data).toEqual([]);
    expect((await app.api('/api/v1/deposits/deposit-31337-0xnothing-0')).status).toBe(404);
    const bad = await app.api('/api/v1/deposits?status=lost');
    expect([bad.status, bad.body.error.code]).toEqual([400, 'invalid_request']);
    expect((await app.api('/api/v1/deposits', { key: null })).status).toBe(401);

    // The scanners are running already: starting them again changes nothing, and only an admin may
    const started = await app.api('/api/v1/scanners', { method: 'POST' });
    expect(started.status).toBe(200);
    expect(started.body.data).toEqual(expect.arrayContaining([{ object: 'scanner', workflowId: 'scanner-31337-USDT', network: LOCAL_NETWORK_ID, token: 'USDT' }]));
    expect((await app.api('/api/v1/scanners', { method: 'POST', key: TEST_KEYS.write })).status).toBe(403);
    await chain.mine(confirmations);
    await depositReaches(app.db, id, ['confirmed']);
  });
});
