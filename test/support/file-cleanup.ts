// Jest setupFilesAfterEnv: what an integration test file started in Temporal ends with the file. Every file shares the
// test server and its task queue, so a run a file left going (a donation polling its gateway until expiry, a checkout
// waiting for its payment…) would otherwise be picked up, and replayed from its growing history, by the worker of every
// file after it.
import path from 'node:path';
import { testClient } from './temporal';

const isIntegrationFile = (expect.getState().testPath ?? '').split(path.sep).includes('integration');

if (isIntegrationFile) {
  let since: Date;
  beforeAll(() => {
    since = new Date();
  });
  afterAll(async () => {
    const { client, close } = await testClient();
    try {
      const query = `ExecutionStatus = "Running" AND StartTime >= "${since.toISOString()}"`;
      const ended: string[] = [];
      for await (const run of client.workflow.list({ query })) {
        await client.workflow.getHandle(run.workflowId, run.runId).terminate('the test file that started it has ended').catch(() => undefined);
        ended.push(run.type);
      }
      if (ended.length) process.stderr.write(`[test cleanup] ${ended.length} runs left going, terminated: ${ended.join(', ')}\n`);
    } finally {
      await close();
    }
  });
}
