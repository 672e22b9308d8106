// Which workflow delivers a notification: a payout makes its final notification's first attempt itself, and its own
// NotificationWorkflow (`notify-{id}`) exists only once it took the notification over (or an admin redelivered it).
import type { Knex } from 'knex';

export async function up(db: Knex): Promise<void> {
  await db.schema.alterTable('notifications', (t) => {
    // null on rows from before this column: NotificationWorkflow delivered all of them.
    t.specificType('workflow_id', 'VARCHAR(255) CHARACTER SET ascii COLLATE ascii_bin').nullable();
  });
}

export async function down(db: Knex): Promise<void> {
  await db.schema.alterTable('notifications', (t) => {
    t.dropColumn('workflow_id');
  });
}
