// Deposit activities: the scanner's step (a range of blocks read for Transfer logs to deposit addresses and open checkout
// sessions' addresses, reorgs found by the hashes of the blocks read before, each match signalled to its DepositWorkflow or
// CheckoutSessionWorkflow) and the deposit's own records,
// chain checks and ledger credit. Each is safe to run twice.
import { Context } from '@temporalio/activity';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { watchedCheckoutAddresses } from '../db/checkout';
import {
  depositAddressOwners,
  depositStatuses,
  getScanCursor,
  markDepositConfirmed,
  markDepositReorged,
  moveDeposit,
  moveScanCursor,
  pendingDepositsAbove,
  recordDeposit,
  type Deposit,
  type ScanCursor,
} from '../db/deposits';
import type { Db } from '../db/knex';
import { createTransfer } from '../db/ledger';
import { getNetwork, getToken, type Network, type Token } from '../db/networks';
import { watchedAddresses } from '../db/wallets';
import { depositWorkflowId, fromBaseUnits } from '../domain/chain';
import {
  chainReorgedSignal,
  chainTokenAccount,
  depositSeenSignal,
  depositStartOptions,
  depositTransferId,
  reorgWindow,
  type DepositInput,
  type DepositLogCheck,
  type DepositSighting,
  type ScannerInput,
  type ScanStepResult,
} from '../domain/deposit';
import { userAccount } from '../domain/ledger';
import { signalCheckoutSessions, tellCheckoutSessionsReorged } from './checkout';
import { failingAsDomain } from './failures';
import { inBatches, SIGNAL_CONCURRENCY } from './in-batches';
import { createEvmClient, EvmRpcError, type BlockHeader, type EvmClient, type TransferLog } from './providers/evm-client';

/** DECIMAL(38,18) holds 20 integer digits: a larger transfer cannot be a ledger amount (no real token deposit is). */
const MAX_INTEGER_DIGITS = 20;

/** One client per chain, rebuilt when the network's RPC URLs change. */
function evmClients(timeoutMs: number): (network: Network) => EvmClient {
  const byChain = new Map<number, { urls: string; client: EvmClient }>();
  return (network) => {
    const urls = network.rpcUrls.join(' ');
    const known = byChain.get(network.chainId);
    if (known?.urls === urls) return known.client;
    known?.client.close();
    const client = createEvmClient({ chainId: network.chainId, rpcUrls: network.rpcUrls }, { timeoutMs });
    byChain.set(network.chainId, { urls, client });
    return client;
  };
}

type ForkCheck = { kind: 'same' } | { kind: 'fork'; block: number; keep: [number, string][] } | { kind: 'unknown' };

/**
 * Whether the blocks a cursor read are still the chain's: the newest stored hash matching means all of them do (each block
 * names its parent); else the newest one that matches is the fork point. None matching: a new chain, or a reorg deeper
 * than the hashes kept.
 */
async function checkForks(evm: EvmClient, cursor: ScanCursor, head: number): Promise<ForkCheck> {
  const recent = cursor.recentBlocks;
  if (recent.length === 0) return cursor.lastBlock > head ? { kind: 'unknown' } : { kind: 'same' };
  for (let i = recent.length - 1; i >= 0; i--) {
    const [number, hash] = recent[i];
    if (number > head) continue;
    const block = await evm.getBlock(number);
    if (block?.hash === hash) return i === recent.length - 1 ? { kind: 'same' } : { kind: 'fork', block: number, keep: recent.slice(0, i + 1) };
  }
  return { kind: 'unknown' };
}

/** Headers of blocks from…to, and whether each names the one before it (and the first the cursor's last block) as parent. */
async function linkedHeaders(evm: EvmClient, from: number, to: number, last: [number, string] | undefined): Promise<BlockHeader[] | null> {
  const headers = await Promise.all(Array.from({ length: to - from + 1 }, (_, i) => evm.getBlock(from + i)));
  if (headers.some((h) => h === null)) return null;
  const chain = headers as BlockHeader[];
  for (let i = 1; i < chain.length; i++) if (chain[i].parentHash !== chain[i - 1].hash) return null;
  if (last && last[0] === from - 1 && chain[0]?.parentHash !== last[1]) return null;
  return chain;
}

/** eth_getLogs over from…to, halving the range while the node finds it too large; returns the logs and the range's end. */
async function transferLogs(evm: EvmClient, token: string, to: string[], from: number, toBlock: number): Promise<{ logs: TransferLog[]; end: number }> {
  for (let end = toBlock; ; end = from + Math.floor((end - from) / 2)) {
    try {
      return { logs: await evm.getTransferLogs({ tokens: [token], to, fromBlock: from, toBlock: end }), end };
    } catch (err) {
      if (!(err instanceof EvmRpcError && err.code === 'log_range_too_large') || end === from) throw err;
    }
  }
}

export interface DepositSettings {
  rpcTimeoutMs: number;
  /** M2Pool's chain names → network ids (config.m2pool.chains): the notifications name a network as M2Pool does. */
  m2poolChains: Record<string, string>;
}

