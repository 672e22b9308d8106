// The API's side of TransferWorkflow: validate, start (or find) the run for an idempotency key, wait a bounded time, read its state.
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { getTransfer } from '../db/ledger';
import { assertUsersExist } from './users';
import { DomainError } from '../domain/errors';
import type { TransferRecord } from '../domain/ledger';
import { formatAmount, money, parseAmount } from '../domain/money';
import { transferStartOptions, transferStatusQuery, transferWorkflowId, type TransferInput, type TransferResult, type TransferStatus } from '../domain/transfer';
import type { TransferWorkflow } from '../workflows/transfer';
import { domainFailureOf, isCallDeadline, toDomainError } from './errors';
import type { Metrics } from './metrics';

export interface TransferDeps {
  client: Client;
  db: Db;
  config: Config;
  metrics: Pick<Metrics, 'workflowsStarted'>;
}

/** What a caller asked for, before validation of the amount against the currency. */
export interface TransferCommand {
  idempotencyKey: string;
  kind: 'transfer' | 'credit';
  sourceUid?: number;
  targetUid: number;
  amount: string | number;
  currency: string;
}

/** A transfer as the API shows it, whichever of the ledger or the workflow it was read from. */
export interface TransferView {
  id: string;
  kind: string;
  sourceUid?: number;
  sourceAccount?: string;
  targetUid?: number;
  amount?: string;
  currency?: string;
  status: 'pending' | 'posted' | 'voided' | 'processing' | 'failed';
  createdAt?: string;
  workflowId: string;
  error?: { code: string; message: string };
}

/** How long to wait for a `status` query: a run nobody polls would otherwise hold the request. */
const QUERY_WAIT_MS = 1000;

/**
 * Starts TransferWorkflow under the key's workflow ID, or joins the run that already has it, and waits up
 * to `api.transferWaitMs` for its outcome: a posted transfer, still processing, or the domain error it
 * failed with. Bad input starts nothing. A key reused for another request is an idempotency_conflict.
 */
export async function submitTransfer(deps: TransferDeps, command: TransferCommand): Promise<TransferView> {
  const input = await validatedInput(deps, command);
  const handle = await startOrFind(deps, input);
  let result: TransferResult | undefined;
  try {
    result = await waitForResult(deps.client, handle, deps.config.api.transferWaitMs);
  } catch (err) {
    const stored = requestOf(err);
    if (stored) assertSameRequest(stored, input);
    throw toDomainError(err);
  }
  if (result) {
    assertSameRequest(result, input);
    return fromResult(result);
  }
  const status = await queryStatus(deps.client, handle);
  if (status) assertSameRequest(status.request, input);
  return { ...fromInput(input), status: 'processing' };
}

async function validatedInput(deps: TransferDeps, command: TransferCommand): Promise<TransferInput> {
  const { currency } = command;
  const amount = formatAmount(parseAmount(command.amount, currency), currency);
  if (command.kind === 'transfer' && command.sourceUid === command.targetUid) {
    throw new DomainError('same_account', 'sourceUid and targetUid must differ');
  }
  const uids = command.kind === 'transfer' ? [command.sourceUid!, command.targetUid] : [command.targetUid];
  await assertUsersExist(deps.db, uids);
  const transferId = transferWorkflowId(command.idempotencyKey);
  return command.kind === 'transfer'
    ? { transferId, kind: 'transfer', sourceUid: command.sourceUid, targetUid: command.targetUid, amount, currency }
    : { transferId, kind: 'credit', sourceAccount: deps.config.ledger.creditSourceAccount, targetUid: command.targetUid, amount, currency };
}

async function startOrFind(deps: TransferDeps, input: TransferInput): Promise<WorkflowHandle<typeof TransferWorkflow>> {
  try {
    // A running run with this ID is joined; a closed one is never run again (its outcome is the answer).
    const handle = await deps.client.workflow.start<typeof TransferWorkflow>('TransferWorkflow', transferStartOptions(input, deps.config.temporal.taskQueue));
    deps.metrics.workflowsStarted.inc({ type: 'TransferWorkflow' });
    return handle;
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return deps.client.workflow.getHandle<typeof TransferWorkflow>(input.transferId);
    throw err;
  }
}

