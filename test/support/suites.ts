// The setup most test files share, as jest hooks: call at the top of a file, get what was started through `ready`.
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../config';
import { createDb, type Db } from '../../db/knex';
import { startTestApp, type TestApp, type TestAppOptions } from './app';
import { testClient } from './temporal';
import { startTestWorker, type TestWorker } from './worker';

/** The real worker, plus the API on a random port; both stopped after the file. */
export function useWorkerAndApp(ready: (app: TestApp) => void, options?: TestAppOptions): void {
  let worker: TestWorker | undefined;
  let app: TestApp | undefined;
  beforeAll(async () => {
    worker = await startTestWorker();
    app = await startTestApp(options);
    ready(app);
  });
  afterAll(async () => {
    await app?.close();
    await worker?.shutdown();
  });
}

/** The real worker, a DB connection and a Temporal client, for tests that drive workflows directly. */
export function useWorkerAndClient(ready: (deps: { db: Db; client: Client }) => void): void {
  let worker: TestWorker | undefined;
  let db: Db | undefined;
  let closeClient: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    db = createDb(loadConfig().db.url);
    const { client, close } = await testClient();
    closeClient = close;
    worker = await startTestWorker();
    ready({ db, client });
  });
  afterAll(async () => {
    await worker?.shutdown();
    await closeClient?.();
    await db?.destroy();
  });
}
