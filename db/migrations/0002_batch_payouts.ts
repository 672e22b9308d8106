// Batch payouts: the batch (its request, digest and controls) and one row per payee, kept by the workflow's activities.
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('batch_payouts', (t) => {
    t.string('batch_pay_id', 100).primary();
    t.string('workflow_id', 128).notNullable();
    t.string('currency', 16).notNullable();
    t.integer('item_count').unsigned().notNullable();
    // sha256 of the canonical items: the same batchPayId with other items is an idempotency conflict.
    t.specificType('items_digest', 'CHAR(64)').notNullable();
    t.enum('status', ['running', 'paused', 'cancelling', 'completed', 'cancelled']).notNullable().defaultTo('running');
    t.enum('phase', ['begin', 'fast', 'slow', 'finish', 'done']).notNullable().defaultTo('begin');
    // What the running chunk activity obeys: written by the workflow's update handlers.
    t.enum('control', ['run', 'pause', 'cancel']).notNullable().defaultTo('run');
    t.integer('min_concurrency').unsigned().notNullable();
    t.integer('max_concurrency').unsigned().notNullable();
    t.integer('concurrency').unsigned().notNullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('finished_at', { precision: 3 }).nullable();
  });

  await db.schema.createTable('batch_payout_items', (t) => {
    t.string('batch_pay_id', 100).notNullable().references('batch_pay_id').inTable('batch_payouts');
    t.bigInteger('uid').unsigned().notNullable();
    // Order within the batch: chunk k holds seq in [k·size, (k+1)·size).
    t.integer('seq').unsigned().notNullable();
    // Null: pay the whole available balance at the moment of the hold.
    t.decimal('requested_amount', 38, 18).nullable();
    t.decimal('amount', 38, 18).nullable();
    t.enum('status', ['pending', 'held', 'retry', 'paid', 'failed', 'rejected', 'cancelled']).notNullable().defaultTo('pending');
    t.string('provider_ref', 128).nullable();
    t.integer('attempts').unsigned().notNullable().defaultTo(0);
    // Whether a pay request may have reached the provider: such an item is never voided before the provider says so.
    t.boolean('maybe_sent').notNullable().defaultTo(false);
    t.string('last_error', 255).nullable();
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.primary(['batch_pay_id', 'uid']);
    t.unique(['batch_pay_id', 'seq']);
    t.index(['batch_pay_id', 'status']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('batch_payout_items');
  await db.schema.dropTable('batch_payouts');
}
