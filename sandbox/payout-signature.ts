// The payout provider's request authentication: an HMAC-SHA256 signature over the request, a timestamp window and single-use nonces.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A timestamp further than this from the provider's clock is refused: it bounds how long a nonce must be remembered. */
export const TIMESTAMP_WINDOW_MS = 5 * 60_000;

export interface SignedRequest {
  appId: string | undefined;
  timestamp: string | undefined;
  nonce: string | undefined;
  signature: string | undefined;
  method: string;
  /** The request target as sent: path and query string. */
  path: string;
  body: string;
}

const HEX_SHA256 = /^[0-9a-f]{64}$/;
const NONCE = /^[A-Za-z0-9_-]{8,64}$/;

/**
 * Checks requests signed with X-Signature = hex HMAC-SHA256(token, `${appId}\n${timestamp}\n${nonce}\n${method}\n${path}\n${body}`).
 * Returns why a request is refused, or undefined when it is authentic.
 */
export class SignatureVerifier {
  // Two generations of nonces, rotated every window: a nonce is remembered for one to two windows, and a request
  // older than one window is refused by its timestamp anyway.
  private recentNonces = new Set<string>();
  private olderNonces = new Set<string>();
  private rotatedAt = Date.now();

  constructor(private readonly credentials: { appId: string; token: string }) {}

  refusal(request: SignedRequest): string | undefined {
    const { appId, timestamp, nonce, signature } = request;
    if (!appId || !timestamp || !nonce || !signature) return 'missing X-App-Id, X-Timestamp, X-Nonce or X-Signature';
    if (appId !== this.credentials.appId) return 'unknown app id';
    const at = Number(timestamp);
    const now = Date.now();
    if (!/^\d{13}$/.test(timestamp) || Math.abs(now - at) > TIMESTAMP_WINDOW_MS) return 'timestamp outside the allowed window of ±5 minutes';
    if (!NONCE.test(nonce)) return 'nonce must be 8 to 64 characters of [A-Za-z0-9_-]';
    if (!HEX_SHA256.test(signature)) return 'signature must be 64 hex digits';
    const expected = createHmac('sha256', this.credentials.token)
      .update(`${appId}\n${timestamp}\n${nonce}\n${request.method}\n${request.path}\n${request.body}`)
      .digest();
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'signature mismatch';
    // Only an authentic request spends its nonce, so a forged one cannot burn a legitimate client's nonce.
    this.rotate(now);
    if (this.recentNonces.has(nonce) || this.olderNonces.has(nonce)) return 'nonce already used';
    this.recentNonces.add(nonce);
    return undefined;
  }

  forgetNonces(): void {
    this.recentNonces.clear();
    this.olderNonces.clear();
  }

  private rotate(now: number): void {
    if (now - this.rotatedAt < TIMESTAMP_WINDOW_MS * 2) return;
    this.olderNonces = this.recentNonces;
    this.recentNonces = new Set();
    this.rotatedAt = now;
  }
}
