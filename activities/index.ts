// Every activity the workers register, built from their injected dependencies.
import type { Db } from '../db/knex';
import { batchPayoutActivities } from './batch-payouts';
import { ledgerActivities } from './ledger';
import { noopActivities } from './noop';
import type { PayoutApi } from './providers/payout-api';

export interface ActivityDeps {
  db: Db;
  payouts: PayoutApi;
}

export function createActivities({ db, payouts }: ActivityDeps) {
  return { ...ledgerActivities(db), ...batchPayoutActivities(db, payouts), ...noopActivities() };
}

export type Activities = ReturnType<typeof createActivities>;
