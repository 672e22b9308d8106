// Domain errors: one stable machine code per thing that can go wrong, shared by activities, workflows and the API.

/** Every code a caller can see. The HTTP status of each lives in api/errors.ts, its retryability in activities/failures.ts. */
export const ErrorCodes = [
  'invalid_json',
  'invalid_request',
  'invalid_amount',
  'amount_not_exact',
  'too_many_decimals',
  'unsupported_currency',
  'same_account',
  'unknown_user',
  'account_not_found',
  'insufficient_funds',
  'nothing_to_pay',
  'idempotency_key_missing',
  'idempotency_conflict',
  'exists_with_different_fields',
  'pending_transfer_not_found',
  'pending_transfer_already_posted',
  'pending_transfer_already_voided',
  'transfer_not_pending',
  'invalid_batch_state',
  'payout_provider_refused',
  'donation_not_paid',
  'refund_exceeds_paid',
  'method_disabled',
  'unknown_category',
  'amount_out_of_limits',
  'gateway_refused',
  'gateway_unavailable',
  'invalid_login_code',
  'workflow_ended',
  'not_found',
  'unauthorized',
  'forbidden',
  'rate_limited',
  'overloaded',
  'workflow_unavailable',
  // M2Pool's signed requests (domain/m2pool.ts)
  'invalid_signature',
  'stale_request',
  'replayed_request',
  'unknown_address',
  // Withdrawals and merchant payments: why a payout failed after it was accepted (its hold is given back).
  'wallets_short',
  'chain_tx_reverted',
  'chain_tx_dropped',
  // Checkout sessions (seed 003): what a session cannot be made with, and why a payer's tx hash pays nothing here.
  'unknown_network',
  'unknown_token',
  'unknown_product',
  'tx_not_found',
  'tx_not_for_payment',
  'payment_closed',
  // Registering a network or a token (admin): its RPC URLs do not serve that chain, or its contract is not that token.
  'chain_unreachable',
  'token_mismatch',
  'internal_error',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ErrorCodes as readonly string[]).includes(value);
}

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'DomainError';
  }
}
