// Registering networks and tokens (admin) against a second real chain: a Hardhat node of its own under chain id 31338.
// A network is stored only once every RPC URL answers as its chain, a token only once its contract says its decimals;
// a registered network gets its wallets, its tokens their scanners, and a deposit on it is credited. Every refusal
// leaves the networks, tokens and wallets as they were.
import { Contract, getAddress, JsonRpcProvider, parseUnits, type InterfaceAbi } from 'ethers';
import TestTokenArtifact from '../../chain/artifacts/TestToken.json';
import { loadConfig } from '../../config';
import { getDeposit } from '../../db/deposits';
import { createDb } from '../../db/knex';
import { depositWorkflowId, scannerWorkflowId } from '../../domain/chain';
import { startEvmNode, type RunningEvmNode } from '../../scripts/stack/evm-node';
import { freePorts } from '../../scripts/stack/ports';
import { ServiceGroup } from '../../scripts/stack/processes';
import { TEST_KEYS, type TestApp } from '../support/app';
import { creditsOf } from '../support/deposits';
import { givenUser } from '../support/ledger';
import { waitFor } from '../support/processes';
import { useWorkerAndApp } from '../support/suites';

const SECOND_CHAIN = 31338;

let app: TestApp;
useWorkerAndApp((a) => (app = a));

const services = new ServiceGroup();
let node: RunningEvmNode;
let provider: JsonRpcProvider;

beforeAll(async () => {
  const [port] = await freePorts(1);
  node = await startEvmNode(services, { port, mining: 'auto', chainId: SECOND_CHAIN });
  provider = new JsonRpcProvider(node.rpcUrl, SECOND_CHAIN, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1 });
}, 90_000);
afterAll(async () => {
  // The node goes with this file: its network must not stay active for the files after it (the app's own connection is
  // closed by now).
  const db = createDb(loadConfig().db.url, 1);
  try {
    await db('networks').where({ id: 'second' }).update({ active: false });
  } finally {
    await db.destroy();
    provider?.destroy();
    await services.stopAll();
  }
});

const tokenOf = (symbol: string) => node.tokens.find((t) => t.symbol === symbol)!;
const network = (overrides: Record<string, unknown> = {}) => ({
  chainId: SECOND_CHAIN,
  name: 'Second test chain',
  rpcUrls: [node.rpcUrl],
  confirmations: 2,
  blockTimeMs: 500,
  ...overrides,
});
const putNetwork = (id: string, body: unknown, key?: string | null) => app.api(`/api/v1/networks/${id}`, { method: 'PUT', body, key });
const putToken = (id: string, symbol: string, body: unknown, key?: string | null) => app.api(`/api/v1/networks/${id}/tokens/${symbol}`, { method: 'PUT', body, key });
const usdt = (overrides: Record<string, unknown> = {}) => ({ name: 'Tether USD (second chain)', contractAddress: getAddress(tokenOf('USDT').address), decimals: 6, ...overrides });

/** The address, EIP-55 checksummed, with the case of its first letter flipped. */
function withBadChecksum(address: string): string {
  const summed = getAddress(address);
  const i = [...summed].findIndex((c, at) => at > 1 && /[a-f]/i.test(c));
  const c = summed[i];
  return `${summed.slice(0, i)}${c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()}${summed.slice(i + 1)}`;
}

/** What a refusal must leave as it was. */
async function registry() {
  const [networks, tokens, wallets] = await Promise.all([
    app.db('networks').orderBy('id').select('id', 'chain_id', 'name', 'rpc_urls', 'confirmations', 'block_time_ms', 'active'),
    app.db('tokens').orderBy('id').select('id', 'network_id', 'symbol', 'contract_address', 'decimals', 'active'),
    app.db('network_wallets').orderBy(['network_id', 'kind']).select(),
  ]);
  return { networks, tokens, wallets };
}

