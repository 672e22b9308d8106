// The third-party payout API of seed 001 (batchPayBegin / pay / batchPayFinish, and a query by request id): its contract.
// The HTTP client that speaks it lives in payout-api-client.ts; the sandbox emulates the provider.

/** What one payout attempt came to. */
export type PayOutcome =
  /** Executed by the provider (now, or earlier for the same request id). */
  | { status: 'paid'; providerRef: string }
  /** Refused for good (invalid account, closed account…): retrying cannot help. */
  | { status: 'rejected'; reason: string }
  /** Not executed: a 5xx or 429 (`rateLimited`); the same request id may be sent again. */
  | { status: 'retry'; reason: string; rateLimited: boolean }
  /** No answer (a timeout, a cut connection): it may or may not have been executed; ask queryPayout. */
  | { status: 'unknown'; reason: string };

export interface PayRequest {
  batchPayId: string;
  /** The provider's idempotency key: the same request id is executed at most once. */
  requestId: string;
  uid: number;
  /** Decimal string at the currency's scale. */
  amount: string;
  currency: string;
}

export interface PayoutApi {
  /** Opens a batch at the provider; idempotent by batchPayId. */
  batchPayBegin(batchPayId: string, total: number): Promise<void>;
  pay(request: PayRequest): Promise<PayOutcome>;
  /** The provider's record of a request id: its outcome if it was executed or refused, `not_found` if it never arrived. */
  queryPayout(requestId: string): Promise<Exclude<PayOutcome, { status: 'retry' }> | { status: 'not_found' } | { status: 'retry'; reason: string; rateLimited: boolean }>;
  /** Closes a batch at the provider with what was paid; idempotent by batchPayId. */
  batchPayFinish(batchPayId: string, summary: { paid: number; failed: number; amount: string }): Promise<void>;
}
