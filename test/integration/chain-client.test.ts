// The chain client against the test stack's Hardhat node: what it reads and sends, how it fails over between RPC URLs,
// and which errors it calls retryable.
import { Wallet } from 'ethers';
import { createEvmClient, ERC20, EvmRpcError, type EvmClient, type EvmClientOptions } from '../../activities/providers/evm-client';
import { chainEnv, connectTestChain, startRpcProxy, type RpcProxy, type TestChain } from '../support/chain';

const ZERO = `0x${'0'.repeat(40)}`;
let chain: TestChain;
let snapshot: string;
const opened: { close(): unknown }[] = [];

beforeAll(async () => {
  chain = connectTestChain();
  snapshot = await chain.snapshot();
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await chain?.revert(snapshot);
  chain?.close();
});

function client(rpcUrls: string[] = [chainEnv.rpcUrl], options: EvmClientOptions = {}): EvmClient {
  const made = createEvmClient({ chainId: 31337, rpcUrls }, options);
  opened.push(made);
  return made;
}

async function proxy(mode: RpcProxy['mode']): Promise<RpcProxy> {
  const made = await startRpcProxy(mode);
  opened.push(made);
  return made;
}

/** The error a promise rejects with; fails the test when it resolves. */
async function failureOf(promise: Promise<unknown>): Promise<EvmRpcError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof EvmRpcError)) throw new Error(`expected an EvmRpcError, got ${err === undefined ? 'a success' : String(err)}`);
  return err;
}

/** A new wallet with ETH for gas, signing its own raw transactions as the engine will. */
async function fundedWallet(): Promise<Wallet> {
  const wallet = Wallet.createRandom();
  await chain.setBalance(wallet.address, (10n ** 18n).toString());
  return new Wallet(wallet.privateKey);
}

async function signedPayment(wallet: Wallet, nonce: number, wei: bigint): Promise<string> {
  const fees = await chain.provider.getFeeData();
  return wallet.signTransaction({
    type: 2,
    chainId: 31337n,
    nonce,
    to: Wallet.createRandom().address,
    value: wei,
    gasLimit: 21_000n,
    maxFeePerGas: fees.maxFeePerGas! * 2n,
    maxPriorityFeePerGas: fees.maxPriorityFeePerGas!,
  });
}