describe('a network registered by an admin', () => {
  it('is stored once its RPC URL answers as the chain, with its wallets; again, the same, with the same wallets', async () => {
    const created = await putNetwork('second', network());
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      object: 'network',
      id: 'second',
      chainId: SECOND_CHAIN,
      name: 'Second test chain',
      confirmations: 2,
      blockTimeMs: 500,
      active: true,
      rpcHosts: [node.rpcUrl],
      wallets: [
        { kind: 'hot', address: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/) },
        { kind: 'collection', address: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/) },
      ],
    });
    const again = await putNetwork('second', network());
    expect(again.status).toBe(200);
    expect(again.body).toEqual(created.body);
    const listed = (await app.api('/api/v1/networks', { key: null })).body.data;
    expect(listed).toContainEqual({ object: 'network', id: 'second', chainId: SECOND_CHAIN, name: 'Second test chain', confirmations: 2, blockTimeMs: 500 });
    // The wallets are sealed like every other: the admin wallet list shows them, never a key.
    const wallets = (await app.api('/api/v1/wallets', { key: TEST_KEYS.admin })).body.data.filter((w: { network: string }) => w.network === 'second');
    expect(wallets.map((w: { kind: string; address: string }) => [w.kind, w.address]).sort()).toEqual(created.body.wallets.map((w: { kind: string; address: string }) => [w.kind, w.address]).sort());
  });

  it('gets a token once its contract says the decimals, a scanner for it, and a deposit on it is credited once', async () => {
    const created = await putToken('second', 'USDT', usdt());
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      object: 'token',
      id: 'second-usdt',
      symbol: 'USDT',
      name: 'Tether USD (second chain)',
      network: 'second',
      chainId: SECOND_CHAIN,
      contractAddress: getAddress(tokenOf('USDT').address),
      decimals: 6,
      active: true,
    });
    expect((await putToken('second', 'USDT', usdt())).status).toBe(200);
    expect((await app.api('/api/v1/tokens?network=second', { key: null })).body.data.map((t: { symbol: string }) => t.symbol)).toEqual(['USDT']);
    await waitFor('the scanner of the new token', async () => app.workflowExists(scannerWorkflowId(SECOND_CHAIN, 'USDT')));

    // A user's deposit address on the new network, paid on the second chain
    const uid = await givenUser(app.db);
    const address = (await app.api(`/api/v1/users/${uid}/deposit-addresses`, { body: { network: 'second' } })).body.address;
    const deployer = await provider.getSigner(node.deployer);
    const payer = await provider.getSigner(1);
    const token = new Contract(tokenOf('USDT').address, TestTokenArtifact.abi as InterfaceAbi, deployer);
    await (await token.getFunction('mint')(await payer.getAddress(), parseUnits('10', 6))).wait();
    const tx = await (await (token.connect(payer) as Contract).getFunction('transfer')(address, parseUnits('7.25', 6))).wait();

    const id = depositWorkflowId(SECOND_CHAIN, tx!.hash, 0);
    const pending = await waitFor('the deposit on the second chain', async () => getDeposit(app.db, id));
    expect(pending).toMatchObject({ networkId: 'second', uid, amount: '7.25', tokenSymbol: 'USDT' });
    await provider.send('hardhat_mine', ['0x2']);
    await waitFor('the deposit to be confirmed', async () => (await getDeposit(app.db, id))?.status === 'confirmed');
    expect(await creditsOf(app.db, id)).toEqual([{ id: `deposit:${SECOND_CHAIN}:${tx!.hash}:0`, amount: expect.stringMatching(/^7\.250*$/), currency: 'USDT', state: 'posted' }]);
  });

  it('takes a change of its confirmations and URLs, and an inactive network is no longer listed', async () => {
    const changed = await putNetwork('second', network({ confirmations: 4, rpcUrls: [node.rpcUrl, `${node.rpcUrl}/`] }));
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ confirmations: 4, rpcHosts: [node.rpcUrl, node.rpcUrl] });
    expect((await app.api('/api/v1/networks', { key: null })).body.data.find((n: { id: string }) => n.id === 'second').confirmations).toBe(4);

    expect((await putNetwork('second', network({ active: false }))).status).toBe(200);
    expect((await app.api('/api/v1/networks', { key: null })).body.data.map((n: { id: string }) => n.id)).not.toContain('second');
    expect((await app.api('/api/v1/tokens?network=second', { key: null })).body.data).toEqual([]);
    expect((await putNetwork('second', network())).status).toBe(200);
  });
});

