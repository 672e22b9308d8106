// The Temporal dev server of the local stack: finds (or builds) the pinned temporal CLI, starts it, waits until it serves.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import type { Config } from '../../config';
import { CUSTOM_SEARCH_ATTRIBUTES } from '../../domain/search-attributes';
import { findExecutable, isExecutable } from './executables';
import { isListening } from './ports';
import { runCommand, type Service, type ServiceGroup } from './processes';

// v1.5.1 is the newest tag whose go.mod has no `replace` directive, which `go install` refuses.
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
const START_TIMEOUT_MS = 60_000;

const CLI_TYPE_NAMES = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' } as const;

/** `$TEMPORAL_CLI`, else `temporal` on PATH, else the cached build, built with `go install` the first time. */
export async function resolveTemporalCli(stack: Config['stack']): Promise<string> {
  if (stack.temporalCli) {
    if (!isExecutable(stack.temporalCli)) throw new Error(`TEMPORAL_CLI=${stack.temporalCli} is not an executable file`);
    return stack.temporalCli;
  }
  const onPath = findExecutable('temporal');
  if (onPath) return onPath;

  const dir = path.join(stack.cacheDir, `temporal-${TEMPORAL_CLI_VERSION}`);
  const cached = path.join(dir, 'temporal');
  if (isExecutable(cached)) return cached;

  const go = findExecutable('go', ['/usr/local/go/bin']);
  if (!go) {
    throw new Error('the temporal CLI is missing and Go is not installed to build it: install Go (https://go.dev/dl) or set TEMPORAL_CLI to a temporal binary');
  }
  console.log(`[stack] building the temporal CLI ${TEMPORAL_CLI_VERSION} into ${dir} with go install; this takes a few minutes the first time…`);
  // Built beside its final place and renamed into it, so an interrupted build never leaves a broken binary behind.
  const buildDir = `${dir}.build-${process.pid}`;
  try {
    await runCommand(go, ['install', `${TEMPORAL_CLI_MODULE}@${TEMPORAL_CLI_VERSION}`], { env: { GOBIN: buildDir }, echo: true });
    fs.mkdirSync(dir, { recursive: true });
    fs.renameSync(path.join(buildDir, 'temporal'), cached);
  } finally {
    fs.rmSync(buildDir, { recursive: true, force: true });
  }
  console.log(`[stack] built ${cached}`);
  return cached;
}

export interface TemporalOptions {
  cli: string;
  port: number;
  uiPort: number;
  namespace: string;
  /** SQLite file that keeps workflow histories across restarts; in memory when omitted (tests). */
  dbFile?: string;
}

/** Starts `temporal server start-dev` and resolves once its frontend answers for the namespace. */
export async function startTemporal(group: ServiceGroup, { cli, port, uiPort, namespace, dbFile }: TemporalOptions): Promise<Service> {
  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--ui-port', String(uiPort),
    '--namespace', namespace,
    '--log-level', 'warn',
    ...Object.entries(CUSTOM_SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${CLI_TYPE_NAMES[type]}`]),
  ];
  if (dbFile) args.push('--db-filename', dbFile, '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  // Its stdout is a banner of addresses we print ourselves; its stderr carries the warnings worth seeing.
  const service = group.spawn({ name: 'temporal', command: cli, args, echo: (_line, stream) => stream === 'stderr' });
  await waitUntilServing(service, port, namespace);
  return service;
}

async function waitUntilServing(service: Service, port: number, namespace: string): Promise<void> {
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = 'its port never opened';
  for (;;) {
    if (!service.running()) {
      throw new Error(`the Temporal dev server ${await service.exited} before serving on ${address}. Its last output:\n${service.tail()}`);
    }
    if (await isListening(port)) {
      try {
        const connection = await Connection.connect({ address, connectTimeout: 2000 });
        try {
          await connection.workflowService.describeNamespace({ namespace });
          return;
        } finally {
          await connection.close();
        }
      } catch (err) {
        lastError = (err as Error).message;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`the Temporal dev server did not serve on ${address} within ${START_TIMEOUT_MS / 1000}s (${lastError}). Its last output:\n${service.tail()}`);
    }
    await sleep(200);
  }
}

/** Resolves once a worker polls the task queue, i.e. workflows started now will run. */
export async function waitForWorker(address: string, namespace: string, taskQueue: string, worker: () => Service, timeoutMs = 180_000): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { pollers } = await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: taskQueue } });
      if (pollers.length > 0) return;
      const current = worker();
      if (!current.running()) throw new Error(`the worker ${await current.exited} before polling ${taskQueue}. Its last output:\n${current.tail()}`);
      if (Date.now() > deadline) throw new Error(`no worker polled the task queue ${taskQueue} within ${timeoutMs / 1000}s. The worker's last output:\n${current.tail()}`);
      await sleep(250);
    }
  } finally {
    await connection.close();
  }
}
