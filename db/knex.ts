// The knex connection to MySQL/MariaDB: decimals come back as strings, times in UTC.
import knex, { Knex } from 'knex';

export type Db = Knex;

/** A DATETIME as the connection reads it (UTC, `dateStrings`), as ISO 8601: "2024-07-23 10:00:00.000" → "…T10:00:00.000Z". */
export const isoTime = (value: string): string => `${value.replace(' ', 'T')}Z`;
/** An ISO 8601 UTC time as a DATETIME literal the connection writes: the inverse of isoTime. */
export const sqlTime = (iso: string): string => iso.replace('T', ' ').replace('Z', '');

export function createDb(url: string, poolMax = 20): Db {
  return knex({
    client: 'mysql2',
    connection: {
      uri: url,
      // DECIMAL(38,18) must never pass through a float.
      decimalNumbers: false,
      supportBigNumbers: true,
      bigNumberStrings: true,
      timezone: 'Z',
      dateStrings: true,
    } as Knex.MySql2ConnectionConfig & { uri: string },
    pool: {
      min: 0,
      max: poolMax,
      // Times are stored and read in UTC whatever the server's zone.
      afterCreate: (conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) =>
        conn.query("SET time_zone = '+00:00'", (err) => done(err, conn)),
    },
  });
}

/**
 * Runs a transaction again when it lost a deadlock or a lock wait (or failed in a way `alsoRetry` names): its row locks
 * make it safe to run again. A short random pause, longer at each attempt, lets the winner finish.
 */
export async function retryOnLockConflict<T>(work: () => Promise<T>, options: { attempts: number; alsoRetry?: (err: unknown) => boolean }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const code = (err as { code?: string }).code;
      const retryable = code === 'ER_LOCK_DEADLOCK' || code === 'ER_LOCK_WAIT_TIMEOUT' || options.alsoRetry?.(err) === true;
      if (!retryable || attempt >= options.attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
    }
  }
}
