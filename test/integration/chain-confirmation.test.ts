// ChainConfirmationWorkflow under what a chain does to a withdrawal's transaction: left behind by a rising fee market (replaced
// with a dearer one, both tracked, one mined), reorged out before its confirmations (sent again, posted once), and its nonce
// taken by another transaction (dropped: the hold voided, one notification with status 0).
import { AbiCoder, keccak256, toBeHex, zeroPadValue } from 'ethers';
import { createWalletSigner } from '../../activities/providers/wallet-keys';
import { chainTxsOf } from '../../db/chain-sends';
import { getBalances, getTransfer } from '../../db/ledger';
import { hotWallet } from '../../db/wallets';
import { confirmationWorkflowId } from '../../domain/chain';
import { bumpFeeSignal, type ChainTxOutcome } from '../../domain/withdrawal';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import type { TestApp } from '../support/app';
import type { TestChain } from '../support/chain';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';
import { useWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver';
import {
  givenTokenHolder,
  newRecipient,
  notificationsOf,
  payoutReaches,
  payoutTxReaches,
  transfersTo,
  useChainSendSettings,
  useChainSnapshot,
} from '../support/withdrawals';

let app: TestApp;
let chain: TestChain;
let receiver: WebhookReceiver;
let hot: string;

// A transaction left unmined for a second while the market asks more is replaced.
useChainSendSettings({ pollMs: 200, stuckAfterMs: 1_000 });
useChainSnapshot((c) => (chain = c));
useWebhookReceiver((r) => (receiver = r));
useWorkerAndApp((a) => (app = a));

beforeAll(async () => {
  hot = (await hotWallet(app.db, LOCAL_NETWORK_ID)).address;
});

let seq = 0;
const queueId = (label: string) => `${label}-${Date.now().toString(36)}-${++seq}`;

/**
 * A withdrawal through the API, which answers once its transaction is broadcast. `pooled`: the node's automine is switched
 * off first, so that the transaction waits in the pool (withAutomineOff, and the end of every test, switch it back on).
 */
async function withdrawal(amount: string, { pooled = false } = {}): Promise<{ id: string; key: string; uid: number; to: string }> {
  const uid = await givenTokenHolder(app, 'USDT', '100');
  const to = newRecipient();
  const key = queueId('cc');
  if (pooled) await chain.provider.send('evm_setAutomine', [false]);
  const res = await app.api('/api/v1/withdrawals', { headers: { 'Idempotency-Key': key }, body: { uid, toAddress: to, amount, network: 'local', token: 'USDT' } });
  expect(res.status).toBe(202);
  return { id: `withdrawal-${key}`, key, uid, to };
}

afterEach(async () => {
  await chain.provider.send('evm_setAutomine', [true]);
});

async function withAutomineOff(work: () => Promise<void>): Promise<void> {
  await chain.provider.send('evm_setAutomine', [false]);
  try {
    await work();
  } finally {
    await chain.provider.send('evm_setAutomine', [true]);
  }
}

async function finalNotificationOf(id: string) {
  const [delivery] = await receiver.waitForDeliveries(1, (d) => d.notificationId === `${id}:final`);
  expect((await notificationsOf(app.db, id)).map((n) => n.id)).toEqual([`${id}:final`]);
  return JSON.parse(delivery.body) as Record<string, unknown>;
}

const confirmation = (hash: string) => app.client.workflow.getHandle(confirmationWorkflowId(31337, hash)).result() as Promise<ChainTxOutcome>;

test('replaces a transaction the fee market left behind with a dearer one, tracks both, and posts the one that is mined', async () => {
  const { id, to } = await withdrawal('7', { pooled: true });
  let first!: Awaited<ReturnType<typeof chainTxsOf>>[number];
  let second!: Awaited<ReturnType<typeof chainTxsOf>>[number];

  await withAutomineOff(async () => {
    // given the withdrawal's transaction waiting in the pool
    [first] = await payoutTxReaches(app.db, id, ['broadcast']);
    expect(first.maxFeePerGas).not.toBeNull();

    // when the base fee rises above what it pays (an empty block is mined without it)
    await chain.provider.send('hardhat_setNextBlockBaseFeePerGas', [toBeHex(BigInt(first.maxFeePerGas!) * 10n)]);
    await chain.provider.send('evm_mine', []);
    expect(await chain.provider.getTransactionReceipt(first.hash)).toBeNull();

    // then, past the threshold, a replacement at the same nonce paying more is persisted and broadcast
    const txs = await waitFor('a replacement', async () => {
      const found = await chainTxsOf(app.db, id);
      return found.length >= 2 && found[1].status === 'broadcast' ? found : undefined;
    });
    second = txs[1];
    expect(second).toMatchObject({ attempt: 1, replaces: first.hash, nonce: first.nonce, from: first.from, recipient: to, tokenUnits: '7000000' });
    expect(BigInt(second.maxFeePerGas!)).toBeGreaterThan(BigInt(first.maxFeePerGas!) * 10n);
    expect(BigInt(second.maxPriorityFeePerGas!)).toBeGreaterThan(BigInt(first.maxPriorityFeePerGas!));
    await chain.provider.send('evm_mine', []);
  });

  // and once the replacement has its confirmations, it is the one posted and notified
  const done = await payoutReaches(app.db, id, ['confirmed'], { chain });
  expect(done.txHash).toBe(second.hash);
  expect(await transfersTo(chain, 'USDT', to)).toEqual([expect.objectContaining({ txHash: second.hash, value: 7_000_000n, from: hot })]);
  expect((await chainTxsOf(app.db, id)).map((t) => [t.hash, t.status])).toEqual([
    [first.hash, 'replaced'],
    [second.hash, 'confirmed'],
  ]);
  const outcome = await confirmation(first.hash);
  expect(outcome).toMatchObject({ outcome: 'confirmed', hash: second.hash, hashes: [first.hash, second.hash], receiptStatus: 1 });
  expect(outcome.events).toContainEqual(expect.objectContaining({ kind: 'replaced', hash: first.hash, by: second.hash }));
  expect(await finalNotificationOf(id)).toMatchObject({ status: 1, tx_hash: second.hash });
  const shown = (await app.api(`/api/v1/withdrawals/${id}`)).body;
  expect(shown.transactions).toEqual([
    expect.objectContaining({ hash: first.hash, attempt: 0, status: 'replaced' }),
    expect.objectContaining({ hash: second.hash, attempt: 1, replaces: first.hash, status: 'confirmed' }),
  ]);
});

test('replaces the pending transaction when asked, though the market does not ask more', async () => {
  const { id, to } = await withdrawal('2', { pooled: true });
  let first!: Awaited<ReturnType<typeof chainTxsOf>>[number];
  let second!: Awaited<ReturnType<typeof chainTxsOf>>[number];

  await withAutomineOff(async () => {
    // given the withdrawal's transaction waiting in the pool at the market's fee
    [first] = await payoutTxReaches(app.db, id, ['broadcast']);

    // when ops ask the withdrawal for a higher fee
    await app.client.workflow.getHandle(id).signal(bumpFeeSignal);

    // then a replacement paying at least 12.5% more is sent at the same nonce
    const txs = await waitFor('a replacement', async () => {
      const found = await chainTxsOf(app.db, id);
      return found.length >= 2 && found[1].status === 'broadcast' ? found : undefined;
    });
    second = txs[1];
    expect(second).toMatchObject({ attempt: 1, replaces: first.hash, nonce: first.nonce });
    expect(BigInt(second.maxPriorityFeePerGas!) * 1000n).toBeGreaterThanOrEqual(BigInt(first.maxPriorityFeePerGas!) * 1125n);
    expect(BigInt(second.maxFeePerGas!) * 1000n).toBeGreaterThanOrEqual(BigInt(first.maxFeePerGas!) * 1125n);
    await chain.provider.send('evm_mine', []);
  });

  // and the replacement is the one that pays
  const done = await payoutReaches(app.db, id, ['confirmed'], { chain });
  expect(done.txHash).toBe(second.hash);
  expect(await transfersTo(chain, 'USDT', to)).toEqual([expect.objectContaining({ txHash: second.hash })]);
  expect(await finalNotificationOf(id)).toMatchObject({ status: 1, tx_hash: second.hash });
});

test('follows a transaction reorged out before its confirmations until it is back on the canonical chain, and posts it once', async () => {
  // given a withdrawal whose transaction is mined and has 2 of its 3 confirmations
  const beforeIt = await chain.snapshot();
  const { id, uid, to } = await withdrawal('4.25');
  const [mined] = await payoutTxReaches(app.db, id, ['mined']);
  await chain.mine(1);

  // when a reorg takes both blocks away (the transaction with them) and the chain grows other blocks at those heights
  await chain.revert(beforeIt);
  await chain.mine(2);

  // then the same bytes are sent again and mined in another block
  const [back] = await waitFor('the transaction to be mined again in another block', async () => {
    const txs = await chainTxsOf(app.db, id);
    return txs[0].status === 'mined' && txs[0].blockHash !== mined.blockHash ? txs : undefined;
  });
  expect(back.hash).toBe(mined.hash);

  // and once confirmed on the canonical chain, it is posted once and matches the chain
  const done = await payoutReaches(app.db, id, ['confirmed'], { chain });
  const receipt = (await chain.provider.getTransactionReceipt(mined.hash))!;
  expect([done.txHash, done.blockNumber]).toEqual([mined.hash, receipt.blockNumber]);
  expect((await chain.provider.getBlock(receipt.blockNumber))!.hash).toBe(receipt.blockHash);
  expect(await transfersTo(chain, 'USDT', to)).toEqual([expect.objectContaining({ txHash: mined.hash, blockHash: receipt.blockHash.toLowerCase() })]);
  expect(await getTransfer(app.db, id)).toMatchObject({ state: 'posted' });
  expect((await getBalances(app.db, [`user:${uid}`], 'USDT'))[0]).toMatchObject({ balance: '95.75', held: '0' });
  const outcome = await confirmation(mined.hash);
  expect(outcome.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['mined', 'reorged-out', 'rebroadcast']));
  expect(await finalNotificationOf(id)).toMatchObject({ status: 1, tx_hash: mined.hash });
});

