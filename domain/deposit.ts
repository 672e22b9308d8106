// DepositWorkflow's and ChainScannerWorkflow's contracts (M2Pool topup, seed 002): inputs, results, signals, queries, the
// ledger names of a deposit and the start options. Pure: workflows import it (so no ethers here, see domain/chain.ts).
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { PaymentKind, PaymentStatus, Uid } from './search-attributes';

/** pending: seen on chain, waiting for confirmations; confirmed: credited; reorged: its log left the canonical chain. */
export const DEPOSIT_STATUSES = ['pending', 'confirmed', 'reorged'] as const;
export type DepositStatus = (typeof DEPOSIT_STATUSES)[number];

/** Where a Transfer log was seen: a block of the canonical chain at the time of the scan. */
export interface DepositSighting {
  blockNumber: number;
  blockHash: string;
}

/** One ERC-20 Transfer log to a user's deposit address, as the scanner found it. Addresses and hashes in lower case. */
export interface DepositInput extends DepositSighting {
  /** The workflow ID, `deposit-{chainId}-{txHash}-{logIndex}`: also the deposit's id in the API. */
  id: string;
  networkId: string;
  chainId: number;
  /** M2Pool's name of the network (M2POOL_CHAINS, e.g. ETH), as its notifications say it; the network id when it has none. */
  chain: string;
  token: { symbol: string; address: string; decimals: number };
  txHash: string;
  logIndex: number;
  from: string;
  to: string;
  uid: number;
  /** Base units, decimal. */
  amountUnits: string;
  /** Token units, decimal ("100.5"): the amount credited and notified. */
  amount: string;
  /** Blocks on top of the log's block before it counts (the network's confirmations when it was seen). */
  confirmations: number;
  /** Between two looks at the chain while waiting; a sighting or a reorg signal wakes the workflow sooner. */
  checkIntervalMs: number;
}

/** What the chain says of a deposit's log now. */
export interface DepositLogCheck {
  head: number;
  /** The canonical block holding the log (the same tx, log index, token, recipient and value); null when it holds none. */
  log: DepositSighting | null;
}

export interface DepositProgress {
  id: string;
  status: DepositStatus;
  blockNumber: number;
  blockHash: string;
  /** Blocks on top of the log's block at the last look (0 while it is not on the canonical chain). */
  confirmations: number;
  requiredConfirmations: number;
  transferId: string | null;
}

export type DepositResult = DepositProgress;

/** The scanner saw the deposit's log (again): the workflow looks at the chain at once. */
export const depositSeenSignal = defineSignal<[DepositSighting]>('depositSeen');
/** The scanner found that blocks at or above the deposit's were replaced: the workflow looks at the chain at once. */
export const chainReorgedSignal = defineSignal<[{ forkBlock: number }]>('chainReorged');
export const depositStatusQuery = defineQuery<DepositProgress>('status');

/** Blocks on top of `blockNumber` when the chain's head is `head` ("blocks on top of a transfer's block", networks table). */
export const confirmationsAt = (blockNumber: number, head: number): number => Math.max(0, head - blockNumber);

/** The ledger: a confirmed deposit moves its amount from the chain's account of the token to the user, once. */
export const depositTransferId = (chainId: number, txHash: string, logIndex: number): string => `deposit:${chainId}:${txHash}:${logIndex}`;
export const chainTokenAccount = (chainId: number, symbol: string): string => `external:chain:${chainId}:${symbol}`;

/** M2Pool's topup_resp statuses (domain/notification.ts): the notification id of each is `{depositId}:{status}`. */
export const TOPUP_STATUS = { pending: 2, confirmed: 1, reorged: 0 } as const;

/** Each log is its own workflow: a re-scan signals the running one; a closed one is not run again (see the scanner). */
export function depositStartOptions(input: DepositInput, taskQueue: string, reuse: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE' = 'REJECT_DUPLICATE') {
  return {
    taskQueue,
    workflowId: input.id,
    args: [input] as [DepositInput],
    workflowIdReusePolicy: reuse,
    typedSearchAttributes: [
      { key: PaymentKind, value: 'deposit' },
      { key: PaymentStatus, value: 'pending' },
      { key: Uid, value: [String(input.uid)] },
    ],
  };
}

// ---- the scanner ----

/** One scanner per network and token, `scanner-{chainId}-{symbol}`. */
export interface ScannerInput {
  networkId: string;
  chainId: number;
  tokenSymbol: string;
  /** Between two scans once the cursor has caught up with the head. */
  pollIntervalMs: number;
  /** Most blocks one scan reads (eth_getLogs ranges are limited by nodes). */
  maxBlocksPerScan: number;
  /** Given to each DepositWorkflow it starts. */
  depositCheckIntervalMs: number;
}

export interface ScanStepResult {
  /** The token or its network is no longer active (or gone): the scanner stops. */
  inactive: boolean;
  head: number;
  /** The last block scanned, after this step. */
  cursor: number;
  /** More blocks are waiting past the cursor: scan again without sleeping. */
  behind: boolean;
  /** A reorg moved the cursor back to this block (the last one still canonical), or -1 after a reset. */
  rewoundTo: number | null;
  /** The stored blocks matched nothing of this chain (a new chain, or a reorg deeper than the hashes kept): rescanned from far back. */
  reset: boolean;
  /** Transfer logs to deposit addresses found in the scanned range. */
  found: number;
  /** DepositWorkflows signalled (or started) for them; already confirmed deposits are not. */
  signalled: number;
}

export interface ScannerProgress {
  networkId: string;
  tokenSymbol: string;
  head: number | null;
  cursor: number | null;
  steps: number;
  deposits: number;
  reorgs: number;
  resets: number;
}

export const scannerStatusQuery = defineQuery<ScannerProgress>('status');

/** How many recent block hashes a cursor keeps to find the fork point of a reorg: well past the network's confirmations. */
export const reorgWindow = (confirmations: number): number => Math.min(512, Math.max(2 * confirmations, confirmations + 16));

/** A scanner is a reader, not a payment: one that was stopped or ended may run again under its ID. */
export function scannerStartOptions(input: ScannerInput, workflowId: string, taskQueue: string) {
  return {
    taskQueue,
    workflowId,
    args: [input] as [ScannerInput],
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    workflowIdReusePolicy: 'ALLOW_DUPLICATE' as const,
    typedSearchAttributes: [
      { key: PaymentKind, value: 'chain_scanner' },
      { key: PaymentStatus, value: 'running' },
    ],
  };
}
