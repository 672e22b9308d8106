// Deposits (issue 5, M2Pool topup): one row per ERC-20 Transfer log to a user's deposit address, kept by its
// DepositWorkflow; and each scanner's cursor, with the hashes of the blocks it read last so that a reorg is found.
import type { Knex } from 'knex';

/** Addresses and hashes are lower-case hex, compared byte for byte. */
const ADDRESS_TYPE = 'CHAR(42) CHARACTER SET ascii COLLATE ascii_bin';
const HASH_TYPE = 'CHAR(66) CHARACTER SET ascii COLLATE ascii_bin';

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('deposits', (t) => {
    // Newest first in lists, and the pagination cursor.
    t.bigIncrements('seq').primary();
    // The workflow ID, deposit-{chainId}-{txHash}-{logIndex}.
    t.string('id', 100).notNullable().unique();
    t.string('network_id', 32).notNullable().references('id').inTable('networks');
    t.bigInteger('chain_id').unsigned().notNullable();
    t.string('token_symbol', 16).notNullable();
    t.specificType('token_address', ADDRESS_TYPE).notNullable();
    t.specificType('tx_hash', HASH_TYPE).notNullable();
    t.integer('log_index').unsigned().notNullable();
    t.specificType('from_address', ADDRESS_TYPE).notNullable();
    t.specificType('to_address', ADDRESS_TYPE).notNullable();
    t.bigInteger('uid').unsigned().notNullable().references('uid').inTable('users');
    // Token units, as credited; and the log's value in base units (a uint256 has up to 78 digits).
    t.decimal('amount', 38, 18).notNullable();
    t.string('amount_units', 80).notNullable();
    // The block the log is in now: a reorg that re-includes its transaction elsewhere moves it.
    t.bigInteger('block_number').unsigned().notNullable();
    t.specificType('block_hash', HASH_TYPE).notNullable();
    // Blocks on top of it the log needs: the network's confirmations when it was seen.
    t.integer('required_confirmations').unsigned().notNullable();
    t.enum('status', ['pending', 'confirmed', 'reorged']).notNullable().defaultTo('pending');
    // The ledger transfer of the credit, deposit:{chainId}:{txHash}:{logIndex}, once confirmed.
    t.string('transfer_id', 128).nullable();
    t.dateTime('confirmed_at', { precision: 3 }).nullable();
    t.dateTime('reorged_at', { precision: 3 }).nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    // A log is one deposit, however often it is scanned.
    t.unique(['chain_id', 'tx_hash', 'log_index'], { indexName: 'deposits_log' });
    t.index(['uid', 'seq'], 'deposits_uid');
    t.index(['status', 'seq'], 'deposits_status');
    // The pending deposits above a fork point, to tell them of a reorg.
    t.index(['network_id', 'token_symbol', 'status', 'block_number'], 'deposits_by_block');
  });
  await db.raw("ALTER TABLE deposits ADD CONSTRAINT deposits_tx_hash_lower_case CHECK (tx_hash REGEXP '^0x[0-9a-f]{64}$')");

  await db.schema.createTable('chain_scan_cursors', (t) => {
    t.string('network_id', 32).notNullable().references('id').inTable('networks');
    t.string('token_symbol', 16).notNullable();
    t.bigInteger('chain_id').unsigned().notNullable();
    // The last block scanned; -1 before the first.
    t.bigInteger('last_block').notNullable();
    // JSON [[number, hash], …] of the last blocks scanned, oldest first (domain/deposit.ts reorgWindow of them).
    t.text('recent_blocks').notNullable();
    // Bumped by every move: a move made from a stale read (a zombie attempt of the scan activity) changes nothing.
    t.integer('version').unsigned().notNullable().defaultTo(0);
    t.integer('reorgs').unsigned().notNullable().defaultTo(0);
    t.integer('resets').unsigned().notNullable().defaultTo(0);
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.primary(['network_id', 'token_symbol']);
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.dropTableIfExists('chain_scan_cursors');
  await db.schema.dropTableIfExists('deposits');
}
