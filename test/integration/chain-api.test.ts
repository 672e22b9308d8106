// GET /api/v1/networks and /api/v1/tokens: what a checkout page offers, without a key, never showing RPC URLs.
import { saveNetwork, saveToken } from '../../db/networks';
import { startTestApp, type TestApp } from '../support/app';

let app: TestApp;

const OPERATOR_NETWORK = { id: 'bsc-testnet', chainId: 97, name: 'BNB Smart Chain Testnet', confirmations: 3, blockTimeMs: 3000 };
const SECRET_URL = 'https://bsc-testnet.example.com/v1/SECRET-KEY-123';

beforeAll(async () => {
  app = await startTestApp();
  await saveNetwork(app.db, { ...OPERATOR_NETWORK, rpcUrls: [SECRET_URL, 'https://backup.example.org/'], active: true });
  await saveToken(app.db, {
    id: 'bsc-testnet-usdt',
    networkId: 'bsc-testnet',
    symbol: 'USDT',
    name: 'Tether USD',
    contractAddress: '0x337610D27C682E347C9CD60BD4B3B107C9D34DDD',
    decimals: 18,
    active: true,
  });
  await saveNetwork(app.db, { id: 'retired', chainId: 4242, name: 'Retired', rpcUrls: ['https://retired.example.com'], confirmations: 1, blockTimeMs: 1000, active: false });
  await saveToken(app.db, { id: 'retired-usdt', networkId: 'retired', symbol: 'USDT', name: 'Old', contractAddress: `0x${'1'.repeat(40)}`, decimals: 6, active: true });
});
afterAll(async () => {
  if (app) {
    await app.db('tokens').whereIn('network_id', ['bsc-testnet', 'retired']).delete();
    await app.db('networks').whereIn('id', ['bsc-testnet', 'retired']).delete();
  }
  await app?.close();
});

test('GET /api/v1/networks lists the active networks by chain id, with their confirmations, without a key', async () => {
  const res = await app.api('/api/v1/networks', { key: null });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    object: 'list',
    data: [
      { object: 'network', ...OPERATOR_NETWORK },
      { object: 'network', id: 'local', chainId: 31337, name: 'Local chain (Hardhat)', confirmations: 3, blockTimeMs: expect.any(Number) },
    ],
  });
});

test('RPC URLs are never shown: they may carry a provider key', async () => {
  for (const path of ['/api/v1/networks', '/api/v1/tokens']) {
    const { text } = await app.api(path, { key: null });
    expect(text).not.toMatch(/SECRET-KEY|example\.(com|org)|127\.0\.0\.1|rpc/i);
  }
});

test('GET /api/v1/tokens lists the active tokens of active networks, contract addresses checksummed', async () => {
  const res = await app.api('/api/v1/tokens', { key: null });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({
    object: 'list',
    data: [
      {
        object: 'token',
        id: 'bsc-testnet-usdt',
        symbol: 'USDT',
        name: 'Tether USD',
        network: 'bsc-testnet',
        chainId: 97,
        contractAddress: '0x337610d27c682E347C9cD60BD4b3b107C9d34dDd',
        decimals: 18,
      },
      {
        object: 'token',
        id: 'local-dai',
        symbol: 'DAI',
        name: 'Dai Stablecoin (local test token)',
        network: 'local',
        chainId: 31337,
        contractAddress: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
        decimals: 18,
      },
      {
        object: 'token',
        id: 'local-usdt',
        symbol: 'USDT',
        name: 'Tether USD (local test token)',
        network: 'local',
        chainId: 31337,
        contractAddress: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
        decimals: 6,
      },
    ],
  });
});

test('?network= narrows the tokens to one network; an unknown one has none; a malformed one is a 400', async () => {
  const local = await app.api('/api/v1/tokens?network=local', { key: null });
  expect(local.body.data.map((t: { id: string }) => t.id)).toEqual(['local-dai', 'local-usdt']);
  expect((await app.api('/api/v1/tokens?network=retired', { key: null })).body.data).toEqual([]);
  expect((await app.api('/api/v1/tokens?network=nowhere', { key: null })).body.data).toEqual([]);
  const bad = await app.api('/api/v1/tokens?network=Not%20An%20Id', { key: null });
  expect(bad.status).toBe(400);
  expect(bad.body.error).toMatchObject({ code: 'invalid_request', message: expect.stringMatching(/^network: /) });
});

test('both routes are in the OpenAPI document', async () => {
  const doc = (await app.api('/openapi.json', { key: null })).body;
  expect(doc.paths['/api/v1/networks'].get.responses['200']).toBeDefined();
  expect(doc.paths['/api/v1/tokens'].get.parameters).toEqual([expect.objectContaining({ name: 'network', in: 'query', required: false })]);
  expect(doc.components.schemas.Token.properties).not.toHaveProperty('rpcUrls');
});
