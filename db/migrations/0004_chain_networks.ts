// Chains (seed 003's networks and tokens): each network with its RPC URLs (tried in order, with failover) and the
// confirmations a transfer needs there; each token with its contract, stored in lower case.
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('networks', (t) => {
    t.string('id', 32).primary();
    t.bigInteger('chain_id').unsigned().notNullable().unique();
    t.string('name', 64).notNullable();
    // A JSON array of URLs. They may carry provider keys: never shown by the API.
    t.json('rpc_urls').notNullable();
    // Blocks on top of a transfer's block before it counts (seed 002: 20 on Ethereum; seed 003: 3 on BSC).
    t.integer('confirmations').unsigned().notNullable();
    t.integer('block_time_ms').unsigned().notNullable();
    t.boolean('active').notNullable().defaultTo(true);
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  });

  await db.schema.createTable('tokens', (t) => {
    t.string('id', 64).primary();
    t.string('network_id', 32).notNullable().references('id').inTable('networks');
    t.string('symbol', 16).notNullable();
    t.string('name', 64).notNullable();
    t.specificType('contract_address', 'CHAR(42)').notNullable();
    t.tinyint('decimals').unsigned().notNullable();
    t.boolean('active').notNullable().defaultTo(true);
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.unique(['network_id', 'symbol'], { indexName: 'tokens_network_symbol' });
    t.unique(['network_id', 'contract_address'], { indexName: 'tokens_network_contract' });
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTable('tokens');
  await db.schema.dropTable('networks');
}
