// GET /api/v1/stats/alerts (seed 002's alert thresholds) against the test stack's database and chain: every check with the
// value it measured and its level, the ones not ok first and worst first; thresholds from the configuration.
import { formatEther } from 'ethers';
import { collectionWallet, hotWallet } from '../../db/wallets';
import { fromBaseUnits } from '../../domain/chain';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import { startTestApp, TEST_KEYS, type TestApp } from '../support/app';
import { connectTestChain, type TestChain } from '../support/chain';

let app: TestApp;
let chain: TestChain;
beforeAll(async () => {
  // Thresholds the test stack is sure to cross: every wallet holds less than a trillion tokens, and any backlog is above -1.
  app = await startTestApp({ alerts: { walletMinToken: '1000000000000', pendingPayouts: { warning: -1, critical: 1_000_000 } } });
  chain = connectTestChain();
});
afterAll(async () => {
  chain?.close();
  await app?.close();
});

interface Check {
  name: string;
  level: 'ok' | 'warning' | 'critical';
  value: string | number | null;
}
const LEVELS = ['ok', 'warning', 'critical'];
const alertsOf = async (of: TestApp) => (await of.api('/api/v1/stats/alerts', { key: TEST_KEYS.read })).body as { status: string; alerts: Check[]; checks: Check[] };
const check = (report: { checks: Check[] }, name: string) => report.checks.find((c) => c.name === name)!;

describe('GET /api/v1/stats/alerts', () => {
  it('measures every check, and lists those not ok worst first', async () => {
    const report = await alertsOf(app);
    const names = report.checks.map((c) => c.name);
    expect(names.slice(0, 4)).toEqual(['pending_payouts', 'payout_failure_rate', 'memory_usage', 'cpu_usage']);
    for (const kind of ['hot', 'collection']) {
      expect(names).toEqual(expect.arrayContaining([`wallet_gas:${LOCAL_NETWORK_ID}:${kind}`, `wallet_token:${LOCAL_NETWORK_ID}:${kind}:USDT`, `wallet_token:${LOCAL_NETWORK_ID}:${kind}:DAI`]));
    }

    // The backlog is the database's count, above its threshold of -1
    const held = Number((await app.db('withdrawals').where({ status: 'held' }).count({ n: '*' }))[0].n);
    expect(check(report, 'pending_payouts')).toMatchObject({ value: held, level: 'warning' });
    // A wallet's tokens are what the chain says, below a trillion
    const hot = await hotWallet(app.db, LOCAL_NETWORK_ID);
    expect(check(report, `wallet_token:${LOCAL_NETWORK_ID}:hot:USDT`)).toMatchObject({ value: fromBaseUnits(await chain.tokenBalance('USDT', hot.address), 6), level: 'warning' });
    expect(check(report, `wallet_gas:${LOCAL_NETWORK_ID}:hot`)).toMatchObject({ level: 'ok' });

    // Memory and CPU are levelled by seed 002's thresholds
    const levelAbove = (value: number, warning: number, critical: number) => (value > critical ? 'critical' : value > warning ? 'warning' : 'ok');
    const memory = check(report, 'memory_usage');
    expect(memory.level).toBe(levelAbove(memory.value as number, 80, 95));
    const cpu = check(report, 'cpu_usage');
    expect(cpu.level).toBe(levelAbove(cpu.value as number, 70, 90));

    expect(report.alerts).toEqual(report.checks.filter((c) => c.level !== 'ok').sort((a, b) => LEVELS.indexOf(b.level) - LEVELS.indexOf(a.level)));
    expect(report.status).toBe(report.alerts[0].level);
  });

  it('is critical for a wallet with no gas at all', async () => {
    const collection = await collectionWallet(app.db, LOCAL_NETWORK_ID);
    const before = await chain.provider.getBalance(collection.address);
    await chain.setBalance(collection.address, '0');
    try {
      const report = await alertsOf(app);
      expect(check(report, `wallet_gas:${LOCAL_NETWORK_ID}:collection`)).toMatchObject({ value: '0', level: 'critical' });
      expect(report.status).toBe('critical');
      expect(report.alerts[0].level).toBe('critical');
    } finally {
      await chain.setBalance(collection.address, before.toString());
    }
    expect(formatEther(await chain.provider.getBalance(collection.address))).toBe(formatEther(before));
  });

  it('takes the thresholds of the configuration: with the defaults the funded wallets are ok', async () => {
    const defaults = await startTestApp();
    try {
      const report = await alertsOf(defaults);
      expect(check(report, `wallet_token:${LOCAL_NETWORK_ID}:hot:USDT`).level).toBe('ok');
      expect(check(report, 'pending_payouts').level).toBe('ok');
    } finally {
      await defaults.close();
    }
  });

  it('needs a key', async () => {
    expect((await app.api('/api/v1/stats/alerts', { key: null })).status).toBe(401);
  });
});
