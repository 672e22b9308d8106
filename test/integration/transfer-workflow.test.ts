// TransferWorkflow on a real Temporal server with the real worker and ledger.
import { ApplicationFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import { loadConfig } from '../../config';
import type { Db } from '../../db/knex';
import { checkInvariants, countTransfers, getBalances, getTransfer } from '../../db/ledger';
import { userAccount } from '../../domain/ledger';
import { PaymentKind, PaymentStatus, Uid } from '../../domain/search-attributes';
import { transferStatusQuery, transferWorkflowId, type TransferInput } from '../../domain/transfer';
import { freshUid, givenUser } from '../support/ledger';
import { startTransfer } from '../support/temporal';
import { useWorkerAndClient } from '../support/suites';

let db: Db;
let client: Client;
useWorkerAndClient((deps) => ({ db, client } = deps));
afterEach(async () => expect((await checkInvariants(db)).violations).toEqual([]));

const input = (source: number, target: number, amount: string): TransferInput => ({
  transferId: transferWorkflowId(`wf-${freshUid()}`),
  kind: 'transfer',
  sourceUid: source,
  targetUid: target,
  amount,
  currency: 'CNY',
});

describe('TransferWorkflow', () => {
  it('posts the transfer, answers the status query and tags the run for the Temporal UI', async () => {
    const a = await givenUser(db, { balance: '50' });
    const b = await givenUser(db);
    const handle = await startTransfer(client, input(a, b, '12.34'));
    const result = await handle.result();
    expect(result).toMatchObject({ transferId: handle.workflowId, state: 'posted', amount: '12.34', sourceUid: a, targetUid: b });
    expect(await getTransfer(db, handle.workflowId)).toMatchObject({ state: 'posted', reference: handle.workflowId });

    const status = await handle.query(transferStatusQuery);
    expect(status).toMatchObject({ status: 'posted', ledgerState: 'posted', request: { sourceUid: a, targetUid: b } });
    const attrs = (await handle.describe()).typedSearchAttributes;
    expect(attrs.get(PaymentKind)).toBe('transfer');
    expect(attrs.get(PaymentStatus)).toBe('posted');
    expect(attrs.get(Uid)).toEqual([String(a), String(b)]);
  });

  it('tags itself for the Temporal UI when started without search attributes (e.g. from the CLI)', async () => {
    const a = await givenUser(db, { balance: '5' });
    const b = await givenUser(db);
    const req = input(a, b, '1');
    const handle = await client.workflow.start('TransferWorkflow', { taskQueue: loadConfig().temporal.taskQueue, workflowId: req.transferId, args: [req] });
    await handle.result();
    const attrs = (await handle.describe()).typedSearchAttributes;
    expect([attrs.get(PaymentKind), attrs.get(PaymentStatus), attrs.get(Uid)]).toEqual(['transfer', 'posted', [String(a), String(b)]]);
  });

  it('credits a user from a system account', async () => {
    const b = await givenUser(db);
    const handle = await startTransfer(client, {
      transferId: transferWorkflowId(`credit-${freshUid()}`),
      kind: 'credit',
      sourceAccount: 'external:bank',
      targetUid: b,
      amount: '1000',
      currency: 'CNY',
    });
    expect(await handle.result()).toMatchObject({ kind: 'credit', sourceAccount: 'external:bank', state: 'posted' });
    expect((await getBalances(db, [userAccount(b)], 'CNY'))[0].available).toBe('1000');
  });

  it('fails for good with insufficient_funds, carrying the request, and changes nothing', async () => {
    const a = await givenUser(db, { balance: '1' });
    const b = await givenUser(db);
    const before = await countTransfers(db);
    const req = input(a, b, '2');
    const handle = await startTransfer(client, req);
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause as ApplicationFailure;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect({ type: cause.type, nonRetryable: cause.nonRetryable }).toEqual({ type: 'insufficient_funds', nonRetryable: true });
    expect(cause.details?.[0]).toEqual({ request: req });
    expect(await countTransfers(db)).toBe(before);
    expect(await handle.query(transferStatusQuery)).toMatchObject({ status: 'failed', failure: { code: 'insufficient_funds' } });
    expect((await handle.describe()).typedSearchAttributes.get(PaymentStatus)).toBe('failed');
  });

  it('runs once when started twice with the same workflow ID', async () => {
    const a = await givenUser(db, { balance: '10' });
    const b = await givenUser(db);
    const req = input(a, b, '3');
    const [h1, h2] = await Promise.all([startTransfer(client, req), startTransfer(client, req)]);
    expect(h2.firstExecutionRunId).toBe(h1.firstExecutionRunId);
    await h1.result();
    const h3 = await startTransfer(client, req).catch((err: Error) => err.name);
    // REJECT_DUPLICATE: a closed run's ID is not reused; the API turns this into the stored answer.
    expect(h3).toBe('WorkflowExecutionAlreadyStartedError');
    expect((await getBalances(db, [userAccount(a)], 'CNY'))[0].available).toBe('7');
  });
});
