// Wallets (issue 5): the HD seed, sealed; every address of ours with its key (an HD index of the seed, or a sealed key of
// its own); which networks a user's deposit address is watched on; each network's hot and collection wallet.
import type { Knex } from 'knex';

/** Addresses are 0x + 40 lower-case hex digits, compared byte for byte: the database refuses any other spelling. */
const ADDRESS_TYPE = 'CHAR(42) CHARACTER SET ascii COLLATE ascii_bin';
const NETWORK_ID_LENGTH = 32;

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('wallet_seed', (t) => {
    // One row (id 1): the seed never changes once deposit addresses derive from it.
    t.tinyint('id').unsigned().primary();
    // The BIP-39 phrase, AES-256-GCM sealed (db/secret-box.ts), with the id of the key that sealed it (rotation).
    t.text('seed_sealed').notNullable();
    t.string('seed_key_id', 32).notNullable();
    // The extended public key of m/44'/60'/0'/0: deposit addresses derive from it without opening the seed.
    t.string('xpub', 128).notNullable();
    // The next deposit HD index: taken under this row's lock, so no index is ever given twice.
    t.integer('next_deposit_index').unsigned().notNullable().defaultTo(0);
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  });
  await db.raw('ALTER TABLE wallet_seed ADD CONSTRAINT wallet_seed_one_row CHECK (id = 1)');

  await db.schema.createTable('wallets', (t) => {
    t.specificType('address', ADDRESS_TYPE).primary();
    t.enum('kind', ['deposit', 'hot', 'collection']).notNullable();
    // deposit: its user (one deposit wallet per user) and its HD index (m/44'/60'/0'/0/{hd_index}).
    t.bigInteger('uid').unsigned().nullable().unique().references('uid').inTable('users');
    t.integer('hd_index').unsigned().nullable().unique();
    // hot, collection: a random key of its own, sealed, with the id of the key that sealed it.
    t.text('key_sealed').nullable();
    t.string('key_key_id', 32).nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.unique(['uid', 'address']);
  });
  await db.raw("ALTER TABLE wallets ADD CONSTRAINT wallets_address_lower_case CHECK (address REGEXP '^0x[0-9a-f]{40}$')");
  await db.raw(`ALTER TABLE wallets ADD CONSTRAINT wallets_key_by_kind CHECK (
    (kind = 'deposit' AND uid IS NOT NULL AND hd_index IS NOT NULL AND key_sealed IS NULL AND key_key_id IS NULL)
    OR (kind <> 'deposit' AND uid IS NULL AND hd_index IS NULL AND key_sealed IS NOT NULL AND key_key_id IS NOT NULL))`);

  // A user's deposit address is the same on every network; a row here says the user asked for it on that network,
  // so the network's scanner watches it.
  await db.schema.createTable('deposit_addresses', (t) => {
    t.string('network_id', NETWORK_ID_LENGTH).notNullable().references('id').inTable('networks');
    t.bigInteger('uid').unsigned().notNullable();
    t.specificType('address', ADDRESS_TYPE).notNullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.primary(['network_id', 'uid']);
    // The address is the user's deposit wallet, and no other.
    t.foreign(['uid', 'address']).references(['uid', 'address']).inTable('wallets');
  });

  await db.schema.createTable('network_wallets', (t) => {
    t.string('network_id', NETWORK_ID_LENGTH).notNullable().references('id').inTable('networks');
    t.enum('kind', ['hot', 'collection']).notNullable();
    t.specificType('address', ADDRESS_TYPE).notNullable().references('address').inTable('wallets');
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.primary(['network_id', 'kind']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of ['network_wallets', 'deposit_addresses', 'wallets', 'wallet_seed']) await db.schema.dropTableIfExists(table);
}
