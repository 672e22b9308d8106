// Every activity the workers register, built from their injected dependencies.
import type { Db } from '../db/knex';
import { ledgerActivities } from './ledger';
import { noopActivities } from './noop';

export interface ActivityDeps {
  db: Db;
}

export function createActivities({ db }: ActivityDeps) {
  return { ...ledgerActivities(db), ...noopActivities() };
}

export type Activities = ReturnType<typeof createActivities>;
