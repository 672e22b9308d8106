// Outgoing notifications and their delivery attempts: written by the delivering workflow's activities (the deposit or
// payout's first attempt, NotificationWorkflow's retries), read by the admin API, which also queues a redelivery here.
import { notificationWorkflowId, type NotificationChannel } from '../domain/notification';
import { isoTime, type Db } from './knex';

export type NotificationState = 'pending' | 'delivered' | 'failed';
export const NOTIFICATION_STATES: readonly NotificationState[] = ['pending', 'delivered', 'failed'];

export interface NotificationRecord {
  id: string;
  channel: NotificationChannel;
  payload: Record<string, string | number | null>;
  payloadDigest: string;
  /** The JSON body as sent, the same bytes on every attempt. */
  body: string;
  state: NotificationState;
  /** 1, plus one per redelivery. */
  run: number;
  /** Attempts of every run. */
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  lastAttemptAt: string | null;
  deliveredAt: string | null;
  failedAt: string | null;
  createdAt: string;
  /** The workflow delivering it: the deposit or payout that made the first attempt, or its own NotificationWorkflow. */
  workflowId: string;
  /** The list's cursor. */
  seq: number;
}

export interface DeliveryAttempt {
  notificationId: string;
  run: number;
  attempt: number;
  channel: NotificationChannel;
  url: string;
  /** null: no HTTP answer. */
  statusCode: number | null;
  /** null on a 2xx. */
  error: string | null;
  durationMs: number;
}

export interface DeliveryRecord extends Omit<DeliveryAttempt, 'notificationId' | 'channel'> {
  at: string;
}

interface NotificationRow {
  seq: string;
  id: string;
  channel: NotificationChannel;
  payload: string;
  payload_digest: string;
  body: string;
  state: NotificationState;
  run: number;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
  delivered_at: string | null;
  failed_at: string | null;
  created_at: string;
  workflow_id: string | null;
}

const MAX_ERROR_LENGTH = 500;
const isoOrNull = (value: string | null): string | null => (value === null ? null : isoTime(value));

const toRecord = (r: NotificationRow): NotificationRecord => ({
  id: r.id,
  channel: r.channel,
  payload: JSON.parse(r.payload) as NotificationRecord['payload'],
  payloadDigest: r.payload_digest,
  body: r.body,
  state: r.state,
  run: r.run,
  attempts: r.attempts,
  lastStatusCode: r.last_status_code,
  lastError: r.last_error,
  lastAttemptAt: isoOrNull(r.last_attempt_at),
  deliveredAt: isoOrNull(r.delivered_at),
  failedAt: isoOrNull(r.failed_at),
  createdAt: isoTime(r.created_at),
  workflowId: r.workflow_id ?? notificationWorkflowId(r.id),
  seq: Number(r.seq),
});

export async function getNotification(db: Db, id: string): Promise<NotificationRecord | undefined> {
  const row = await db<NotificationRow>('notifications').where({ id }).first();
  return row && toRecord(row);
}

/**
 * Records a notification, pending, delivered by `workflowId`, unless its id is recorded already; returns the stored one
 * (whose digest the caller compares). With `takeOver`, a notification recorded already with the same channel and payload is
 * delivered by `workflowId` from now.
 */
export async function insertNotification(
  db: Db,
  n: { id: string; channel: NotificationChannel; payload: NotificationRecord['payload']; payloadDigest: string; body: string; workflowId: string | null },
  takeOver: boolean,
): Promise<NotificationRecord> {
  await db.raw(
    'INSERT INTO notifications (id, channel, payload, payload_digest, body, workflow_id) VALUES (?, ?, ?, ?, ?, ?) ' +
      'ON DUPLICATE KEY UPDATE workflow_id = IF(? AND payload_digest = ? AND channel = ?, ?, workflow_id)',
    [n.id, n.channel, JSON.stringify(n.payload), n.payloadDigest, n.body, n.workflowId, takeOver, n.payloadDigest, n.channel, n.workflowId],
  );
  return (await getNotification(db, n.id))!;
}

/**
 * Records one attempt, once per (notification, run, attempt); a 2xx also marks the notification delivered, if that run is
 * still the pending one.
 */
