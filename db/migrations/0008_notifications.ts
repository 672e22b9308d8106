// Outgoing notifications (M2Pool's topup / withdraw / pay results) with every delivery attempt, and the signs of M2Pool's
// incoming requests, kept while their timestamp is inside the window so that none is taken for another request.
import type { Knex } from 'knex';

const ASCII = 'CHARACTER SET ascii COLLATE ascii_bin';
const NOTIFICATION_ID_TYPE = `VARCHAR(191) ${ASCII}`;
const CHANNELS = ['topup', 'withdraw', 'pay'];

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('notifications', (t) => {
    // The list's cursor: newest first.
    t.bigIncrements('seq');
    // The caller's id (`deposit-…:2`, `withdrawal-…:final`): the idempotency key, shown to receivers as Durapay-Notification-Id.
    t.specificType('id', NOTIFICATION_ID_TYPE).notNullable().unique();
    t.enum('channel', CHANNELS).notNullable();
    // The payload as the workflow gave it (JSON, amounts as decimal strings), its sha256 (the same id with another payload is
    // refused), and the body as sent: built once, the same bytes on every attempt and every redelivery.
    t.text('payload').notNullable();
    t.specificType('payload_digest', `CHAR(64) ${ASCII}`).notNullable();
    t.text('body').notNullable();
    t.enum('state', ['pending', 'delivered', 'failed']).notNullable().defaultTo('pending');
    // Delivery runs: 1, then one more per redelivery; attempts of an older run no longer count.
    t.integer('run').unsigned().notNullable().defaultTo(1);
    t.integer('attempts').unsigned().notNullable().defaultTo(0);
    t.smallint('last_status_code').unsigned().nullable();
    t.string('last_error', 500).nullable();
    t.dateTime('last_attempt_at', { precision: 3 }).nullable();
    t.dateTime('delivered_at', { precision: 3 }).nullable();
    t.dateTime('failed_at', { precision: 3 }).nullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.index(['channel', 'state', 'seq'], 'notifications_channel_state');
    t.index(['state', 'seq'], 'notifications_state');
  });

  await db.schema.createTable('webhook_deliveries', (t) => {
    t.bigIncrements('id');
    t.specificType('notification_id', NOTIFICATION_ID_TYPE).notNullable().references('id').inTable('notifications');
    t.integer('run').unsigned().notNullable();
    // Temporal's attempt number of the delivering activity: one row per attempt, even when a retry of the activity records again.
    t.integer('attempt').unsigned().notNullable();
    t.enum('channel', CHANNELS).notNullable();
    t.string('url', 2048).notNullable();
    // null: no HTTP answer (refused, timed out); error: null on a 2xx.
    t.smallint('status_code').unsigned().nullable();
    t.string('error', 500).nullable();
    t.integer('duration_ms').unsigned().notNullable();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
    t.unique(['notification_id', 'run', 'attempt'], { indexName: 'webhook_deliveries_attempt' });
  });

  await db.schema.createTable('m2pool_request_signs', (t) => {
    // Lower-case hex. A sign names one request: the same sign with another request (route or fields) is refused.
    t.specificType('sign', `CHAR(64) ${ASCII}`).primary();
    t.enum('route', ['topup', 'withdraw', 'pay']).notNullable();
    // sha256 of the canonical string: a retry of the same request has the same one.
    t.specificType('request_digest', `CHAR(64) ${ASCII}`).notNullable();
    // When the request's timestamp leaves the window: past it the request is stale anyway, and the row can go.
    t.dateTime('expires_at', { precision: 3 }).notNullable().index('m2pool_request_signs_expiry');
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  });
}

export async function down(db: Knex): Promise<void> {
  for (const table of ['m2pool_request_signs', 'webhook_deliveries', 'notifications']) await db.schema.dropTableIfExists(table);
}