describe('reading the chain', () => {
  test('getTransferLogs finds each mined Transfer to the watched addresses, in chain order, over several topic filters', async () => {
    const evm = client([chainEnv.rpcUrl], { maxAddressesPerLogQuery: 2 });
    const watched = Array.from({ length: 5 }, () => Wallet.createRandom().address);
    const elsewhere = Wallet.createRandom().address;
    const fromBlock = (await evm.blockNumber()) + 1;
    const sender = await chain.signer(1);
    await chain.mint('USDT', sender.address, '100');
    await chain.mint('DAI', sender.address, '100');
    const mined = [];
    for (const [i, to] of watched.entries()) mined.push(await chain.transferToken(i % 2 ? 'DAI' : 'USDT', 1, to, `${i + 1}.5`));
    await chain.transferToken('USDT', 1, elsewhere, '1');
    const toBlock = await evm.blockNumber();

    const logs = await evm.getTransferLogs({
      tokens: [chain.token('USDT').address, chain.token('DAI').address],
      to: [...watched.map((a) => a.toLowerCase()), Wallet.createRandom().address],
      fromBlock,
      toBlock,
    });

    expect(logs.map((l) => l.to)).toEqual(watched.map((a) => a.toLowerCase()));
    expect(logs.map((l) => l.value)).toEqual(['1500000', '2500000000000000000', '3500000', '4500000000000000000', '5500000']);
    expect(logs.map((l) => l.transactionHash)).toEqual(mined.map((m) => m.hash));
    expect(logs[0]).toEqual({
      token: chain.token('USDT').address,
      from: sender.address.toLowerCase(),
      to: watched[0].toLowerCase(),
      value: '1500000',
      blockNumber: mined[0].blockNumber,
      blockHash: mined[0].blockHash,
      transactionHash: mined[0].hash,
      logIndex: 0,
    });
  });

  test('no watched address or an empty range asks the node nothing', async () => {
    const evm = client();
    expect(await evm.getTransferLogs({ tokens: [chain.token('USDT').address], to: [], fromBlock: 0, toBlock: 10 })).toEqual([]);
    expect(await evm.getTransferLogs({ tokens: [chain.token('USDT').address], to: [ZERO], fromBlock: 10, toBlock: 9 })).toEqual([]);
  });

  test('a block has its number, hash, parent hash and timestamp; a block not yet made is null', async () => {
    const evm = client();
    const head = await evm.blockNumber();
    const block = await evm.getBlock(head);
    const parent = await evm.getBlock(head - 1);
    expect(block).toEqual({ number: head, hash: expect.stringMatching(/^0x[0-9a-f]{64}$/), parentHash: parent!.hash, timestamp: expect.any(Number) });
    expect(await evm.getBlock('latest')).toEqual(block);
    expect(await evm.getBlock(head + 1000)).toBeNull();
  });

  test('a receipt carries the status and the token transfers; a transaction its sender and nonce; unknown hashes are null', async () => {
    const evm = client();
    const to = Wallet.createRandom().address;
    const { hash, blockNumber } = await chain.mint('USDT', to, '7');
    const receipt = await evm.getTransactionReceipt(hash);
    expect(receipt).toMatchObject({ transactionHash: hash, blockNumber, status: 1, to: chain.token('USDT').address });
    expect(receipt!.transfers).toEqual([expect.objectContaining({ from: ZERO, to: to.toLowerCase(), value: '7000000' })]);
    expect(BigInt(receipt!.effectiveGasPrice)).toBeGreaterThan(0n);
    const tx = await evm.getTransaction(hash);
    expect(tx).toMatchObject({ hash, from: (await chain.signer(0)).address.toLowerCase(), blockNumber, value: '0' });
    const unknown = `0x${'1'.repeat(64)}`;
    expect(await evm.getTransactionReceipt(unknown)).toBeNull();
    expect(await evm.getTransaction(unknown)).toBeNull();
  });

  test('balances come in base units as decimal strings', async () => {
    const evm = client();
    const owner = Wallet.createRandom().address;
    await chain.mint('DAI', owner, '1.000000000000000001');
    await chain.setBalance(owner, '123456789012345678901');
    expect(await evm.tokenBalance(chain.token('DAI').address, owner)).toBe('1000000000000000001');
    expect(await evm.nativeBalance(owner)).toBe('123456789012345678901');
    const fees = await evm.feeData();
    expect(BigInt(fees.maxFeePerGas!)).toBeGreaterThan(0n);
  });

  test('reads asked while the same read is on its way share its answer: one request to the node for each', async () => {
    const via = await proxy('pass');
    const evm = client([via.url]);
    const holder = Wallet.createRandom().address;
    await evm.blockNumber(); // the chain id checked once, before counting
    const before = via.requests;

    const answers = await Promise.all(
      Array.from({ length: 20 }, () => Promise.all([evm.feeData(), evm.nativeBalance(holder), evm.getTransactionCount(holder, 'pending'), evm.blockNumber()])),
    );

    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
    // getFeeData asks for the latest block, the gas price and the priority fee: 3 requests, then one for each other read.
    expect(via.requests - before).toBe(3 + 3);
    // Answered reads are not kept: the next one asks the node again.
    await evm.blockNumber();
    expect(via.requests - before).toBe(7);
  });
});

describe('sending', () => {
  test('the same signed bytes sent twice are one transaction: the second send is a success, not an error', async () => {
    const evm = client();
    const wallet = await fundedWallet();
    const raw = await signedPayment(wallet, 0, 1000n);
    const first = await evm.sendRawTransaction(raw);
    expect(first).toEqual({ hash: expect.stringMatching(/^0x[0-9a-f]{64}$/), alreadyKnown: false });
    expect((await evm.getTransactionReceipt(first.hash))?.status).toBe(1);
    // Mined already (automine): the node says "nonce too low", and the client finds its own transaction behind it.
    expect(await evm.sendRawTransaction(raw)).toEqual({ hash: first.hash, alreadyKnown: true });
    expect(await evm.getTransactionCount(wallet.address)).toBe(1);
  });

  test('another transaction with a used nonce is nonce_too_low, which retrying cannot fix', async () => {
    const evm = client();
    const wallet = await fundedWallet();
    await evm.sendRawTransaction(await signedPayment(wallet, 0, 1000n));
    const err = await failureOf(evm.sendRawTransaction(await signedPayment(wallet, 0, 2000n)));
    expect(err).toMatchObject({ code: 'nonce_too_low', retryable: false });
  });

  test('resent while still in the pool it is "known": a success; the pending nonce counts it, the mined one not yet', async () => {
    const evm = client();
    const wallet = await fundedWallet();
    const raw = await signedPayment(wallet, 0, 1000n);
    await chain.provider.send('evm_setAutomine', [false]);
    try {
      const first = await evm.sendRawTransaction(raw);
      expect(await evm.sendRawTransaction(raw)).toEqual({ hash: first.hash, alreadyKnown: true });
      expect(await evm.getTransactionCount(wallet.address, 'pending')).toBe(1);
      expect(await evm.getTransactionCount(wallet.address, 'latest')).toBe(0);
      expect(await evm.getTransaction(first.hash)).toMatchObject({ blockNumber: null, blockHash: null, nonce: 0 });
    } finally {
      await chain.provider.send('evm_setAutomine', [true]);
      await chain.mine(1);
    }
  });

  test('a call that reverts is execution_reverted, not a transport failure, and not retryable', async () => {
    const evm = client();
    const poor = Wallet.createRandom().address;
    await chain.setBalance(poor, (10n ** 18n).toString());
    const data = ERC20.encodeFunctionData('transfer', [Wallet.createRandom().address, 1n]);
    const err = await failureOf(evm.estimateGas({ from: poor, to: chain.token('USDT').address, data }));
    expect(err).toMatchObject({ code: 'execution_reverted', retryable: false });
    expect(err.message).toMatch(/exceeds balance/);
    expect(evm.endpoints()[0].healthy).toBe(true);

    await chain.mint('USDT', poor, '1');
    expect(Number(await evm.estimateGas({ from: poor, to: chain.token('USDT').address, data }))).toBeGreaterThan(21_000);
  });

  test('the balance of a token address with no contract is not_a_contract', async () => {
    const err = await failureOf(client().tokenBalance(Wallet.createRandom().address, Wallet.createRandom().address));
    expect(err).toMatchObject({ code: 'not_a_contract', retryable: false });
  });
});

