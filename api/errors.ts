// The API's one error shape and the one map from domain error codes to HTTP statuses.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import {
  ApplicationFailure,
  CancelledFailure,
  isGrpcCancelledError,
  isGrpcDeadlineError,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import { DomainError, isErrorCode, type ErrorCode } from '../domain/errors';

const HTTP_STATUS: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_request: 400,
  invalid_amount: 400,
  amount_not_exact: 400,
  too_many_decimals: 400,
  unsupported_currency: 400,
  same_account: 400,
  idempotency_key_missing: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_conflict: 409,
  exists_with_different_fields: 409,
  pending_transfer_already_posted: 409,
  pending_transfer_already_voided: 409,
  transfer_not_pending: 409,
  invalid_batch_state: 409,
  payout_provider_refused: 502,
  donation_not_paid: 409,
  refund_exceeds_paid: 422,
  method_disabled: 422,
  unknown_category: 422,
  amount_out_of_limits: 422,
  gateway_refused: 502,
  gateway_unavailable: 503,
  invalid_login_code: 422,
  workflow_ended: 409,
  unknown_user: 422,
  account_not_found: 422,
  insufficient_funds: 422,
  nothing_to_pay: 422,
  pending_transfer_not_found: 422,
  rate_limited: 429,
  overloaded: 503,
  workflow_unavailable: 503,
  invalid_signature: 401,
  stale_request: 401,
  replayed_request: 409,
  unknown_address: 422,
  wallets_short: 503,
  chain_tx_reverted: 422,
  chain_tx_dropped: 502,
  unknown_network: 422,
  unknown_token: 422,
  unknown_product: 422,
  tx_not_found: 422,
  tx_not_for_payment: 422,
  payment_closed: 409,
  chain_unreachable: 422,
  token_mismatch: 422,
  internal_error: 500,
};

export const httpStatusOf = (code: ErrorCode): number => HTTP_STATUS[code];

/** The domain error a failed workflow carries: its ApplicationFailure (or the one it wraps) has a domain `type`. */
export function domainFailureOf(err: unknown): ApplicationFailure | undefined {
  if (!(err instanceof WorkflowFailedError)) return undefined;
  for (let cause: unknown = err.cause, depth = 0; cause && depth < 2; cause = (cause as Error).cause, depth++) {
    if (cause instanceof ApplicationFailure && isErrorCode(cause.type)) return cause;
  }
  return undefined;
}

/** Anything thrown while serving a request, as a DomainError; what we cannot name is an internal_error. */
export function toDomainError(err: unknown): DomainError {
  if (err instanceof DomainError) return err;
  const failure = domainFailureOf(err);
  if (failure) return new DomainError(failure.type as ErrorCode, failure.message);
  if (err instanceof WorkflowFailedError && [TerminatedFailure, TimeoutFailure, CancelledFailure].some((type) => err.cause instanceof type)) {
    // An operator or a timeout ended the run before it gave an outcome: the ledger, not the run, says what was moved.
    return new DomainError('workflow_ended', `the workflow behind this request ended without an outcome (${err.cause!.message}); GET the resource to see what the ledger holds`);
  }
  // body-parser's errors carry an HTTP status: a body too large, a bad charset… all the caller's doing.
  const status = (err as { status?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = (err as { type?: unknown }).type;
    if (type === 'entity.parse.failed') return new DomainError('invalid_json', 'request body is not valid JSON');
    return new DomainError('invalid_request', (err as Error).message);
  }
  return new DomainError('internal_error', 'internal error');
}

/** Logs what is ours to fix; the caller's mistakes are logged by pino-http's request line. */
export function describeFailure(err: unknown, req: Parameters<RequestHandler>[0]): DomainError {
  const domain = toDomainError(err);
  if (domain.code === 'internal_error') req.log.error({ err }, 'request failed');
  return domain;
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new DomainError('not_found', `no route for ${req.method} ${req.path}`));
};

/** `{ error: { code, message, requestId } }` with the mapped status, for every route outside /onePass. */
export const apiErrorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const error = describeFailure(err, req);
  if (res.headersSent) return;
  res.status(httpStatusOf(error.code)).json({ error: { code: error.code, message: error.message, requestId: String(req.id) } });
};

/**
 * The API's own wait on Temporal ran out (the call's deadline), so the answer is "not yet". It comes as a timeout *or* a
 * cancellation: an update reports either (the server may answer CANCELLED once the caller's deadline has passed), and
 * `handle.result()`, which long-polls the history in a loop, sometimes ends in grpc-js's own "Call cancelled" instead of
 * DEADLINE_EXCEEDED when the deadline falls between two polls (measured: about 1 call in 30). The API cancels no call
 * itself, so a cancelled call is its deadline.
 */
export const isCallDeadline = (err: unknown): boolean =>
  err instanceof WorkflowUpdateRPCTimeoutOrCancelledError || isGrpcDeadlineError(err) || isGrpcCancelledError(err);
