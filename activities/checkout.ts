// Checkout activities: a session's records (its address, its progress, its close), its looks at the chain (the transfers
// it waits on, a payer's transaction) and the merchant's ledger credit; and the chain scanner's part in checkout (routing
// Transfer logs to open sessions, telling them of reorgs). Each is safe to run twice.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  checkoutSessionsWaitingAbove,
  closeCheckoutSession,
  openCheckoutSessionsByAddress,
  recordCheckoutSession,
  saveCheckoutProgress,
} from '../db/checkout';
import type { Db } from '../db/knex';
import { createTransfer } from '../db/ledger';
import { checksumAddress, fromBaseUnits, parseTxHash } from '../domain/chain';
import {
  CHECKOUT_MERCHANT_ACCOUNT,
  checkoutTransferId,
  checkoutTransfersSeenSignal,
  checkoutWorkflowId,
  type CheckoutChainCheck,
  type CheckoutProgress,
  type CheckoutSessionInput,
  type CheckoutSighting,
  type CheckoutTransfer,
} from '../domain/checkout';
import { chainReorgedSignal, chainTokenAccount } from '../domain/deposit';
import { DomainError } from '../domain/errors';
import type { ChainClients } from './chain-clients';
import { failingAsDomain } from './failures';
import { inBatches, SIGNAL_CONCURRENCY } from './in-batches';
import type { TransferLog } from './providers/evm-client';

/** DECIMAL(38,18) holds 20 integer digits: a larger transfer cannot be a ledger amount. */
const MAX_INTEGER_DIGITS = 20;

/** Where a session's money arrives: its chain, token contract and address (lower case). */
export interface CheckoutTarget {
  chainId: number;
  tokenAddress: string;
  address: string;
}

const sightingOf = (log: TransferLog): CheckoutSighting => ({
  txHash: log.transactionHash,
  logIndex: log.logIndex,
  from: log.from,
  valueUnits: log.value,
  blockNumber: log.blockNumber,
  blockHash: log.blockHash,
});

/** A Transfer log that can be money for a session: zero-value transfers are address-poisoning spam, not payments. */
const isPayment = (log: TransferLog, decimals: number): boolean => log.value !== '0' && log.value.length - decimals <= MAX_INTEGER_DIGITS;

/** Signals a session's workflow; one that has ended watches nothing any more. */
async function signalSession(client: Client, sessionId: string, send: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<void>): Promise<void> {
  try {
    await send(client.workflow.getHandle(checkoutWorkflowId(sessionId)));
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
  }
}

/**
 * The scanner's part: the Transfer logs of a token (already read for the watched addresses) that pay open checkout
 * sessions, signalled to each session's workflow, which ignores a log it knows. Returns the sessions signalled.
 */
export async function signalCheckoutSessions(client: Client, db: Db, networkId: string, token: { symbol: string; decimals: number }, logs: TransferLog[]): Promise<number> {
  const sessions = await openCheckoutSessionsByAddress(db, networkId, token.symbol, [...new Set(logs.map((l) => l.to))]);
  const bySession = new Map<string, CheckoutSighting[]>();
  for (const log of logs) {
    const id = sessions.get(log.to);
    if (id === undefined || !isPayment(log, token.decimals)) continue;
    bySession.set(id, [...(bySession.get(id) ?? []), sightingOf(log)]);
  }
  await inBatches([...bySession], SIGNAL_CONCURRENCY, ([id, sightings]) => signalSession(client, id, (h) => h.signal(checkoutTransfersSeenSignal, sightings)));
  return bySession.size;
}

/** The scanner found blocks above `forkBlock` replaced: the sessions with a transfer waiting up there look at the chain at once. */
export async function tellCheckoutSessionsReorged(client: Client, db: Db, networkId: string, tokenSymbol: string, forkBlock: number): Promise<void> {
  const ids = await checkoutSessionsWaitingAbove(db, networkId, tokenSymbol, forkBlock);
  await inBatches(ids, SIGNAL_CONCURRENCY, (id) => signalSession(client, id, (h) => h.signal(chainReorgedSignal, { forkBlock })));
}

