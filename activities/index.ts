// Every activity the workers register, built from their injected dependencies.
import type { Db } from '../db/knex';
import { batchPayoutActivities } from './batch-payouts';
import { donationActivities } from './donations';
import { ledgerActivities } from './ledger';
import { noopActivities } from './noop';
import type { GatewayRegistry } from './providers/gateways';
import type { PayoutApi } from './providers/payout-api';

export interface ActivityDeps {
  db: Db;
  payouts: PayoutApi;
  gateways: GatewayRegistry;
  rankingTimeZone: string;
}

export function createActivities({ db, payouts, gateways, rankingTimeZone }: ActivityDeps) {
  return { ...ledgerActivities(db), ...batchPayoutActivities(db, payouts), ...donationActivities(db, gateways, rankingTimeZone), ...noopActivities() };
}

export type Activities = ReturnType<typeof createActivities>;
