// The private MariaDB of the local stack: installs the packages when missing, initialises a datadir, starts mariadbd, provisions the durapay database and user.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findExecutable } from './executables';
import { runCommand, type Service, type ServiceGroup } from './processes';

const SBIN_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/bin'];
const START_TIMEOUT_MS = 60_000;
const USER = 'durapay';
const PASSWORD = 'durapay';
const USER_HOSTS = ['%', '127.0.0.1', 'localhost'];
// Production runs MySQL 8: its default SQL mode makes MariaDB reject what MySQL 8 would (ONLY_FULL_GROUP_BY, zero dates).
const MYSQL8_SQL_MODE = 'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';
// Unix socket paths are limited to ~107 bytes; a deep checkout falls back to the temp dir.
const MAX_SOCKET_PATH = 100;

export interface MariadbTools {
  mariadbd: string;
  installDb: string;
  client: string;
}

function findTools(): Partial<MariadbTools> {
  return {
    mariadbd: findExecutable('mariadbd', SBIN_DIRS),
    installDb: findExecutable('mariadb-install-db', SBIN_DIRS),
    client: findExecutable('mariadb', SBIN_DIRS),
  };
}

/** The MariaDB programs, installed from Debian's packages when missing. */
export async function ensureMariadbInstalled(): Promise<MariadbTools> {
  let tools = findTools();
  if (!tools.mariadbd || !tools.installDb || !tools.client) {
    console.log('[stack] MariaDB is not installed: installing mariadb-server and mariadb-client with apt-get (once)…');
    const sudo = process.getuid?.() === 0 ? [] : ['sudo'];
    const [command, ...prefix] = [...sudo, 'env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'];
    await runCommand(command, [...prefix, 'update'], { echo: true });
    await runCommand(command, [...prefix, 'install', '-y', 'mariadb-server', 'mariadb-client'], { echo: true });
    tools = findTools();
  }
  const { mariadbd, installDb, client } = tools;
  if (!mariadbd || !installDb || !client) throw new Error('MariaDB was installed but mariadbd, mariadb-install-db or mariadb is still missing');
  return { mariadbd, installDb, client };
}

export interface MariadbOptions {
  /** Holds the datadir (`mariadb/`), its socket and pid file. */
  baseDir: string;
  port: number;
  database: string;
  /** false relaxes flushing for speed (tests); npm start keeps InnoDB's durable defaults. */
  durable: boolean;
  /** Drop the database first, so every run starts from an empty schema (tests). */
  recreateDatabase?: boolean;
}

export interface RunningMariadb {
  service: Service;
  url: string;
}

/** Starts a private mariadbd on 127.0.0.1:port, creating its datadir the first time, and provisions `database` for the durapay user. */
export async function startMariadb(group: ServiceGroup, options: MariadbOptions): Promise<RunningMariadb> {
  const tools = await ensureMariadbInstalled();
  const osUser = os.userInfo().username;
  const datadir = path.join(options.baseDir, 'mariadb');
  const socket = socketPath(options.baseDir);
  if (!fs.existsSync(path.join(datadir, 'mysql'))) await initialiseDatadir(tools, datadir, osUser);

  const service = group.spawn({
    name: 'mariadb',
    command: tools.mariadbd,
    args: [
      '--no-defaults',
      `--datadir=${datadir}`,
      `--port=${options.port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--pid-file=${path.join(options.baseDir, 'mariadb.pid')}`,
      `--user=${osUser}`,
      '--skip-name-resolve',
      '--innodb-buffer-pool-size=256M',
      '--max-connections=500',
      '--character-set-server=utf8mb4',
      '--collation-server=utf8mb4_unicode_ci',
      '--default-time-zone=+00:00',
      `--sql-mode=${MYSQL8_SQL_MODE}`,
      ...(options.durable ? [] : ['--innodb-flush-log-at-trx-commit=2']),
    ],
    echo: (line) => line.includes('[ERROR]'),
  });

  // As the OS user, through the socket: the datadir's admin account authenticates by unix_socket.
  const sql = (statements: string) => runCommand(tools.client, ['--no-defaults', `--socket=${socket}`, `--user=${osUser}`, '--batch'], { input: statements });
  await waitUntilServing(service, () => sql('SELECT 1;'));
  await sql(provisioningSql(options));
  return { service, url: `mysql://${USER}:${PASSWORD}@127.0.0.1:${options.port}/${options.database}` };
}

async function initialiseDatadir(tools: MariadbTools, datadir: string, osUser: string): Promise<void> {
  console.log(`[stack] creating a MariaDB datadir in ${datadir}`);
  // Initialised beside its final place and renamed into it, so an interrupted run never leaves half a datadir.
  const staging = `${datadir}.init`;
  fs.rmSync(staging, { recursive: true, force: true });
  await runCommand(tools.installDb, [
    '--no-defaults',
    `--datadir=${staging}`,
    '--auth-root-authentication-method=socket',
    `--auth-root-socket-user=${osUser}`,
    '--skip-test-db',
    `--user=${osUser}`,
  ]);
  fs.renameSync(staging, datadir);
}

async function waitUntilServing(service: Service, ping: () => Promise<unknown>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!service.running()) throw new Error(`mariadbd ${await service.exited} before accepting connections. Its last output:\n${service.tail()}`);
    try {
      await ping();
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(`mariadbd did not accept connections within ${START_TIMEOUT_MS / 1000}s (${(err as Error).message.split('\n').pop()}). Its last output:\n${service.tail()}`);
      }
    }
    await sleep(200);
  }
}

function provisioningSql({ database, recreateDatabase }: MariadbOptions): string {
  const db = `\`${database}\``;
  return [
    recreateDatabase ? `DROP DATABASE IF EXISTS ${db};` : '',
    `CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;`,
    ...USER_HOSTS.flatMap((host) => [
      `CREATE USER IF NOT EXISTS '${USER}'@'${host}' IDENTIFIED BY '${PASSWORD}';`,
      `GRANT ALL PRIVILEGES ON ${db}.* TO '${USER}'@'${host}';`,
    ]),
  ].join('\n');
}

function socketPath(baseDir: string): string {
  const beside = path.join(baseDir, 'mariadb.sock');
  if (beside.length <= MAX_SOCKET_PATH) return beside;
  const hash = crypto.createHash('sha256').update(path.resolve(baseDir)).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `durapay-${hash}.sock`);
}
