// Products (seed 003's product selection; issue 5's "product or amount"): what a checkout session can be made for, at its
// price in stablecoin units, paid in the token the payer picks. A session made for one remembers which.
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('products', (t) => {
    t.string('id', 64).primary();
    t.string('name', 200).notNullable();
    t.string('description', 1000).nullable();
    t.decimal('price', 38, 18).notNullable();
    // Never deleted (sessions name them): an inactive product is not listed and takes no new session.
    t.boolean('active').notNullable().defaultTo(true);
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  });
  await db.raw('ALTER TABLE products ADD CONSTRAINT products_price_positive CHECK (price > 0)');
  await db.schema.alterTable('checkout_sessions', (t) => {
    t.string('product_id', 64).nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('checkout_sessions', (t) => {
    t.dropColumn('product_id');
  });
  await db.schema.dropTable('products');
}