test('gives the hold back once another transaction has used the nonce deep enough, with one notification saying 0', async () => {
  const { id, uid, to } = await withdrawal('3', { pooled: true });
  let ours!: Awaited<ReturnType<typeof chainTxsOf>>[number];

  await withAutomineOff(async () => {
    // given the withdrawal's transaction waiting in the pool
    [ours] = await payoutTxReaches(app.db, id, ['broadcast']);

    // when another transaction of the hot wallet takes its nonce (paying more, it replaces ours in the pool) and is mined
    const other = await createWalletSigner(app.db, app.config.secrets.keys).signTransaction(hot, {
      type: 2,
      chainId: 31337n,
      nonce: ours.nonce,
      to: hot,
      value: 0n,
      gasLimit: 21_000n,
      maxFeePerGas: BigInt(ours.maxFeePerGas!) * 2n,
      maxPriorityFeePerGas: BigInt(ours.maxPriorityFeePerGas!) * 2n,
    });
    await chain.provider.send('eth_sendRawTransaction', [other]);
    await chain.provider.send('evm_mine', []);
  });

  // then, once that one has the confirmations, ours is dropped: the hold is voided and the notification says 0
  const failed = await payoutReaches(app.db, id, ['failed'], { chain });
  expect(failed.failure?.code).toBe('chain_tx_dropped');
  expect(await getTransfer(app.db, id)).toMatchObject({ state: 'voided' });
  expect((await getBalances(app.db, [`user:${uid}`], 'USDT'))[0]).toMatchObject({ balance: '100', held: '0' });
  expect(await transfersTo(chain, 'USDT', to)).toEqual([]);
  expect((await chainTxsOf(app.db, id)).map((t) => t.status)).toEqual(['dropped']);
  expect(await finalNotificationOf(id)).toMatchObject({ status: 0, tx_hash: ours.hash });
});

