import { ServiceError, WorkflowUpdateRPCTimeoutOrCancelledError } from '@temporalio/client';
import { isCallDeadline } from '../../api/errors';

/** A gRPC status error as grpc-js throws it (code, details, metadata), wrapped the way the Temporal client wraps it. */
function grpcFailure(code: number, details: string): ServiceError {
  const status = Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
  return new ServiceError('Failed to get Workflow execution history', { cause: status });
}

describe('isCallDeadline: the API stopped waiting on Temporal', () => {
  it('takes the deadline however the client reports it', () => {
    expect(isCallDeadline(grpcFailure(4, 'Deadline exceeded after 0.000s'))).toBe(true);
    // handle.result() polls the history in a loop; when the deadline falls between two polls grpc-js says CANCELLED.
    expect(isCallDeadline(grpcFailure(1, 'Call cancelled'))).toBe(true);
    expect(isCallDeadline(new WorkflowUpdateRPCTimeoutOrCancelledError('timed out', { cause: new Error('x') }))).toBe(true);
  });

  it('leaves every other failure to be reported', () => {
    expect(isCallDeadline(grpcFailure(14, 'No connection established'))).toBe(false);
    expect(isCallDeadline(grpcFailure(5, 'workflow not found'))).toBe(false);
    expect(isCallDeadline(new Error('Deadline exceeded'))).toBe(false);
  });
});
