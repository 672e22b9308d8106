// Chain sends (issue 5): a nonce allocator per sending address, every signed transaction persisted before it is broadcast
// (fee-bumped replacements beside the transaction they replace), and the withdrawals / merchant payments read model.
import type { Knex } from 'knex';

/** 0x + 40 (address) or 64 (hash) lower-case hex digits, compared byte for byte. */
const ADDRESS_TYPE = 'CHAR(42) CHARACTER SET ascii COLLATE ascii_bin';
const HASH_TYPE = 'CHAR(66) CHARACTER SET ascii COLLATE ascii_bin';
/** Wei and token base units: integers up to 2^256, which DECIMAL(65,0) holds (78 digits do not fit; no real amount needs them). */
const UINT_TYPE = 'DECIMAL(65,0)';

export async function up(db: Knex): Promise<void> {
  // The next nonce of each address we send from, taken under this row's lock in the transaction that persists the signed
  // transaction: no nonce is handed out without a persisted transaction that uses it.
  await db.schema.createTable('chain_nonces', (t) => {
    t.bigInteger('chain_id').unsigned().notNullable();
    t.specificType('address', ADDRESS_TYPE).notNullable();
    t.bigInteger('next_nonce').unsigned().notNullable();
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.primary(['chain_id', 'address']);
  });

  await db.schema.createTable('chain_txs', (t) => {
    t.bigInteger('chain_id').unsigned().notNullable();
    t.specificType('hash', HASH_TYPE).notNullable();
    t.specificType('from_address', ADDRESS_TYPE).notNullable();
    t.bigInteger('nonce').unsigned().notNullable();
    // 0: the first signature; n: the n-th replacement at the same nonce (a fee bump), which `replaces` the (n-1)-th.
    t.smallint('attempt').unsigned().notNullable();
    t.specificType('replaces', HASH_TYPE).nullable();
    // What the send is for (withdrawal, payment) and the workflow that made it.
    t.string('purpose', 32).notNullable();
    t.string('reference', 128).notNullable();
    // The transaction's `to` (the token contract of a token transfer), and the token transfer it makes.
    t.specificType('to_address', ADDRESS_TYPE).notNullable();
    t.specificType('token', ADDRESS_TYPE).nullable();
    t.specificType('recipient', ADDRESS_TYPE).nullable();
    t.specificType('token_units', UINT_TYPE).notNullable().defaultTo(0);
    t.specificType('value_wei', UINT_TYPE).notNullable().defaultTo(0);
    t.specificType('gas_limit', UINT_TYPE).notNullable();
    // EIP-1559 fee caps, or the legacy gas price on chains without them.
    t.specificType('max_fee_per_gas', UINT_TYPE).nullable();
    t.specificType('max_priority_fee_per_gas', UINT_TYPE).nullable();
    t.specificType('gas_price', UINT_TYPE).nullable();
    // The signed bytes: every broadcast of this transaction sends exactly these.
    t.specificType('raw_tx', 'MEDIUMTEXT CHARACTER SET ascii COLLATE ascii_bin').notNullable();
    // signed: persisted, no node has taken it yet; broadcast: a node took it; mined: in a canonical block, not yet final;
    // confirmed / failed: final, succeeded / reverted; replaced: another attempt at its nonce won; dropped: its nonce was
    // used by a transaction that is none of ours.
    t.enum('status', ['signed', 'broadcast', 'mined', 'confirmed', 'failed', 'replaced', 'dropped']).notNullable();
    t.bigInteger('block_number').unsigned().nullable();
    t.specificType('block_hash', HASH_TYPE).nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('broadcast_at', { precision: 3 }).nullable();
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.primary(['chain_id', 'hash']);
    t.unique(['reference', 'attempt'], { indexName: 'chain_txs_reference_attempt' });
    t.unique(['chain_id', 'from_address', 'nonce', 'attempt'], { indexName: 'chain_txs_sender_nonce_attempt' });
    t.index(['chain_id', 'from_address', 'status'], 'chain_txs_sender_status');
  });

  // Withdrawals and merchant payments (M2Pool withdraw / pay): what was asked, and how it ended. The hashes are in chain_txs.
  await db.schema.createTable('withdrawals', (t) => {
    // The workflow ID: withdrawal-{queueId} or payment-{queueId}; also the ledger hold's transfer id.
    t.string('id', 128).primary();
    t.enum('kind', ['withdrawal', 'payment']).notNullable();
    t.string('queue_id', 100).notNullable();
    t.string('order_id', 128).nullable();
    t.bigInteger('uid').unsigned().notNullable().references('uid').inTable('users');
    t.specificType('from_address', ADDRESS_TYPE).nullable();
    t.specificType('to_address', ADDRESS_TYPE).notNullable();
    t.string('network_id', 32).notNullable().references('id').inTable('networks');
    t.bigInteger('chain_id').unsigned().notNullable();
    t.string('chain_name', 32).notNullable();
    t.string('token_symbol', 16).notNullable();
    t.decimal('amount', 38, 18).notNullable();
    t.string('currency', 16).notNullable();
    t.string('request_digest', 64).notNullable();
    t.enum('status', ['refused', 'held', 'confirmed', 'failed']).notNullable();
    t.string('failure_code', 64).nullable();
    t.string('failure_message', 512).nullable();
    t.specificType('tx_hash', HASH_TYPE).nullable();
    t.bigInteger('block_number').unsigned().nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.unique(['kind', 'queue_id'], { indexName: 'withdrawals_kind_queue_id' });
    t.index(['uid', 'created_at']);
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of ['withdrawals', 'chain_txs', 'chain_nonces']) await db.schema.dropTableIfExists(table);
}
