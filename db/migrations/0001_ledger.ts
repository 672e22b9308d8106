// Users, the double-entry ledger (accounts + journal of transfers).
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('users', (t) => {
    t.bigInteger('uid').unsigned().primary();
    t.string('name', 128).nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  });

  await db.schema.createTable('accounts', (t) => {
    t.bigIncrements('id').primary();
    t.string('code', 128).notNullable();
    t.string('currency', 16).notNullable();
    // balance = posted credits − posted debits; held = pending debits; available = balance − held.
    t.decimal('balance', 38, 18).notNullable().defaultTo(0);
    t.decimal('held', 38, 18).notNullable().defaultTo(0);
    t.boolean('may_go_negative').notNullable().defaultTo(false);
    t.bigInteger('uid').unsigned().nullable().references('uid').inTable('users');
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.unique(['code', 'currency'], { indexName: 'accounts_code_currency' });
  });

  await db.schema.createTable('transfers', (t) => {
    t.string('id', 128).primary();
    t.bigInteger('debit_account_id').unsigned().notNullable().references('id').inTable('accounts');
    t.bigInteger('credit_account_id').unsigned().notNullable().references('id').inTable('accounts');
    t.decimal('amount', 38, 18).notNullable();
    t.string('currency', 16).notNullable();
    t.string('kind', 32).notNullable();
    t.string('reference', 255).notNullable();
    t.enum('state', ['pending', 'posted', 'voided']).notNullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.index(['debit_account_id', 'state']);
    t.index(['credit_account_id', 'state']);
    t.index(['reference']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('transfers');
  await db.schema.dropTable('accounts');
  await db.schema.dropTable('users');
}