describe('failover between RPC URLs', () => {
  test('a dead first URL is skipped for the next one, and passed over while it is remembered as down', async () => {
    const dead = await proxy('down');
    const evm = client([dead.url, chainEnv.rpcUrl]);
    expect(await evm.blockNumber()).toBe(await chain.blockNumber());
    expect(await evm.getBlock('latest')).not.toBeNull();
    expect(await evm.nativeBalance(ZERO)).toMatch(/^\d+$/);
    expect(dead.requests).toBe(1);
    const [first, second] = evm.endpoints();
    expect(first).toEqual({ url: dead.url.replace('/v3/secret-api-key', '/…'), healthy: false, downUntil: expect.any(String), lastError: expect.stringMatching(/502/) });
    expect(second).toEqual({ url: chainEnv.rpcUrl, healthy: true });
  });

  test('a URL that refuses connections, one that never answers, one rate-limited and one of another chain are all failed over', async () => {
    const refusing = await proxy('pass');
    await refusing.close();
    const hanging = await proxy('hang');
    const limited = await proxy('rate-limited');
    const otherChain = await proxy('wrong-chain');
    const evm = client([refusing.url, hanging.url, limited.url, otherChain.url, chainEnv.rpcUrl], { timeoutMs: 300 });
    const started = Date.now();
    expect(await evm.blockNumber()).toBe(await chain.blockNumber());
    expect(Date.now() - started).toBeLessThan(3000);
    expect(evm.endpoints().map((e) => [e.healthy, e.lastError])).toEqual([
      [false, expect.stringMatching(/ECONNREFUSED/)],
      [false, expect.stringMatching(/timeout/)],
      [false, expect.stringMatching(/rate limited/)],
      [false, 'serves chain 1, not 31337'],
      [true, undefined],
    ]);
  });

  test('a URL back up is preferred again once its down time has passed', async () => {
    const flaky = await proxy('down');
    const evm = client([flaky.url, chainEnv.rpcUrl], { downForMs: 200 });
    await evm.blockNumber();
    flaky.mode = 'pass';
    await evm.blockNumber();
    expect(flaky.requests).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 250));
    await evm.blockNumber();
    expect(flaky.requests).toBe(3); // eth_chainId again (what answers there now may be another node), then the call
    expect(evm.endpoints()[0].healthy).toBe(true);
  });

  test('when every URL is down the call fails as rpc_unavailable, retryable, naming the URLs without their keys', async () => {
    const dead = await proxy('down');
    const evm = client([dead.url]);
    const err = await failureOf(evm.blockNumber());
    expect(err).toMatchObject({ code: 'rpc_unavailable', retryable: true });
    expect(err.message).toContain('http://127.0.0.1:');
    expect(err.message).not.toContain('secret-api-key');
    // Still tried while remembered as down: there is no other URL to try.
    dead.mode = 'pass';
    expect(await evm.blockNumber()).toBe(await chain.blockNumber());
  });

  test('a transaction sent through a failing URL reaches the node through the next one, once', async () => {
    const dead = await proxy('down');
    const evm = client([dead.url, chainEnv.rpcUrl]);
    const wallet = await fundedWallet();
    const { hash, alreadyKnown } = await evm.sendRawTransaction(await signedPayment(wallet, 0, 5n));
    expect(alreadyKnown).toBe(false);
    expect((await evm.getTransactionReceipt(hash))?.status).toBe(1);
  });
});
