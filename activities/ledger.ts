// Ledger activities: every money movement of every workflow is written through these.
import type { Db } from '../db/knex';
import { createTransfer, postTransfer, voidTransfer } from '../db/ledger';
import type { TransferRecord, TransferRequest } from '../domain/ledger';
import { failingAsDomain } from './failures';

export function ledgerActivities(db: Db) {
  return {
    /** Idempotent by transfer.id: a second call returns the stored result. */
    async applyTransfer(transfer: TransferRequest): Promise<TransferRecord> {
      return failingAsDomain(() => createTransfer(db, transfer));
    },
    /** Idempotent by id: posting a posted transfer returns it; posting a voided one is an error. */
    async postPendingTransfer(id: string): Promise<TransferRecord> {
      return failingAsDomain(() => postTransfer(db, id));
    },
    /** Idempotent by id: voiding a voided transfer returns it; voiding a posted one is an error. */
    async voidPendingTransfer(id: string): Promise<TransferRecord> {
      return failingAsDomain(() => voidTransfer(db, id));
    },
  };
}
