// What the API checks of users before it starts anything: every uid named must be registered.
import type { Db } from '../db/knex';
import { findUsers } from '../db/users';
import { DomainError } from '../domain/errors';

/** Uids per `users` lookup, so 100,000 uids never become one giant IN list. */
const LOOKUP_CHUNK = 5000;

/** Throws unknown_user naming the uids that are not registered (up to 10 in the message). */
export async function assertUsersExist(db: Db, uids: number[]): Promise<void> {
  const missing: number[] = [];
  for (let i = 0; i < uids.length; i += LOOKUP_CHUNK) {
    const chunk = uids.slice(i, i + LOOKUP_CHUNK);
    const found = await findUsers(db, chunk);
    missing.push(...chunk.filter((uid) => !found.has(uid)));
  }
  if (missing.length === 1) throw new DomainError('unknown_user', `user ${missing[0]} does not exist`);
  if (missing.length > 1) {
    const shown = missing.slice(0, 10).join(', ');
    throw new DomainError('unknown_user', `${missing.length} users do not exist: ${shown}${missing.length > 10 ? ', …' : ''}`, { missing: missing.slice(0, 100) });
  }
}
