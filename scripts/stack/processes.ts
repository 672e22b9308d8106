// The processes of the local stack: each runs in its own process group, its output is kept (and echoed with a prefix), and it is stopped politely, then firmly.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import readline from 'node:readline';
import type { Readable } from 'node:stream';

export interface ServiceOptions {
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  /** Added to the environment the child inherits from us. */
  env?: Record<string, string>;
  /** Which output lines to echo as `[name] line`; all of them when omitted. */
  echo?: (line: string, stream: 'stdout' | 'stderr') => boolean;
}

export interface Service {
  readonly name: string;
  readonly pid: number;
  /** argv joined by spaces, as /proc/<pid>/cmdline shows it: tells our process from a recycled pid. */
  readonly commandLine: string;
  /** Resolves with how it ended ("exited with code 1", "was killed by SIGKILL") once it has exited and closed its output. */
  readonly exited: Promise<string>;
  running(): boolean;
  /** Its last lines of output, for error messages. */
  tail(): string;
  /** SIGTERM to its process group, SIGKILL after graceMs; resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const TAIL_LINES = 40;
const live = new Set<Service>();

// The safety net: however this process ends (a crash, process.exit), nothing it started is left behind.
process.on('exit', () => {
  for (const service of live) signalGroup(service.pid, 'SIGTERM');
});

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  if (!(pid > 1)) return; // kill(-1) and kill(-0) would reach far more than one group
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/** True when pid runs commandLine (when given); a zombie or a recycled pid is not alive. */
export function isAlive(pid: number, commandLine?: string): boolean {
  if (!(pid > 1)) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (!commandLine) return true;
  if (!existsSync('/proc/self/cmdline')) return true; // no /proc on this system: trust kill(pid, 0)
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') === commandLine;
  } catch {
    return false; // it exited meanwhile
  }
}

function spawnService({ name, command, args, cwd, env, echo }: ServiceOptions): Service {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true, // its own process group: the terminal's Ctrl-C reaches only us, and we stop it in order
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let alive = child.pid !== undefined;
  let stopRequested = false; // what a process says while we stop it is noise: kept in the tail, not echoed
  const collect = (input: Readable, stream: 'stdout' | 'stderr') =>
    readline.createInterface({ input, crlfDelay: Infinity }).on('line', (line) => {
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
      if (!stopRequested && (echo?.(line, stream) ?? true)) process.stdout.write(`[${name}] ${line}\n`);
    });
  collect(child.stdout, 'stdout');
  collect(child.stderr, 'stderr');

  let how = '';
  const exited = new Promise<string>((resolve) => {
    child.once('error', (err) => {
      how = `failed to start: ${err.message}`;
      lines.push(how);
    });
    child.once('exit', (code, signal) => {
      how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    });
    child.once('close', () => {
      alive = false;
      live.delete(service);
      resolve(how);
    });
  });

  const service: Service = {
    name,
    pid: child.pid ?? -1,
    commandLine: [command, ...args].join(' '),
    exited,
    running: () => alive,
    tail: () => (lines.length ? lines.join('\n') : '(no output)'),
    async stop(graceMs = 10_000) {
      if (alive) {
        stopRequested = true;
        signalGroup(service.pid, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(service.pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      await exited;
    },
  };
  if (alive) live.add(service);
  return service;
}

/** The services of one stack, stopped together in the reverse order of their start. */
export class ServiceGroup {
  private readonly services: Service[] = [];

  constructor(private readonly onSpawn: (service: Service) => void = () => undefined) {}

  spawn(options: ServiceOptions): Service {
    const service = spawnService(options);
    this.services.push(service);
    if (service.running()) this.onSpawn(service);
    return service;
  }

  async stopAll(): Promise<void> {
    for (const service of [...this.services].reverse()) await service.stop();
  }

  /** For signal handlers that cannot wait: every service gets SIGTERM and stops on its own. */
  signalAll(signal: NodeJS.Signals): void {
    for (const service of this.services) if (service.running()) signalGroup(service.pid, signal);
  }
}

/** Runs a command to completion (an installer, a client), echoing its output when asked; rejects with its output on failure. */
export function runCommand(
  command: string,
  args: string[],
  { env, echo = false, input }: { env?: Record<string, string>; echo?: boolean; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    const take = (chunk: Buffer) => {
      output += chunk.toString();
      if (echo) process.stdout.write(chunk);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    // A client that exits before reading its input (a refused connection) closes the pipe: that is reported
    // through its exit code below, not as an EPIPE that would crash us.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input ?? '');
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${command} ${args.join(' ')} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}\n${output.trim()}`));
    });
  });
}
