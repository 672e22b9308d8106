// Checkout sessions (issue 5, seed 003): one row per session, with its own receiving address and its status as its
// CheckoutSessionWorkflow last wrote it; one row per Transfer log that paid one; the next HD index of checkout addresses.
import type { Knex } from 'knex';

/** Addresses and hashes are lower-case hex, compared byte for byte. */
const ADDRESS_TYPE = 'CHAR(42) CHARACTER SET ascii COLLATE ascii_bin';
const HASH_TYPE = 'CHAR(66) CHARACTER SET ascii COLLATE ascii_bin';
const STATUSES = ['new', 'processing', 'underpaid', 'paid', 'overpaid', 'expired', 'paid_late'];

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('checkout_sessions', (t) => {
    // Newest first in lists, and the pagination cursor.
    t.bigIncrements('seq').primary();
    // pay_…; the workflow ID is checkout-{id}.
    t.string('id', 40).notNullable().unique();
    // sha256 of the create request: the same Idempotency-Key with another body is refused.
    t.specificType('request_digest', 'CHAR(64) CHARACTER SET ascii').notNullable();
    t.string('network_id', 32).notNullable().references('id').inTable('networks');
    t.bigInteger('chain_id').unsigned().notNullable();
    t.string('token_symbol', 16).notNullable();
    t.specificType('token_address', ADDRESS_TYPE).notNullable();
    t.tinyint('token_decimals').unsigned().notNullable();
    // The session's own address: m/44'/60'/0'/0/2147483647/{hd_index} (db/checkout.ts), never reused.
    t.specificType('address', ADDRESS_TYPE).notNullable().unique();
    t.integer('hd_index').unsigned().notNullable().unique();
    t.string('product_name', 200).nullable();
    t.string('description', 1000).nullable();
    // Token units, and the same in base units (a uint256 has up to 78 digits).
    t.decimal('amount', 38, 18).notNullable();
    t.string('amount_units', 80).notNullable();
    t.enum('status', STATUSES).notNullable().defaultTo('new');
    // Confirmed, on chain waiting for confirmations, and confirmed beyond the amount; token units.
    t.decimal('received_amount', 38, 18).notNullable().defaultTo(0);
    t.decimal('pending_amount', 38, 18).notNullable().defaultTo(0);
    t.decimal('excess_amount', 38, 18).notNullable().defaultTo(0);
    t.integer('required_confirmations').unsigned().notNullable();
    t.dateTime('expires_at', { precision: 3 }).notNullable();
    // The address is watched until then (the late window after expiry), and longer while a transfer still waits.
    t.dateTime('watch_until', { precision: 3 }).notNullable();
    t.dateTime('paid_at', { precision: 3 }).nullable();
    // Set when the workflow ends: the scanners stop watching the address.
    t.dateTime('closed_at', { precision: 3 }).nullable();
    // Bumped by every change a payer can see: the API's WebSocket pushes when it moves.
    t.integer('version').unsigned().notNullable().defaultTo(0);
    // sha256 of the progress last written: writing the same progress again (a retried activity) changes nothing.
    t.specificType('progress_digest', 'CHAR(64) CHARACTER SET ascii').nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    // The open sessions of a scanner's token: the addresses it watches.
    t.index(['network_id', 'token_symbol', 'closed_at'], 'checkout_sessions_open');
    t.index(['created_at'], 'checkout_sessions_created');
  });
  await db.raw("ALTER TABLE checkout_sessions ADD CONSTRAINT checkout_sessions_address_lower_case CHECK (address REGEXP '^0x[0-9a-f]{40}$')");

  await db.schema.createTable('checkout_transfers', (t) => {
    t.string('session_id', 40).notNullable().references('id').inTable('checkout_sessions');
    t.bigInteger('chain_id').unsigned().notNullable();
    t.specificType('tx_hash', HASH_TYPE).notNullable();
    t.integer('log_index').unsigned().notNullable();
    t.specificType('from_address', ADDRESS_TYPE).notNullable();
    t.decimal('amount', 38, 18).notNullable();
    t.string('amount_units', 80).notNullable();
    // Where the log is now (a reorg that re-includes its transaction elsewhere moves it).
    t.bigInteger('block_number').unsigned().notNullable();
    t.specificType('block_hash', HASH_TYPE).notNullable();
    t.integer('confirmations').unsigned().notNullable().defaultTo(0);
    t.enum('state', ['seen', 'confirmed', 'reorged']).notNullable();
    // Whether the canonical chain held it at the last look.
    t.boolean('on_chain').notNullable();
    // First seen after the session expired.
    t.boolean('late').notNullable();
    // The ledger credit, checkout:{chainId}:{txHash}:{logIndex}, once confirmed.
    t.string('transfer_id', 128).nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    // A log pays one session, however often it is seen.
    t.primary(['chain_id', 'tx_hash', 'log_index']);
    t.index(['session_id'], 'checkout_transfers_session');
  });

  // One row: the next HD index of a checkout address, taken under its lock so no index is given twice.
  await db.schema.createTable('checkout_address_index', (t) => {
    t.tinyint('id').unsigned().primary();
    t.integer('next_index').unsigned().notNullable();
  });
  await db.raw('ALTER TABLE checkout_address_index ADD CONSTRAINT checkout_address_index_one_row CHECK (id = 1)');
  await db('checkout_address_index').insert({ id: 1, next_index: 0 });
}

export async function down(db: Knex): Promise<void> {
  for (const table of ['checkout_address_index', 'checkout_transfers', 'checkout_sessions']) await db.schema.dropTableIfExists(table);
}
