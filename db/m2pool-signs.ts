// The signs of M2Pool's requests, each bound to the one request it was made for, kept until the request's timestamp leaves
// the window (after which the request is stale anyway).
import type { M2PoolRequestKind } from '../domain/m2pool';
import { sqlTime, type Db } from './knex';

export interface RequestSign {
  sign: string;
  route: M2PoolRequestKind;
  /** sha256 of the request's canonical string. */
  requestDigest: string;
}

/** MySQL DATETIME(3), UTC. */

export async function findRequestSign(db: Db, sign: string): Promise<RequestSign | undefined> {
  const row = await db('m2pool_request_signs').where({ sign }).first('sign', 'route', 'request_digest');
  return row && { sign: row.sign, route: row.route, requestDigest: row.request_digest };
}

/** Binds a sign to its request unless it is bound already; returns the request it is bound to (this one, or the first). */
export async function claimRequestSign(db: Db, claim: RequestSign & { expiresAtMs: number }): Promise<RequestSign> {
  await db.raw('INSERT IGNORE INTO m2pool_request_signs (sign, route, request_digest, expires_at) VALUES (?, ?, ?, ?)', [
    claim.sign,
    claim.route,
    claim.requestDigest,
    sqlTime(new Date(claim.expiresAtMs).toISOString()),
  ]);
  return (await findRequestSign(db, claim.sign))!;
}

/** Deletes up to `limit` signs that expired before `beforeMs`; returns how many. */
export async function purgeExpiredSigns(db: Db, beforeMs: number, limit = 1000): Promise<number> {
  return db('m2pool_request_signs').where('expires_at', '<', sqlTime(new Date(beforeMs).toISOString())).limit(limit).delete();
}