describe('what is refused, with nothing changed', () => {
  it('a network whose RPC URLs do not all answer as its chain: 422 chain_unreachable', async () => {
    const before = await registry();
    const cases = [
      ['another chain', putNetwork('bsc', network({ chainId: 56 })), 'serves chain 31338, not 56'],
      ['no node there', putNetwork('nowhere', network({ chainId: 77, rpcUrls: ['http://127.0.0.1:1'] })), 'http://127.0.0.1:1'],
      ['one of two down', putNetwork('second', network({ rpcUrls: [node.rpcUrl, 'http://127.0.0.1:1'] })), 'http://127.0.0.1:1'],
    ] as const;
    for (const [what, answer, says] of cases) {
      const res = await answer;
      expect({ what, status: res.status, code: res.body.error.code }).toEqual({ what, status: 422, code: 'chain_unreachable' });
      expect(res.body.error.message).toContain(says);
    }
    expect(await registry()).toEqual(before);
  });

  it('a chain that is another network, or a network that would change its chain: 409', async () => {
    const before = await registry();
    for (const [id, chainId] of [['local2', 31337], ['second', 31339]] as const) {
      const res = await putNetwork(id, network({ chainId }));
      expect({ id, status: res.status, code: res.body.error.code }).toEqual({ id, status: 409, code: 'exists_with_different_fields' });
    }
    expect(await registry()).toEqual(before);
  });

  it('a token whose contract is not there with those decimals (422), or that would change or share a contract (409)', async () => {
    const before = await registry();
    const eoa = await (await provider.getSigner(2)).getAddress();
    const cases = [
      ['DAI with 6 decimals', 'DAI', usdt({ contractAddress: getAddress(tokenOf('DAI').address) }), 422, 'token_mismatch'],
      ['an account, no contract', 'EOA', usdt({ contractAddress: eoa }), 422, 'token_mismatch'],
      ['USDT moved to another contract', 'USDT', usdt({ contractAddress: getAddress(tokenOf('DAI').address), decimals: 18 }), 409, 'exists_with_different_fields'],
      ['the USDT contract as another symbol', 'USDX', usdt(), 409, 'exists_with_different_fields'],
    ] as const;
    for (const [what, symbol, body, status, code] of cases) {
      const res = await putToken('second', symbol, body);
      expect({ what, status: res.status, code: res.body.error.code }).toEqual({ what, status, code });
    }
    expect((await putToken('nowhere', 'USDT', usdt())).status).toBe(404);
    expect(await registry()).toEqual(before);
  });

  it('bad input: 400 invalid_request; a key without the admin scope: 403; no key: 401', async () => {
    const before = await registry();
    const badNetworks = [
      ['no URL', network({ rpcUrls: [] })],
      ['not http', network({ rpcUrls: ['ftp://127.0.0.1/'] })],
      ['not a URL', network({ rpcUrls: ['node'] })],
      ['no confirmations', network({ confirmations: 0 })],
      ['block time as text', network({ blockTimeMs: 'fast' })],
      ['chain id not an integer', network({ chainId: 1.5 })],
      ['no name', network({ name: '' })],
      ['a field it does not know', network({ wsUrl: 'ws://127.0.0.1' })],
    ] as const;
    for (const [what, body] of badNetworks) {
      const res = await putNetwork('second', body);
      expect({ what, status: res.status, code: res.body.error.code }).toEqual({ what, status: 400, code: 'invalid_request' });
    }
    expect((await putNetwork('Bad%20Id', network())).status).toBe(400);
    const badTokens = [
      ['bad checksum', 'USDT', usdt({ contractAddress: withBadChecksum(tokenOf('USDT').address) })],
      ['too short', 'USDT', usdt({ contractAddress: '0x1234' })],
      ['19 decimals', 'USDT', usdt({ decimals: 19 })],
      ['a lower-case symbol', 'usdt', usdt()],
    ] as const;
    for (const [what, symbol, body] of badTokens) {
      const res = await putToken('second', symbol, body);
      expect({ what, status: res.status, code: res.body.error.code }).toEqual({ what, status: 400, code: 'invalid_request' });
    }
    expect((await putNetwork('second', network(), TEST_KEYS.read)).status).toBe(403);
    expect((await putToken('second', 'USDT', usdt(), TEST_KEYS.write)).status).toBe(403);
    expect((await putNetwork('second', network(), null)).status).toBe(401);
    expect(await registry()).toEqual(before);
  });
});
