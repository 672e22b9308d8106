// Runs the migrations in db/migrations, listed here so they load the same under tsx, jest and a bundler.
import type { Knex } from 'knex';
import * as ledger from './migrations/0001_ledger';
import * as batchPayouts from './migrations/0002_batch_payouts';
import * as batchPayoutFailures from './migrations/0002b_batch_payout_failures';
import * as donations from './migrations/0003_donations';
import * as chainNetworks from './migrations/0004_chain_networks';
import * as wallets from './migrations/0005_wallets';
import * as deposits from './migrations/0006_deposits';
import * as withdrawals from './migrations/0007_withdrawals';
import * as notifications from './migrations/0008_notifications';
import * as checkout from './migrations/0009_checkout';
import * as notificationWorkflows from './migrations/0010_notification_workflows';
import * as chainEventLog from './migrations/0011_chain_event_log';
import * as products from './migrations/0012_products';
import * as payoutStatus from './migrations/0013_payout_status';

const MIGRATIONS: Record<string, { up(db: Knex): Promise<void>; down(db: Knex): Promise<void> }> = {
  '0001_ledger': ledger,
  '0002_batch_payouts': batchPayouts,
  '0002b_batch_payout_failures': batchPayoutFailures,
  '0003_donations': donations,
  '0004_chain_networks': chainNetworks,
  '0005_wallets': wallets,
  '0006_deposits': deposits,
  '0007_withdrawals': withdrawals,
  '0008_notifications': notifications,
  '0009_checkout': checkout,
  '0010_notification_workflows': notificationWorkflows,
  '0011_chain_event_log': chainEventLog,
  '0012_products': products,
  '0013_payout_status': payoutStatus,
};

const source: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => MIGRATIONS[name],
};

/** Brings the schema up to date; safe to run from several processes at once (knex takes a lock). */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = await db.migrate.latest({ migrationSource: source });
  return applied as string[];
}
