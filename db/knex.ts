// The knex connection to MySQL/MariaDB: decimals come back as strings, times in UTC.
import knex, { Knex } from 'knex';

export type Db = Knex;

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
