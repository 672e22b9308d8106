// The activities' chain clients against the real database: a network's row is read at most once per NETWORK_FRESH_MS, so a
// send asks the database for it once, and an operator's change of its RPC URLs is used within seconds.
import { randomInt } from 'node:crypto';
import { createChainClients, NETWORK_FRESH_MS, type ChainClients } from '../../activities/chain-clients';
import { loadConfig } from '../../config';
import { createDb, type Db } from '../../db/knex';
import { saveNetwork, type Network } from '../../db/networks';

let db: Db;
let chains: ChainClients;
/** A network of this file's own, never called: the clients are compared by the URLs they were made with. */
const network: Network = { id: `cc-${randomInt(1e9)}`, chainId: randomInt(2 ** 40, 2 ** 47), name: 'Chain clients', rpcUrls: ['http://127.0.0.1:1'], confirmations: 3, blockTimeMs: 1000, active: true };

beforeAll(async () => {
  db = createDb(loadConfig().db.url, 2);
  await saveNetwork(db, network);
});
beforeEach(() => {
  chains = createChainClients(db);
});
afterEach(() => {
  jest.restoreAllMocks();
  chains.close();
});
afterAll(async () => {
  await db('networks').where({ id: network.id }).delete();
  await db.destroy();
});

const urlsOf = async (chainId: number) => (await chains.forChain(chainId)).endpoints().map((e) => e.url);

/** Counts the reads of the networks table while `work` runs. */
async function networkReads(work: () => Promise<unknown>): Promise<number> {
  let reads = 0;
  const listen = ({ sql }: { sql: string }) => {
    if (/from `networks`/.test(sql)) reads++;
  };
  db.on('query', listen);
  try {
    await work();
  } finally {
    db.removeListener('query', listen);
  }
  return reads;
}

/** Moves the clock `ms` ahead of now, for Date.now only. */
function clockAhead(ms: number): void {
  const now = Date.now();
  jest.spyOn(Date, 'now').mockReturnValue(now + ms);
}

test('reads a network once for all the calls of the next few seconds', async () => {
  const reads = await networkReads(async () => {
    const first = await chains.forChain(network.chainId);
    expect(await chains.forChain(network.chainId)).toBe(first);
    expect(await chains.forChain(network.chainId)).toBe(first);
  });
  expect(reads).toBe(1);
});

test('uses changed RPC URLs from the first call after NETWORK_FRESH_MS, and keeps the client while they stay the same', async () => {
  // Given a client made from the network's row
  expect(await urlsOf(network.chainId)).toEqual(['http://127.0.0.1:1']);
  try {
    // When an operator points the network elsewhere, then the row read stands until it is NETWORK_FRESH_MS old
    await saveNetwork(db, { ...network, rpcUrls: ['http://127.0.0.2:1'] });
    expect(await urlsOf(network.chainId)).toEqual(['http://127.0.0.1:1']);
    clockAhead(NETWORK_FRESH_MS);
    expect(await urlsOf(network.chainId)).toEqual(['http://127.0.0.2:1']);

    // and a row read again with the same URLs keeps the client, and what it learnt of each URL
    const current = await chains.forChain(network.chainId);
    clockAhead(2 * NETWORK_FRESH_MS);
    expect(await networkReads(async () => expect(await chains.forChain(network.chainId)).toBe(current))).toBe(1);
  } finally {
    await saveNetwork(db, network);
  }
});

test('a chain id no network has is not_found, and found as soon as the network is registered', async () => {
  const chainId = randomInt(2 ** 40, 2 ** 47);
  await expect(chains.forChain(chainId)).rejects.toMatchObject({ code: 'not_found' });
  const late = { ...network, id: `${network.id}-late`, chainId };
  await saveNetwork(db, late);
  try {
    expect(await urlsOf(chainId)).toEqual(late.rpcUrls);
  } finally {
    await db('networks').where({ id: late.id }).delete();
  }
});