export async function recordDeliveryAttempt(db: Db, a: DeliveryAttempt): Promise<void> {
  const error = a.error === null ? null : a.error.slice(0, MAX_ERROR_LENGTH);
  await db.transaction(async (trx) => {
    // The notification's row is locked first. The insert below checks its foreign key with a shared lock on that row,
    // and the update after it needs an exclusive one: taken in that order, a redelivery's update waiting in between
    // (requeueNotification) made a deadlock, and the admin's request failed.
    await trx('notifications').where({ id: a.notificationId }).forUpdate().first('id');
    const [inserted] = await trx.raw(
      'INSERT IGNORE INTO webhook_deliveries (notification_id, run, attempt, channel, url, status_code, error, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      [a.notificationId, a.run, a.attempt, a.channel, a.url, a.statusCode, error, a.durationMs],
    );
    if (inserted.affectedRows !== 1) return;
    await trx('notifications')
      .where({ id: a.notificationId })
      .update({
        attempts: trx.raw('attempts + 1'),
        last_status_code: a.statusCode,
        last_error: error,
        last_attempt_at: trx.fn.now(3),
        updated_at: trx.fn.now(3),
      });
    if (error === null) {
      await trx('notifications')
        .where({ id: a.notificationId, run: a.run, state: 'pending' })
        .update({ state: 'delivered', delivered_at: trx.fn.now(3), failed_at: null });
    }
  });
}

/**
 * Gives up a run: the notification is failed unless that run delivered it meanwhile or a redelivery replaced it. The last
 * attempt's error stays; `reason` is kept only when no attempt left one.
 */
export async function markNotificationFailed(db: Db, id: string, run: number, reason: string): Promise<void> {
  await db('notifications')
    .where({ id, run, state: 'pending' })
    .update({ state: 'failed', failed_at: db.fn.now(3), last_error: db.raw('COALESCE(last_error, ?)', [reason.slice(0, MAX_ERROR_LENGTH)]), updated_at: db.fn.now(3) });
}

/**
 * Queues a new delivery run of a delivered or failed notification: pending again, its run number one higher, so attempts
 * of the run before can no longer change it. 'already_pending' when a run is under way (or was queued and not started).
 */
export async function requeueNotification(db: Db, id: string): Promise<'requeued' | 'already_pending' | 'not_found'> {
  const changed = await db('notifications')
    .where({ id })
    .whereIn('state', ['delivered', 'failed'])
    .update({ state: 'pending', run: db.raw('run + 1'), delivered_at: null, failed_at: null, updated_at: db.fn.now(3) });
  if (changed === 1) return 'requeued';
  return (await db('notifications').where({ id }).first('id')) ? 'already_pending' : 'not_found';
}

/** Newest first; `after` is the nextCursor of the page before. */
export async function listNotifications(
  db: Db,
  options: { channel?: NotificationChannel; state?: NotificationState; after?: number; limit: number },
): Promise<{ data: NotificationRecord[]; hasMore: boolean; nextCursor: string | null }> {
  const query = db<NotificationRow>('notifications').orderBy('seq', 'desc').limit(options.limit + 1);
  if (options.channel) query.where({ channel: options.channel });
  if (options.state) query.where({ state: options.state });
  if (options.after !== undefined) query.where('seq', '<', options.after);
  const rows = (await query).map(toRecord);
  const hasMore = rows.length > options.limit;
  const data = rows.slice(0, options.limit);
  return { data, hasMore, nextCursor: hasMore ? String(data[data.length - 1].seq) : null };
}

/** Every attempt of every run, in order. */
export async function listDeliveries(db: Db, notificationId: string): Promise<DeliveryRecord[]> {
  const rows = await db('webhook_deliveries')
    .where({ notification_id: notificationId })
    .orderBy([{ column: 'run' }, { column: 'attempt' }])
    .select('run', 'attempt', 'url', 'status_code', 'error', 'duration_ms', 'created_at');
  return rows.map((r) => ({
    run: r.run,
    attempt: r.attempt,
    url: r.url,
    statusCode: r.status_code,
    error: r.error,
    durationMs: r.duration_ms,
    at: isoTime(r.created_at),
  }));
}
