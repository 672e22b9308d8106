// Batch payouts the provider refuses: a `failed` batch with the reason, and items whose hold was given back and may be taken again.
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('batch_payouts', (t) => {
    t.enum('status', ['running', 'paused', 'cancelling', 'failed', 'completed', 'cancelled']).notNullable().defaultTo('running').alter();
    // Why the provider last refused the batch (credentials, a conflicting request); kept after a resume.
    t.string('last_error', 255).nullable();
  });
  await db.schema.alterTable('batch_payout_items', (t) => {
    // Holds given back unsent when the batch failed; the item's current hold is the transfer of this round (domain/batch-payout.ts).
    t.integer('hold_round').unsigned().notNullable().defaultTo(0);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('batch_payout_items', (t) => {
    t.dropColumn('hold_round');
  });
  await db('batch_payouts').where({ status: 'failed' }).update({ status: 'paused' });
  await db.schema.alterTable('batch_payouts', (t) => {
    t.dropColumn('last_error');
    t.enum('status', ['running', 'paused', 'cancelling', 'completed', 'cancelled']).notNullable().defaultTo('running').alter();
  });
}
