// The local chain the stack runs: a Hardhat node with the test tokens, registered as the network `local`, and the dev
// controls the chain tests rely on.
import { Contract } from 'ethers';
import { loadConfig } from '../../config';
import { createDb, type Db } from '../../db/knex';
import { getNetwork, listTokens, saveNetwork } from '../../db/networks';
import { provisionLocalNetwork } from '../../scripts/stack/evm-node';
import { connectTestChain, type TestChain } from '../support/chain';

let chain: TestChain;
let db: Db;
let snapshot: string;

beforeAll(async () => {
  chain = connectTestChain();
  db = createDb(loadConfig().db.url, 2);
  snapshot = await chain.snapshot();
});
afterAll(async () => {
  await chain?.revert(snapshot);
  chain?.close();
  await db?.destroy();
});

test('the node answers JSON-RPC as chain 31337 with 20 funded accounts', async () => {
  expect(Number(await chain.provider.send('eth_chainId', []))).toBe(31337);
  const accounts = (await chain.provider.send('eth_accounts', [])) as string[];
  expect(accounts).toHaveLength(20);
  expect(await chain.provider.getBalance(accounts[19])).toBeGreaterThan(10n ** 21n);
});

test('USDT (6 decimals) and DAI (18) are deployed from account #0 at their deterministic addresses', async () => {
  expect(chain.token('USDT').address).toBe('0x5fbdb2315678afecb367f032d93f642f64180aa3');
  expect(chain.token('DAI').address).toBe('0xe7f1725e7734ce288f8367e1bb143e90bb3f0512');
  for (const [symbol, decimals] of [['USDT', 6], ['DAI', 18]] as const) {
    const token = new Contract(chain.token(symbol).address, ['function symbol() view returns (string)', 'function decimals() view returns (uint8)'], chain.provider);
    expect(await token.symbol()).toBe(symbol);
    expect(Number(await token.decimals())).toBe(decimals);
  }
});

test('the node is registered as the network `local` with its tokens, addresses in lower case', async () => {
  const network = await getNetwork(db, 'local');
  expect(network).toEqual({
    id: 'local',
    chainId: 31337,
    name: expect.any(String),
    rpcUrls: [chain.rpcUrl],
    confirmations: loadConfig().chain.localNode.confirmations,
    blockTimeMs: expect.any(Number),
    active: true,
  });
  const tokens = await listTokens(db, { networkId: 'local' });
  expect(tokens.map(({ symbol, decimals, contractAddress }) => ({ symbol, decimals, contractAddress }))).toEqual([
    { symbol: 'DAI', decimals: 18, contractAddress: chain.token('DAI').address },
    { symbol: 'USDT', decimals: 6, contractAddress: chain.token('USDT').address },
  ]);
});

test('provisioning again refreshes the network `local` in place; a `local` an operator pointed elsewhere is kept as it is', async () => {
  const stored = (await getNetwork(db, 'local'))!;
  const node = { rpcUrl: chain.rpcUrl, chainId: chain.chainId, tokens: chain.tokens };
  try {
    expect(await provisionLocalNetwork(db, node, { confirmations: 5, blockTimeMs: 1000 })).toEqual({ outcome: 'refreshed' });
    expect((await getNetwork(db, 'local'))?.confirmations).toBe(5);
    expect((await listTokens(db, { networkId: 'local' })).map((t) => t.id)).toEqual(['local-dai', 'local-usdt']);

    await saveNetwork(db, { ...stored, rpcUrls: ['https://node.example.com/key'] });
    expect(await provisionLocalNetwork(db, node, { confirmations: 3, blockTimeMs: 1000 })).toEqual({
      outcome: 'kept',
      reason: 'network local points at https://node.example.com/…, not at this machine',
    });
    expect((await getNetwork(db, 'local'))?.rpcUrls).toEqual(['https://node.example.com/key']);
  } finally {
    await saveNetwork(db, stored);
  }
});

test('minting and transferring move exact base units; only the deployer may mint', async () => {
  const [alice, bob] = await Promise.all([chain.signer(1), chain.signer(2)]);
  const before = BigInt(await chain.tokenBalance('USDT', bob.address));
  await chain.mint('USDT', alice.address, '100.000001');
  await chain.transferToken('USDT', 1, bob.address, '0.000001');
  expect(BigInt(await chain.tokenBalance('USDT', bob.address)) - before).toBe(1n);

  const asAlice = new Contract(chain.token('USDT').address, ['function mint(address,uint256)'], alice);
  await expect(asAlice.mint(alice.address, 1n)).rejects.toThrow(/only the deployer mints/);
});

test('hardhat_mine adds blocks at once, for confirmations', async () => {
  const before = await chain.blockNumber();
  await chain.mine(20);
  expect(await chain.blockNumber()).toBe(before + 20);
});

test('after evm_revert the same height holds another block, and the reverted transfer\'s log is gone without a `removed` log', async () => {
  const [alice, bob] = await Promise.all([chain.signer(1), chain.signer(3)]);
  const base = await chain.snapshot();
  const transfer = await chain.mint('USDT', bob.address, '5');
  const height = transfer.blockNumber;
  const transferTopic = '0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef';
  const logsAt = () => chain.provider.getLogs({ address: chain.token('USDT').address, fromBlock: height, toBlock: height, topics: [transferTopic] });
  expect(await logsAt()).toHaveLength(1);

  await chain.revert(base);
  expect(await chain.blockNumber()).toBe(height - 1);
  // Another block at the same height: an ETH payment instead of the token transfer.
  await (await alice.sendTransaction({ to: bob.address, value: 1n })).wait();
  const replacement = await chain.provider.getBlock(height);
  expect(replacement?.number).toBe(height);
  expect(replacement?.hash).not.toBe(transfer.blockHash);
  expect(await logsAt()).toEqual([]);
});
