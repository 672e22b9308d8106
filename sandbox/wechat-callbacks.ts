// WeChat Pay's notifications to the merchant's notify_url: an encrypted resource in a signed envelope, retried on
// WeChat's schedule until the receiver answers 200 or 204.
import { randomBytes } from 'node:crypto';
import { Notifier, type NotifyAttempt, type NotifySettings } from './notifier';
import { beijingTime } from './wechat-trade-book';
import type { WechatCredentials } from './wechat-credentials';
import { encryptResource, platformHeaders } from './wechat-signature';

/** Waits between attempts after the first: 15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h, about 24 h in all. */
const SCHEDULE_MS = [15, 15, 30, 180, 600, 1_200, 1_800, 1_800, 1_800, 3_600, 10_800, 10_800, 10_800, 21_600, 21_600].map((s) => s * 1000);
/** An attempt the receiver has not answered within this counts as failed. */
const DELIVERY_TIMEOUT_MS = 5_000;

export interface SignedCallback {
  headers: Record<string, string>;
  body: string;
}

/** What a test may change to make a callback the engine must refuse, though the platform key signs it. */
export interface CallbackForgery {
  /** Unix seconds of Wechatpay-Timestamp. */
  timestamp?: number;
  serialNo?: string;
  /** Seals the resource with another key than the merchant's. */
  apiV3Key?: string;
}

const SUMMARIES: Record<string, string> = { 'TRANSACTION.SUCCESS': '支付成功', 'REFUND.SUCCESS': '退款成功' };

export class WechatCallbacks {
  private readonly notifier = new Notifier(SCHEDULE_MS);
  private attemptsMade = 0;

  constructor(private readonly credentials: WechatCredentials) {}

  /** The envelope of a notification: event, id and the resource sealed with the APIv3 key. */
  private envelope(eventType: string, resource: unknown, apiV3Key = this.credentials.apiV3Key): string {
    const originalType = eventType.startsWith('REFUND.') ? 'refund' : 'transaction';
    return JSON.stringify({
      id: randomBytes(18).toString('hex'),
      create_time: beijingTime(Date.now()),
      resource_type: 'encrypt-resource',
      event_type: eventType,
      summary: SUMMARIES[eventType] ?? eventType,
      resource: encryptResource(resource, originalType, apiV3Key),
    });
  }

  /** A notification signed by the platform, not sent: what a test needs to show what the engine refuses. */
  make(eventType: string, resource: unknown, forgery: CallbackForgery = {}): SignedCallback {
    const body = this.envelope(eventType, resource, forgery.apiV3Key);
    return { headers: platformHeaders(body, this.credentials, forgery), body };
  }

  /** Starts delivering a notification under `key` (the out_trade_no); returns at once. */
  send(key: string, notifyUrl: string, eventType: string, resource: unknown, settings: NotifySettings): void {
    // One envelope for every attempt, as the platform retries the same notification; each attempt is signed afresh.
    const body = this.envelope(eventType, resource);
    this.notifier.send(key, settings, async () => {
      this.attemptsMade++;
      const res = await fetch(notifyUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...platformHeaders(body, this.credentials) },
        body,
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      await res.arrayBuffer();
      return { status: res.status, acknowledged: res.status === 200 || res.status === 204 };
    });
  }

  /** Delivery attempts made since the last reset, over every notification. */
  get sent(): number {
    return this.attemptsMade;
  }

  attempts(key: string): NotifyAttempt[] {
    return this.notifier.attempts(key);
  }

  reset(): void {
    this.notifier.reset();
    this.attemptsMade = 0;
  }
}
