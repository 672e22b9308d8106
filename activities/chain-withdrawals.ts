// Withdrawal and merchant payment activities: the user's balance held in the ledger with the read model's row, then posted
// or voided with it once the chain has decided, each safe to run twice.
import { createTransfer, settleMany } from '../db/ledger';
import type { Db } from '../db/knex';
import { finishWithdrawal, getWithdrawal, recordWithdrawal } from '../db/withdrawals';
import { DomainError } from '../domain/errors';
import { userAccount } from '../domain/ledger';
import { chainTokenAccount } from '../domain/deposit';
import type { ChainPayoutFailure, ChainPayoutRequest } from '../domain/withdrawal';
import { failingAsDomain } from './failures';

export type ChainPayoutSettlement =
  | { status: 'confirmed'; txHash: string; blockNumber: number }
  | { status: 'failed'; failure: ChainPayoutFailure; txHash: string | null; blockNumber: number | null };

export function chainPayoutActivities(db: Db) {
  return {
    /**
     * Holds the amount on the user's account (a pending transfer to the chain's account for the token) and records the
     * request; a refusal (insufficient funds, unknown user) is recorded and returned, nothing held. Idempotent by
     * request.id, the hold's transfer id.
     */
    async holdChainPayout(request: ChainPayoutRequest): Promise<{ held: true } | { refused: ChainPayoutFailure }> {
      return failingAsDomain(async () => {
        // Decided by an earlier run: a refusal stays one even if the user was funded since.
        const recorded = await getWithdrawal(db, request.id);
        if (recorded) return recorded.status === 'refused' ? { refused: recorded.failure! } : { held: true as const };
        let outcome: { held: true } | { refused: ChainPayoutFailure };
        try {
          await createTransfer(db, {
            id: request.id,
            debitAccount: userAccount(request.uid),
            creditAccount: chainTokenAccount(request.chainId, request.token.symbol),
            amount: request.amount,
            currency: request.currency,
            kind: request.kind,
            reference: request.id,
            pending: true,
          });
          outcome = { held: true };
        } catch (err) {
          if (!(err instanceof DomainError)) throw err;
          outcome = { refused: { code: err.code, message: err.message } };
        }
        await recordWithdrawal(db, request, outcome);
        return outcome;
      });
    },

    /** Posts the hold (confirmed) or voids it (failed), and ends the row, in one DB transaction. Idempotent. */
    async settleChainPayout(request: ChainPayoutRequest, settlement: ChainPayoutSettlement): Promise<void> {
      await failingAsDomain(() =>
        settleMany(db, settlement.status === 'confirmed' ? { post: [request.id] } : { void: [request.id] }, async (trx) => {
          await finishWithdrawal(trx, request.id, {
            status: settlement.status,
            failure: settlement.status === 'failed' ? settlement.failure : null,
            txHash: settlement.txHash,
            blockNumber: settlement.blockNumber,
          });
        }),
      );
    },
  };
}
