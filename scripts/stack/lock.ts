// The lock file of a running stack: who holds it, its URLs, and the services it started, so a second start finds it and a crashed run's leftovers get stopped.
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, signalGroup, type Service } from './processes';

export interface StackRecord {
  pid: number;
  commandLine: string;
  urls: Record<string, string>;
  services: { name: string; pid: number; commandLine: string }[];
}

export type LockAttempt = { acquired: true; lock: StackLock } | { acquired: false; holder: StackRecord };

export class StackLock {
  constructor(private readonly file: string, private readonly record: StackRecord) {}

  addService(service: Service): void {
    this.record.services.push({ name: service.name, pid: service.pid, commandLine: service.commandLine });
    writeAtomically(this.file, this.record, 'replace');
  }

  release(): void {
    if (readRecord(this.file)?.pid === this.record.pid) fs.rmSync(this.file, { force: true });
  }
}

/**
 * Takes the lock at `file` unless a live process holds it. A lock left by a dead process is taken over,
 * after stopping the services that process had started.
 */
export async function acquireStackLock(file: string, urls: Record<string, string>): Promise<LockAttempt> {
  const record: StackRecord = { pid: process.pid, commandLine: ownCommandLine(), urls, services: [] };
  for (;;) {
    if (writeAtomically(file, record, 'create')) return { acquired: true, lock: new StackLock(file, record) };
    const holder = readRecord(file);
    if (holder && isAlive(holder.pid, holder.commandLine)) return { acquired: false, holder };
    if (holder) await stopLeftovers(holder);
    fs.rmSync(file, { force: true });
  }
}

async function stopLeftovers(stale: StackRecord): Promise<void> {
  const leftovers = stale.services.filter((s) => isAlive(s.pid, s.commandLine));
  if (leftovers.length === 0) return;
  console.log(`[stack] stopping what a previous run (pid ${stale.pid}) left running: ${leftovers.map((s) => `${s.name} (pid ${s.pid})`).join(', ')}`);
  for (const s of leftovers.reverse()) signalGroup(s.pid, 'SIGTERM');
  for (let waited = 0; waited < 15_000 && leftovers.some((s) => isAlive(s.pid, s.commandLine)); waited += 100) await sleep(100);
  for (const s of leftovers) if (isAlive(s.pid, s.commandLine)) signalGroup(s.pid, 'SIGKILL');
}

function readRecord(file: string): StackRecord | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as StackRecord;
  } catch {
    return undefined; // missing, or written by a version of this file that no longer parses: treat as stale
  }
}

/** Writes through a temporary file so a reader never sees half a record; 'create' fails (false) when the file exists. */
function writeAtomically(file: string, record: StackRecord, mode: 'create' | 'replace'): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(record, null, 2));
  try {
    if (mode === 'replace') {
      fs.renameSync(tmp, file);
      return true;
    }
    fs.linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

function ownCommandLine(): string {
  try {
    return fs.readFileSync('/proc/self/cmdline', 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return process.argv.join(' ');
  }
}