export function checkoutActivities(db: Db, chains: ChainClients) {
  return {
    /** Idempotent by session id: the first call records the session with a new address, later ones find it. */
    async openCheckoutSession(input: CheckoutSessionInput): Promise<{ address: string }> {
      return { address: (await recordCheckoutSession(db, input)).address };
    },

    /** A read: the head, and the canonical block of each transfer's log (by its transaction's receipt), or null. */
    async checkCheckoutTransfers(query: CheckoutTarget & { transfers: Pick<CheckoutTransfer, 'txHash' | 'logIndex' | 'valueUnits'>[] }): Promise<CheckoutChainCheck> {
      const evm = await chains.forChain(query.chainId);
      const [head, receipts] = await Promise.all([evm.blockNumber(), Promise.all(query.transfers.map((t) => evm.getTransactionReceipt(t.txHash)))]);
      const found = query.transfers.map((transfer, i) => {
        const receipt = receipts[i];
        const log = receipt?.status === 1 && receipt.transfers.find(
          (l) => l.logIndex === transfer.logIndex && l.token === query.tokenAddress && l.to === query.address && l.value === transfer.valueUnits,
        );
        return log ? { blockNumber: log.blockNumber, blockHash: log.blockHash } : null;
      });
      return { head: Math.max(head, ...found.map((f) => f?.blockNumber ?? 0)), found };
    },

    /**
     * A read: the transfers of the session's token to its address in a mined transaction. Non-retryable tx_not_found
     * (not mined on this chain, or unknown), chain_tx_reverted, or tx_not_for_payment (it pays nothing here).
     */
    async findCheckoutTransfers(target: CheckoutTarget, txHash: string): Promise<CheckoutSighting[]> {
      return failingAsDomain(async () => {
        const hash = parseTxHash(txHash);
        const receipt = await (await chains.forChain(target.chainId)).getTransactionReceipt(hash);
        if (!receipt) throw new DomainError('tx_not_found', `no mined transaction ${hash} on chain ${target.chainId} (is it still pending, or on another network?)`);
        if (receipt.status !== 1) throw new DomainError('chain_tx_reverted', `transaction ${hash} reverted: it moved no tokens`);
        const logs = receipt.transfers.filter((l) => l.token === target.tokenAddress && l.to === target.address && l.value !== '0');
        if (logs.length === 0) throw new DomainError('tx_not_for_payment', `transaction ${hash} transfers none of this payment's token to its address ${checksumAddress(target.address)}`);
        return logs.map(sightingOf);
      });
    },

    /**
     * Credits a confirmed transfer to the merchant. Idempotent by the ledger transfer's id,
     * checkout:{chainId}:{txHash}:{logIndex}: a second call finds the transfer.
     */
    async creditCheckoutTransfer({ session, transfer }: { session: CheckoutSessionInput; transfer: CheckoutSighting }): Promise<{ transferId: string }> {
      return failingAsDomain(async () => {
        const transferId = checkoutTransferId(session.chainId, transfer.txHash, transfer.logIndex);
        await createTransfer(db, {
          id: transferId,
          debitAccount: chainTokenAccount(session.chainId, session.token.symbol),
          creditAccount: CHECKOUT_MERCHANT_ACCOUNT,
          amount: fromBaseUnits(transfer.valueUnits, session.token.decimals),
          currency: session.token.symbol,
          kind: 'checkout',
          reference: checkoutWorkflowId(session.id),
        });
        return { transferId };
      });
    },

    /** Idempotent: the same progress written twice is one change. */
    async saveCheckoutProgress(session: CheckoutSessionInput, progress: CheckoutProgress): Promise<void> {
      await saveCheckoutProgress(db, session, progress);
    },

    /** Idempotent: the session stays closed. */
    async closeCheckoutSession(id: string): Promise<void> {
      await closeCheckoutSession(db, id);
    },
  };
}
