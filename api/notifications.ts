// Redelivery of a notification: a new delivery run of the same id and payload, started by an admin.
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { getNotification, requeueNotification, type NotificationRecord } from '../db/notifications';
import { DomainError } from '../domain/errors';
import { notificationWorkflowId, type NotificationRequest } from '../domain/notification';
import type { NotificationWorkflow } from '../workflows/notification';

/**
 * Queues a new run of a delivered or failed notification and starts NotificationWorkflow for it under the same workflow id.
 * Safe to repeat: while the notification is pending, the run delivering it is joined (or started, if its start was lost),
 * never doubled. Receivers see the same Durapay-Notification-Id and body again.
 */
export async function redeliverNotification({ db, client, config }: { db: Db; client: Client; config: Config }, id: string): Promise<NotificationRecord> {
  const queued = await requeueNotification(db, id);
  if (queued === 'not_found') throw new DomainError('not_found', `no notification ${id}`);
  const notification = (await getNotification(db, id))!;
  const request: NotificationRequest = { id, channel: notification.channel, payload: notification.payload };
  await client.workflow.start<typeof NotificationWorkflow>('NotificationWorkflow', {
    taskQueue: config.temporal.taskQueue,
    workflowId: notificationWorkflowId(id),
    args: [request],
    // Once the row is requeued, a run still open has done all it will do (it was only finishing): the new run replaces it.
    workflowIdConflictPolicy: queued === 'requeued' ? 'TERMINATE_EXISTING' : 'USE_EXISTING',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
  return notification;
}
