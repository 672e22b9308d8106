// GET /api/v1/stats/websocket/messages lists the newest Transfer logs the scanners routed: deposits come newest first by
// their seq, checkout transfers by the time they were seen, which this index serves.
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('checkout_transfers', (t) => {
    t.index(['created_at'], 'checkout_transfers_created');
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('checkout_transfers', (t) => {
    t.dropIndex(['created_at'], 'checkout_transfers_created');
  });
}
