// A Temporal client for the test stack, and a way to start TransferWorkflow as the API does.
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../../config';
import { transferStartOptions, type TransferInput } from '../../domain/transfer';
import type { TransferWorkflow } from '../../workflows/transfer';

export async function testClient(): Promise<{ client: Client; close(): Promise<void> }> {
  const connection = await Connection.connect({ address: loadConfig().temporal.address });
  return { client: new Client({ connection }), close: () => connection.close() };
}

export function startTransfer(client: Client, input: TransferInput) {
  return client.workflow.start<typeof TransferWorkflow>('TransferWorkflow', transferStartOptions(input, loadConfig().temporal.taskQueue));
}
