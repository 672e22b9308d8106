// GET /api/v1/stats/alerts (seed 002's monitoring and alert thresholds): each check with its value and level, worst first.
// Payouts waiting for the chain (a backlog), their failure rate over the last hour, the machine's memory and CPU, and
// every active network's hot and collection wallets: gas and each token, since an empty hot wallet sends nothing and the
// collection wallet is its fallback (seed 002: keep it funded, alert on its balance).
import os from 'node:os';
import type { Config } from '../config';
import type { ChainClients } from '../activities/chain-clients';
import type { Db } from '../db/knex';
import { listNetworks, listTokens } from '../db/networks';
import { listNetworkWallets } from '../db/wallets';
import { payoutCounts } from '../db/withdrawals';
import { checksumAddress, fromBaseUnits } from '../domain/chain';
import { money } from '../domain/money';

export const ALERT_LEVELS = ['ok', 'warning', 'critical'] as const;
export type AlertLevel = (typeof ALERT_LEVELS)[number];

export interface AlertCheck {
  name: string;
  level: AlertLevel;
  /** What was measured; null when it could not be (no payout ended in the hour, a chain that did not answer). */
  value: string | number | null;
  /** Above these (below, for a balance) the check warns, or is critical. */
  warning: string | number;
  critical: string | number;
  message: string;
}

/** Seed 002's thresholds for the machine, in percent. */
const MEMORY = { warning: 80, critical: 95 };
const CPU = { warning: 70, critical: 90 };
const HOUR_MS = 3_600_000;

const round = (value: number) => Math.round(value * 10) / 10;

/** A figure where more is worse. */
function above(name: string, value: number | null, limits: { warning: number; critical: number }, what: string): AlertCheck {
  const level: AlertLevel = value === null ? 'ok' : value > limits.critical ? 'critical' : value > limits.warning ? 'warning' : 'ok';
  return { name, level, value, ...limits, message: value === null ? `${what}: nothing to measure` : `${what}: ${value}` };
}

/** A balance: below the minimum is a warning, nothing at all is critical; a chain that did not answer is a warning. */
function balance(name: string, amount: string | null, minimum: string, what: string): AlertCheck {
  const limits = { warning: minimum, critical: '0' };
  if (amount === null) return { name, level: 'warning', value: null, ...limits, message: `${what}: the chain did not answer` };
  const held = money(amount);
  const level: AlertLevel = held.isZero() ? 'critical' : held.lt(minimum) ? 'warning' : 'ok';
  return { name, level, value: amount, ...limits, message: `${what}: ${amount}${level === 'ok' ? '' : ` (keep at least ${minimum})`}` };
}

/** Base units read from the chain, in whole units; null when the chain did not answer. */
async function unitsOrNull(read: Promise<string>, decimals: number): Promise<string | null> {
  try {
    return fromBaseUnits(await read, decimals);
  } catch {
    return null;
  }
}

async function walletChecks(db: Db, chains: ChainClients, thresholds: Config['alerts']): Promise<AlertCheck[]> {
  const [networks, tokens, wallets] = await Promise.all([listNetworks(db), listTokens(db), listNetworkWallets(db)]);
  const perNetwork = networks.map(async (network) => {
    const evm = await chains.forChain(network.chainId);
    const checks = wallets
      .filter((w) => w.networkId === network.id)
      .flatMap((wallet) => {
        const where = `${network.id} ${wallet.kind} wallet ${checksumAddress(wallet.address)}`;
        const gas = unitsOrNull(evm.nativeBalance(wallet.address), 18).then((amount) =>
          balance(`wallet_gas:${network.id}:${wallet.kind}`, amount, thresholds.walletMinGas, `gas in the ${where}`),
        );
        const held = tokens
          .filter((t) => t.networkId === network.id)
          .map((token) =>
            unitsOrNull(evm.tokenBalance(token.contractAddress, wallet.address), token.decimals).then((amount) =>
              balance(`wallet_token:${network.id}:${wallet.kind}:${token.symbol}`, amount, thresholds.walletMinToken, `${token.symbol} in the ${where}`),
            ),
          );
        return [gas, ...held];
      });
    return Promise.all(checks);
  });
  return (await Promise.all(perNetwork)).flat();
}

export async function alertReport(deps: { db: Db; config: Config }, chains: ChainClients): Promise<{ status: AlertLevel; alerts: AlertCheck[]; checks: AlertCheck[] }> {
  const { db, config } = deps;
  const [payouts, wallets] = await Promise.all([payoutCounts(db, new Date(Date.now() - HOUR_MS)), walletChecks(db, chains, config.alerts)]);
  const ended = payouts.confirmedSince + payouts.failedSince;
  const failureRate = ended === 0 ? null : round((payouts.failedSince / ended) * 100);
  const checks = [
    above('pending_payouts', payouts.pending, config.alerts.pendingPayouts, 'payouts waiting for the chain'),
    above('payout_failure_rate', failureRate, config.alerts.payoutFailureRate, `percent of the ${ended} payouts that ended in the last hour that failed`),
    above('memory_usage', round(((os.totalmem() - os.freemem()) / os.totalmem()) * 100), MEMORY, 'percent of the machine\'s memory in use'),
    above('cpu_usage', round((os.loadavg()[0] / os.cpus().length) * 100), CPU, 'load over the last minute, percent of the CPUs'),
    ...wallets,
  ];
  const rank = (check: AlertCheck) => ALERT_LEVELS.indexOf(check.level);
  const alerts = checks.filter((c) => c.level !== 'ok').sort((a, b) => rank(b) - rank(a));
  return { status: alerts[0]?.level ?? 'ok', alerts, checks };
}
