// Fan-out for activities that signal many workflows at once (a scan's matches, a reorg's pending deposits and sessions).
import { asyncLocalStorage } from '@temporalio/activity';

/** Signals sent side by side by one scan step. */
export const SIGNAL_CONCURRENCY = 16;

/** Runs `work` on every item, `size` at a time; inside an activity, heartbeats after each batch (a long fan-out is alive). */
export async function inBatches<T>(items: T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(work));
    asyncLocalStorage.getStore()?.heartbeat();
  }
}
