// GET /api/v1/stats/alerts counts the payouts waiting for the chain and those that ended in the last hour.
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('withdrawals', (t) => {
    t.index(['status', 'updated_at'], 'withdrawals_status_updated');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('withdrawals', (t) => {
    t.dropIndex(['status', 'updated_at'], 'withdrawals_status_updated');
  });
}