export function depositActivities(db: Db, settings: DepositSettings) {
  const evmFor = evmClients(settings.rpcTimeoutMs);
  const m2poolChainOf = new Map(Object.entries(settings.m2poolChains).map(([chain, networkId]) => [networkId, chain]));

  async function evmOfNetwork(networkId: string): Promise<EvmClient> {
    const network = await getNetwork(db, networkId);
    if (!network) throw new Error(`no network ${networkId}`);
    return evmFor(network);
  }

  function depositOf(scanner: ScannerInput, network: Network, token: Token, log: TransferLog, uid: number): DepositInput {
    return {
      id: depositWorkflowId(network.chainId, log.transactionHash, log.logIndex),
      networkId: network.id,
      chainId: network.chainId,
      chain: m2poolChainOf.get(network.id) ?? network.id,
      token: { symbol: token.symbol, address: token.contractAddress, decimals: token.decimals },
      txHash: log.transactionHash,
      logIndex: log.logIndex,
      from: log.from,
      to: log.to,
      uid,
      amountUnits: log.value,
      amount: fromBaseUnits(log.value, token.decimals),
      blockNumber: log.blockNumber,
      blockHash: log.blockHash,
      confirmations: network.confirmations,
      checkIntervalMs: scanner.depositCheckIntervalMs,
    };
  }

  /**
   * Signal-with-start of each deposit's workflow: a running one is woken, a new one started. A confirmed deposit needs
   * nothing; one found reorged whose log is back may run again (its closed run would refuse the ID otherwise).
   */
  async function signalDeposits(client: Client, taskQueue: string, deposits: DepositInput[]): Promise<number> {
    const statuses = await depositStatuses(db, deposits.map((d) => d.id));
    const due = deposits.filter((d) => statuses.get(d.id) !== 'confirmed');
    await inBatches(due, SIGNAL_CONCURRENCY, async (deposit) => {
      const sighting: DepositSighting = { blockNumber: deposit.blockNumber, blockHash: deposit.blockHash };
      const reuse = statuses.get(deposit.id) === 'reorged' ? 'ALLOW_DUPLICATE' : 'REJECT_DUPLICATE';
      try {
        await client.workflow.signalWithStart('DepositWorkflow', { ...depositStartOptions(deposit, taskQueue, reuse), signal: depositSeenSignal, signalArgs: [sighting] });
      } catch (err) {
        // Its run is closed: the deposit is final, and the row says so.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    });
    return due.length;
  }

  async function tellReorged(client: Client, scanner: ScannerInput, forkBlock: number): Promise<void> {
    const ids = await pendingDepositsAbove(db, scanner.networkId, scanner.tokenSymbol, forkBlock);
    await inBatches(ids, SIGNAL_CONCURRENCY, async (id) => {
      try {
        await client.workflow.getHandle(id).signal(chainReorgedSignal, { forkBlock });
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
    });
  }

  return {
    /**
     * One step of a scanner: checks the blocks read before are still the chain's (rewinding to the fork point, or far back
     * when nothing matches, and telling the pending deposits above it), reads the next range up to the head for Transfer
     * logs of the token to deposit addresses, signals each one's DepositWorkflow, then moves the cursor. Idempotent: the
     * cursor moves only from the state it was read in, and a log scanned twice signals the same workflow.
     */
    async scanChain(scanner: ScannerInput): Promise<ScanStepResult> {
      const [network, token] = await Promise.all([getNetwork(db, scanner.networkId), getToken(db, scanner.networkId, scanner.tokenSymbol)]);
      if (!network?.active || !token?.active || network.chainId !== scanner.chainId) {
        return { inactive: true, head: -1, cursor: -1, behind: false, rewoundTo: null, reset: false, found: 0, signalled: 0 };
      }
      const context = Context.current();
      const { client, info } = context;
      const evm = evmFor(network);
      const window = reorgWindow(network.confirmations);
      const head = await evm.blockNumber();
      let rewoundTo: number | null = null;
      let reset = false;

      let cursor: ScanCursor = (await getScanCursor(db, network.id, token.symbol)) ?? {
        networkId: network.id,
        tokenSymbol: token.symbol,
        chainId: network.chainId,
        // A new scanner looks back as far as a reorg could reach, not at the whole chain.
        lastBlock: Math.max(-1, head - window),
        recentBlocks: [],
        version: -1,
      };
      const forks = cursor.version < 0 ? ({ kind: 'same' } as const) : await checkForks(evm, cursor, head);
      if (forks.kind !== 'same') {
        const oldest = cursor.recentBlocks[0]?.[0] ?? cursor.lastBlock + 1;
        const target =
          forks.kind === 'fork'
            ? { lastBlock: forks.block, recentBlocks: forks.keep }
            : { lastBlock: Math.max(-1, Math.min(oldest, head + 1) - 1 - window), recentBlocks: [] as [number, string][] };
        // Told before the cursor moves: a retry after a crash between the two finds the fork again and tells them again.
        await tellReorged(client, scanner, target.lastBlock);
        await tellCheckoutSessionsReorged(client, db, network.id, token.symbol, target.lastBlock);
        if (!(await moveScanCursor(db, cursor, target, forks.kind === 'fork' ? 'reorg' : 'reset'))) {
          return { inactive: false, head, cursor: cursor.lastBlock, behind: true, rewoundTo: null, reset: false, found: 0, signalled: 0 };
        }
        cursor = { ...cursor, ...target, version: cursor.version + 1 };
        rewoundTo = target.lastBlock;
        reset = forks.kind === 'unknown';
      }

      const from = cursor.lastBlock + 1;
      const result = { inactive: false, head, cursor: cursor.lastBlock, behind: false, rewoundTo, reset, found: 0, signalled: 0 };
      if (from > head) {
        if (cursor.version < 0) await moveScanCursor(db, cursor, cursor);
        return result;
      }
      // Users' deposit addresses, and the addresses of the token's open checkout sessions.
      const watched = [...(await watchedAddresses(db, network.id)), ...(await watchedCheckoutAddresses(db, network.id, token.symbol))];
      const { logs, end } = await transferLogs(evm, token.contractAddress, watched, from, Math.min(head, from + scanner.maxBlocksPerScan - 1));
      context.heartbeat();
      const headers = await linkedHeaders(evm, Math.max(from, end - window + 1), end, cursor.recentBlocks.at(-1));
      context.heartbeat();
      const hashes = new Map(headers?.map((h) => [h.number, h.hash]));
      // The chain moved while it was read (a block replaced between the calls): read it again at the next step.
      if (!headers || logs.some((l) => hashes.has(l.blockNumber) && hashes.get(l.blockNumber) !== l.blockHash)) return { ...result, behind: true };

      const owners = await depositAddressOwners(db, network.id, [...new Set(logs.map((l) => l.to))]);
      const deposits = logs
        // Zero-value transfers are address-poisoning spam, not deposits.
        .filter((l) => owners.has(l.to) && l.value !== '0' && l.value.length - token.decimals <= MAX_INTEGER_DIGITS)
        .map((l) => depositOf(scanner, network, token, l, owners.get(l.to)!));
      const signalled = await signalDeposits(client, info.taskQueue, deposits);
      await signalCheckoutSessions(client, db, network.id, token, logs);

      const recentBlocks = [...cursor.recentBlocks.filter(([n]) => n < from), ...headers.map((h): [number, string] => [h.number, h.hash])].slice(-window);
      const moved = await moveScanCursor(db, cursor, { lastBlock: end, recentBlocks });
      return { ...result, cursor: moved ? end : cursor.lastBlock, behind: !moved || end < head, found: deposits.length, signalled };
    },

    /** Idempotent by deposit id: the first call records it pending, later ones find it (one found reorged is pending again). */
    async recordDeposit(input: DepositInput): Promise<Pick<Deposit, 'status' | 'blockNumber' | 'blockHash' | 'transferId'>> {
      const { status, blockNumber, blockHash, transferId } = await recordDeposit(db, input);
      return { status, blockNumber, blockHash, transferId };
    },

    /** A read: the canonical block holding the deposit's log (by its transaction's receipt), and the head. */
    async checkDepositLog(input: DepositInput): Promise<DepositLogCheck> {
      const evm = await evmOfNetwork(input.networkId);
      const [receipt, head] = await Promise.all([evm.getTransactionReceipt(input.txHash), evm.blockNumber()]);
      const log = receipt?.status === 1 && receipt.transfers.find(
        (t) => t.logIndex === input.logIndex && t.token === input.token.address && t.to === input.to && t.value === input.amountUnits,
      );
      return { head: Math.max(head, receipt?.blockNumber ?? 0), log: log ? { blockNumber: log.blockNumber, blockHash: log.blockHash } : null };
    },

    /** Idempotent: sets the pending deposit's block. */
    async moveDeposit(id: string, to: DepositSighting): Promise<void> {
      await moveDeposit(db, id, to);
    },

    /**
     * Credits the deposit to its user and marks it confirmed. Idempotent by the ledger transfer's id,
     * deposit:{chainId}:{txHash}:{logIndex}: a second call finds the transfer and the row already confirmed.
     */
    async creditDeposit(input: DepositInput): Promise<{ transferId: string }> {
      return failingAsDomain(async () => {
        const transferId = depositTransferId(input.chainId, input.txHash, input.logIndex);
        await createTransfer(db, {
          id: transferId,
          debitAccount: chainTokenAccount(input.chainId, input.token.symbol),
          creditAccount: userAccount(input.uid),
          amount: input.amount,
          currency: input.token.symbol,
          kind: 'deposit',
          reference: input.id,
        });
        await markDepositConfirmed(db, input.id, transferId);
        return { transferId };
      });
    },

    /** Idempotent: only a pending deposit changes. */
    async markDepositReorged(id: string): Promise<void> {
      await markDepositReorged(db, id);
    },
  };
}