/** The run's result, or undefined when it has not finished within `waitMs`. Throws the run's failure. */
async function waitForResult(client: Client, handle: WorkflowHandle<typeof TransferWorkflow>, waitMs: number): Promise<TransferResult | undefined> {
  if (waitMs <= 0) {
    // No waiting: a run that is still going is answered 202, a closed one with its outcome.
    if ((await handle.describe()).status.name === 'RUNNING') return undefined;
    return await handle.result();
  }
  try {
    return await client.withDeadline(Date.now() + waitMs, () => handle.result());
  } catch (err) {
    if (isCallDeadline(err)) return undefined;
    throw err;
  }
}

async function queryStatus(client: Client, handle: WorkflowHandle): Promise<TransferStatus | undefined> {
  try {
    return await client.withDeadline(Date.now() + QUERY_WAIT_MS, () => handle.query(transferStatusQuery));
  } catch {
    return undefined; // no worker has picked the run up yet: nothing to compare with
  }
}

/** TransferWorkflow's failures carry the request that started the run as details[0].request. */
const requestOf = (err: unknown): TransferInput | undefined =>
  (domainFailureOf(err)?.details?.[0] as { request?: TransferInput } | undefined)?.request;

type RequestFields = Pick<TransferInput, 'kind' | 'sourceUid' | 'sourceAccount' | 'targetUid' | 'amount' | 'currency'>;

function assertSameRequest(stored: RequestFields, input: TransferInput): void {
  const same =
    stored.kind === input.kind &&
    stored.sourceUid === input.sourceUid &&
    (input.kind !== 'credit' || stored.sourceAccount === input.sourceAccount) &&
    stored.targetUid === input.targetUid &&
    stored.currency === input.currency &&
    money(stored.amount).equals(money(input.amount));
  if (!same) {
    throw new DomainError('idempotency_conflict', `idempotency key of ${input.transferId} was already used for a different request`);
  }
}

function fromInput(input: TransferInput): Omit<TransferView, 'status'> {
  return {
    id: input.transferId,
    kind: input.kind,
    ...(input.kind === 'credit' ? { sourceAccount: input.sourceAccount } : { sourceUid: input.sourceUid }),
    targetUid: input.targetUid,
    amount: formatAmount(input.amount, input.currency),
    currency: input.currency,
    workflowId: input.transferId,
  };
}

function fromResult(result: TransferResult): TransferView {
  return { ...fromInput(result), status: result.state, createdAt: result.createdAt };
}

const USER_ACCOUNT = /^user:(\d+)$/;

function fromRecord(record: TransferRecord): TransferView {
  const source = USER_ACCOUNT.exec(record.debitAccount);
  const target = USER_ACCOUNT.exec(record.creditAccount);
  return {
    id: record.id,
    kind: record.kind,
    ...(source ? { sourceUid: Number(source[1]) } : { sourceAccount: record.debitAccount }),
    targetUid: target ? Number(target[1]) : undefined,
    amount: formatAmount(record.amount, record.currency),
    currency: record.currency,
    status: record.state,
    createdAt: record.createdAt,
    workflowId: record.reference,
  };
}

/** A transfer by id: from the ledger once written, else from its workflow (processing, or failed and why). */
export async function findTransfer(deps: Pick<TransferDeps, 'client' | 'db'>, id: string): Promise<TransferView | undefined> {
  const record = await getTransfer(deps.db, id);
  if (record) return fromRecord(record);

  const handle = deps.client.workflow.getHandle<typeof TransferWorkflow>(id);
  let description;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
  if (description.type !== 'TransferWorkflow') return undefined;

  if (description.status.name === 'RUNNING') {
    const status = await queryStatus(deps.client, handle);
    return status ? { ...fromInput(status.request), status: 'processing' } : { id, kind: 'transfer', status: 'processing', workflowId: id };
  }
  try {
    return fromResult(await handle.result());
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
    const failure = domainFailureOf(err);
    const request = requestOf(err);
    // A terminated or timed-out run has no domain failure: its message says what happened.
    const error = { code: failure ? failure.type! : 'internal_error', message: failure?.message ?? err.message };
    return request ? { ...fromInput(request), status: 'failed', error } : { id, kind: 'transfer', status: 'failed', workflowId: id, error };
  }
}
