// The one place where domain errors become Temporal failures: a DomainError is final, anything else is retried.
import { ApplicationFailure } from '@temporalio/common';
import { DomainError } from '../domain/errors';

/** Runs an activity body, turning a DomainError into a non-retryable ApplicationFailure typed by its code. */
export async function failingAsDomain<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof DomainError) {
      throw ApplicationFailure.create({ message: err.message, type: err.code, nonRetryable: true, details: [err.details ?? {}] });
    }
    throw err;
  }
}
