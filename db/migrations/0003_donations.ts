// Donations (seed 000): categories, payment configs (credentials sealed), WeChat users, donation orders and refunds
// kept by their workflows, and the donor ranking's read model (per-day totals, all-time totals, a version counter).
import type { Knex } from 'knex';

const createdUpdated = (db: Knex, t: Knex.CreateTableBuilder) => {
  t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
};

export async function up(db: Knex): Promise<void> {
  await db.schema.createTable('donation_categories', (t) => {
    t.string('id', 32).primary();
    t.string('name', 64).notNullable();
    t.string('description', 255).notNullable().defaultTo('');
    t.boolean('active').notNullable().defaultTo(true);
    t.integer('sort_order').notNullable().defaultTo(0);
    createdUpdated(db, t);
  });
  await db('donation_categories').insert([
    { id: 'general', name: '综合捐赠 General', description: 'Where the need is greatest', sort_order: 1 },
    { id: 'education', name: '助学 Education', description: 'School fees, books and meals for pupils', sort_order: 2 },
    { id: 'medical', name: '医疗救助 Medical aid', description: 'Treatment for patients who cannot pay', sort_order: 3 },
  ]);

  await db.schema.createTable('payment_configs', (t) => {
    t.string('method', 16).primary();
    t.boolean('enabled').notNullable().defaultTo(false);
    t.decimal('min_amount', 38, 18).notNullable();
    t.decimal('max_amount', 38, 18).notNullable();
    // AES-256-GCM sealed JSON (db/secret-box.ts), with the id of the key that sealed it, so keys can be rotated.
    t.text('credentials_sealed').nullable();
    t.string('credentials_key_id', 32).nullable();
    createdUpdated(db, t);
  });

  await db.schema.createTable('wechat_users', (t) => {
    // The users row's uid is WECHAT_UID_BASE + id.
    t.bigIncrements('id').primary();
    t.string('openid', 64).notNullable().unique();
    t.string('unionid', 64).nullable();
    t.bigInteger('uid').unsigned().nullable().unique();
    t.dateTime('created_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  });

  await db.schema.createTable('donations', (t) => {
    t.string('order_no', 32).primary();
    t.string('workflow_id', 64).notNullable();
    // sha256 of the canonical request: the same Idempotency-Key with another body is a conflict.
    t.specificType('request_digest', 'CHAR(64)').notNullable();
    t.string('category_id', 32).notNullable().references('id').inTable('donation_categories');
    t.string('method', 16).notNullable();
    t.decimal('amount', 38, 18).notNullable();
    t.string('currency', 16).notNullable();
    t.bigInteger('uid').unsigned().nullable();
    t.string('donor_name', 64).nullable();
    t.string('message', 500).nullable();
    t.enum('status', ['pending', 'paid', 'paid_late', 'expired', 'failed']).notNullable().defaultTo('pending');
    t.string('qr_content', 512).nullable();
    t.string('provider_trade_no', 64).nullable();
    t.string('buyer_id', 128).nullable();
    t.dateTime('expires_at', { precision: 3 }).notNullable();
    t.dateTime('paid_at', { precision: 3 }).nullable();
    t.decimal('refunded_amount', 38, 18).notNullable().defaultTo(0);
    t.string('failure_reason', 255).nullable();
    createdUpdated(db, t);
    t.index(['status', 'created_at']);
    t.index(['uid', 'created_at']);
  });

  await db.schema.createTable('donation_refunds', (t) => {
    t.string('refund_no', 64).primary();
    t.string('order_no', 32).notNullable().references('order_no').inTable('donations');
    t.decimal('amount', 38, 18).notNullable();
    t.string('reason', 255).nullable();
    t.enum('status', ['processing', 'succeeded', 'failed']).notNullable().defaultTo('processing');
    t.string('provider_refund_no', 64).nullable();
    t.string('failure_reason', 255).nullable();
    t.dateTime('refunded_at', { precision: 3 }).nullable();
    createdUpdated(db, t);
    t.index(['order_no']);
  });

  // The ranking's read model, written in the transaction that marks a donation paid (or a refund succeeded).
  // donor_key: `uid:{uid}` for a known donor, `guest:{orderNo}` for a donation without one.
  await db.schema.createTable('donors', (t) => {
    t.string('donor_key', 48).primary();
    t.bigInteger('uid').unsigned().nullable();
    t.string('name', 64).nullable();
    t.dateTime('updated_at', { precision: 3 }).notNullable().defaultTo(db.fn.now(3));
  });
  await db.schema.createTable('donor_daily_totals', (t) => {
    // The day in the ranking's time zone (RANKING_TIME_ZONE).
    t.date('day').notNullable();
    t.string('category_id', 32).notNullable();
    t.string('donor_key', 48).notNullable();
    t.decimal('total', 38, 18).notNullable();
    t.integer('donations').notNullable();
    t.primary(['day', 'category_id', 'donor_key']);
    t.index(['category_id', 'day']);
  });
  await db.schema.createTable('donor_totals', (t) => {
    // category_id '*' holds every category together.
    t.string('category_id', 32).notNullable();
    t.string('donor_key', 48).notNullable();
    t.decimal('total', 38, 18).notNullable();
    t.integer('donations').notNullable();
    t.primary(['category_id', 'donor_key']);
    t.index(['category_id', 'total', 'donor_key']);
  });
  await db.schema.createTable('donor_period_totals', (t) => {
    // Totals per calendar week, month and year, kept as they are written so that ranking one is an index walk:
    // period 'W2026-07-20' (the week's Monday), 'M2026-07' or 'Y2026', in RANKING_TIME_ZONE; category_id '*' = all.
    t.string('period', 12).notNullable();
    t.string('category_id', 32).notNullable();
    t.string('donor_key', 48).notNullable();
    t.decimal('total', 38, 18).notNullable();
    t.integer('donations').notNullable();
    t.primary(['period', 'category_id', 'donor_key']);
    t.index(['period', 'category_id', 'total', 'donor_key']);
  });
  await db.schema.createTable('ranking_version', (t) => {
    t.tinyint('id').primary();
    t.bigInteger('version').unsigned().notNullable();
  });
  await db('ranking_version').insert({ id: 1, version: 0 });
}

export async function down(db: Knex): Promise<void> {
  for (const table of ['ranking_version', 'donor_period_totals', 'donor_totals', 'donor_daily_totals', 'donors', 'donation_refunds', 'donations', 'wechat_users', 'payment_configs', 'donation_categories']) {
    await db.schema.dropTableIfExists(table);
  }
}