test('voids the hold when the transaction reverts on chain, with one notification saying 0 and naming it', async () => {
  const { id, uid, to } = await withdrawal('6', { pooled: true });
  let ours!: Awaited<ReturnType<typeof chainTxsOf>>[number];
  const usdt = chain.token('USDT').address;
  // TestToken's balanceOf mapping is its storage slot 3 (name, symbol, totalSupply come first).
  const hotBalanceSlot = keccak256(AbiCoder.defaultAbiCoder().encode(['address', 'uint256'], [hot, 3]));

  await withAutomineOff(async () => {
    // given the withdrawal's transaction waiting in the pool
    [ours] = await payoutTxReaches(app.db, id, ['broadcast']);

    // when the hot wallet's tokens are gone by the time it is mined
    const held = (await chain.provider.send('eth_getStorageAt', [usdt, hotBalanceSlot, 'latest'])) as string;
    await chain.provider.send('hardhat_setStorageAt', [usdt, hotBalanceSlot, zeroPadValue('0x00', 32)]);
    await chain.provider.send('evm_mine', []);
    await chain.provider.send('hardhat_setStorageAt', [usdt, hotBalanceSlot, held]);
  });
  const receipt = await chain.provider.getTransactionReceipt(ours.hash);
  expect(receipt?.status).toBe(0);

  // then, once its block has the confirmations, the payout fails: the hold is voided and the notification says 0
  const failed = await payoutReaches(app.db, id, ['failed'], { chain });
  expect(failed.failure?.code).toBe('chain_tx_reverted');
  expect(failed.txHash).toBe(ours.hash);
  expect(await getTransfer(app.db, id)).toMatchObject({ state: 'voided' });
  expect((await getBalances(app.db, [`user:${uid}`], 'USDT'))[0]).toMatchObject({ balance: '100', held: '0' });
  expect(await transfersTo(chain, 'USDT', to)).toEqual([]);
  expect((await chainTxsOf(app.db, id)).map((t) => t.status)).toEqual(['failed']);
  expect(failed.failure?.message).toBe(`transaction ${ours.hash} reverted in block ${receipt!.blockNumber}`);
  expect(await finalNotificationOf(id)).toMatchObject({ status: 0, tx_hash: ours.hash });
});
