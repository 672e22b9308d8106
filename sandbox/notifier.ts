// Asynchronous notifications as a gateway sends them: retried on the gateway's schedule until the receiver acknowledges,
// with the faults a test can ask for (lost, duplicated, delayed). Any emulator in the sandbox can use it.
import { z } from 'zod';

export const NotifySettings = z.object({
  /** `lost`: never delivered; `duplicate`: delivered `copies` times even once acknowledged; `delayed`: the first attempt after delayMs. */
  mode: z.enum(['normal', 'lost', 'duplicate', 'delayed']),
  copies: z.number().int().min(1).max(100),
  delayMs: z.number().int().min(0).max(3_600_000),
  /** Multiplies the gateway's retry schedule: 1 is the real one (minutes to hours); tests use e.g. 0.001. */
  scheduleScale: z.number().min(0).max(1),
});
export type NotifySettings = z.infer<typeof NotifySettings>;
export const DEFAULT_NOTIFY: NotifySettings = { mode: 'normal', copies: 1, delayMs: 0, scheduleScale: 1 };

/** One delivery attempt: the HTTP status the receiver answered (null when it could not be reached) and whether it counted as an acknowledgement. */
export interface NotifyAttempt {
  at: string;
  status: number | null;
  acknowledged: boolean;
  error?: string;
}

/** Sends one notification; resolves with the receiver's status and whether its answer acknowledges it. */
export type Deliver = () => Promise<{ status: number | null; acknowledged: boolean; error?: string }>;

export class Notifier {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly log = new Map<string, NotifyAttempt[]>();

  /** @param scheduleMs waits between attempts after the first (e.g. Alipay's 4m, 10m, 10m, 1h, 2h, 6h, 15h). */
  constructor(private readonly scheduleMs: readonly number[]) {}

  /** Starts delivering the notification `key` (e.g. an out_trade_no) under the given settings; returns at once. */
  send(key: string, settings: NotifySettings, deliver: Deliver): void {
    if (settings.mode === 'lost') return;
    const copies = settings.mode === 'duplicate' ? settings.copies : 1;
    const firstDelay = settings.mode === 'delayed' ? settings.delayMs : 0;
    for (let copy = 0; copy < copies; copy++) this.schedule(key, settings, deliver, 0, firstDelay);
  }

  attempts(key: string): NotifyAttempt[] {
    return this.log.get(key) ?? [];
  }

  /** Cancels every pending attempt and forgets the log. */
  reset(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.log.clear();
  }

  private schedule(key: string, settings: NotifySettings, deliver: Deliver, attempt: number, delayMs: number): void {
    const timer = setTimeout(async () => {
      this.timers.delete(timer);
      let result: { status: number | null; acknowledged: boolean; error?: string };
      try {
        result = await deliver();
      } catch (err) {
        result = { status: null, acknowledged: false, error: (err as Error).message };
      }
      const entries = this.log.get(key) ?? [];
      entries.push({ at: new Date().toISOString(), ...result });
      this.log.set(key, entries);
      if (!result.acknowledged && attempt < this.scheduleMs.length) {
        this.schedule(key, settings, deliver, attempt + 1, Math.round(this.scheduleMs[attempt]! * settings.scheduleScale));
      }
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }
}
