// The one place where errors become Temporal failures: a DomainError is final, and so is a provider's refusal that no retry
// can fix; anything else is retried.
import { ApplicationFailure } from '@temporalio/common';
import { DomainError } from '../domain/errors';
import { PayoutApiError } from './providers/payout-api-client';

const finalFailure = (err: DomainError): ApplicationFailure =>
  ApplicationFailure.create({ message: err.message, type: err.code, nonRetryable: true, details: [err.details ?? {}] });

/** Runs an activity body, turning a DomainError into a non-retryable ApplicationFailure typed by its code. */
export async function failingAsDomain<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof DomainError) throw finalFailure(err);
    throw err;
  }
}

/**
 * Runs an activity body that calls the payout provider: an answer that refuses the engine itself (bad credentials or
 * signature, a request id in conflict, a request it finds malformed) becomes a non-retryable `payout_provider_refused`.
 */
export async function failingOnProviderRefusal<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (isProviderRefusal(err)) {
      throw finalFailure(new DomainError('payout_provider_refused', err.message, { providerError: err.code, httpStatus: err.httpStatus }));
    }
    throw err;
  }
}

export const isProviderRefusal = (err: unknown): err is PayoutApiError => err instanceof PayoutApiError && !err.retryable;
