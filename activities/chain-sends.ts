// Chain sends: sign a token transfer from a funded wallet (nonce allocated and the signed bytes persisted in one DB
// transaction, before any broadcast), broadcast the persisted bytes, look at the chain, and replace a stuck transaction with
// a higher fee. Each is safe to run twice: the signed bytes are the idempotency key towards the node.
import { keccak256, Transaction, type TransactionRequest } from 'ethers';
import {
  attemptOf,
  getChainTx,
  getChainTxs,
  LIVE_STATUSES,
  markBroadcast,
  recordOutcome,
  recordReplacement,
  recordSighting,
  unminedBefore,
  withSender,
  type ChainTxRecord,
} from '../db/chain-sends';
import type { Db } from '../db/knex';
import { collectionWallet, hotWallet, type NetworkWallet } from '../db/wallets';
import { confirmationWorkflowId, fromBaseUnits } from '../domain/chain';
import type { ChainTxObservation } from '../domain/withdrawal';
import type { ChainClients } from './chain-clients';
import { failingAsDomain } from './failures';
import { ERC20, EvmRpcError, type EvmClient, type FeeData } from './providers/evm-client';
import type { WalletSigner } from './providers/wallet-keys';

/** A token transfer to make from one of a network's wallets: the hot one, or the collection one when the hot one is short. */
export interface TokenSend {
  chainId: number;
  network: string;
  /** The workflow making it: a second call with the same reference returns the first call's transaction. */
  reference: string;
  purpose: string;
  /** The token contract, lower case. */
  token: string;
  tokenSymbol: string;
  tokenDecimals: number;
  recipient: string;
  /** Base units, decimal. */
  units: string;
}

export interface SignedSend {
  hash: string;
  nonce: number;
  wallet: { kind: NetworkWallet['kind']; address: string };
  /** ChainConfirmationWorkflow's ID for this transaction. */
  confirmWorkflowId: string;
  /** When sendTokenTransfer gave a node the bytes (ms since the epoch); absent when it found them broadcast before. */
  broadcastAt?: number;
}

export type SignTokenTransferResult = { sent: SignedSend } | { short: { code: 'wallets_short' | 'chain_tx_reverted'; message: string } };

/** sent: a node took the bytes now; known: it had them (pooled or mined); nonce_used: another transaction has its nonce; refused: the node would not take them (why). */
export type BroadcastResult = { result: 'sent' | 'known' | 'nonce_used' } | { result: 'refused'; reason: string };

/** Gas estimates are exact for the state they ran on; the headroom covers a token whose costs move with its storage. */
const GAS_HEADROOM_PERCENT = 120n;
/** A replacement pays at least this much more (per mille) than what it replaces: nodes ask 10%. */
const BUMP_PER_MILLE = 1125n;
/** "Nonce too high": a node that does not queue (Hardhat automining) refused a transaction whose predecessor it lacks. */
const NONCE_GAP = /nonce too high|nonce gap/i;

export interface ChainSendDeps {
  db: Db;
  chains: ChainClients;
  signer: WalletSigner;
}

export function chainSendActivities({ db, chains, signer }: ChainSendDeps) {
  /** Sends the persisted bytes; a node that lacks an earlier transaction of the sender gets those first. */
  async function broadcast(client: EvmClient, tx: ChainTxRecord): Promise<BroadcastResult> {
    try {
      const { alreadyKnown } = await client.sendRawTransaction(tx.raw);
      await markBroadcast(db, tx.chainId, tx.hash);
      return { result: alreadyKnown ? 'known' : 'sent' };
    } catch (err) {
      if (!(err instanceof EvmRpcError)) throw err;
      if (err.code === 'nonce_too_low') return { result: 'nonce_used' };
      if (NONCE_GAP.test(err.message) && (await sendPredecessors(client, tx)) > 0) return broadcast(client, tx);
      if (err.code === 'insufficient_funds' || err.code === 'replacement_underpriced' || err.code === 'invalid_request') return { result: 'refused', reason: err.message };
      throw err;
    }
  }

  /** Re-sends our unmined transactions at the sender's nonces below tx's that no block holds yet, in nonce order. */
  async function sendPredecessors(client: EvmClient, tx: ChainTxRecord): Promise<number> {
    const mined = await client.getTransactionCount(tx.from, 'latest');
    const earlier = await unminedBefore(db, tx.chainId, tx.from, mined, tx.nonce);
    for (const before of earlier) {
      try {
        await client.sendRawTransaction(before.raw);
        await markBroadcast(db, before.chainId, before.hash);
      } catch (err) {
        if (!(err instanceof EvmRpcError) || err.retryable) throw err;
      }
    }
    return earlier.length;
  }

  async function chainTx(chainId: number, hash: string): Promise<ChainTxRecord> {
    const tx = await getChainTx(db, chainId, hash);
    if (!tx) throw new Error(`no persisted transaction ${hash} on chain ${chainId}`);
    return tx;
  }

  /** Broadcasts a persisted transaction as read: one no longer live is left alone. */
  async function broadcastPersisted(tx: ChainTxRecord): Promise<BroadcastResult> {
    if (!LIVE_STATUSES.includes(tx.status)) return { result: 'known' };
    return broadcast(await chains.forChain(tx.chainId), tx);
  }

  /** signTokenTransfer's work, with the persisted transaction it signed or found (read in this call). */
  async function sign(send: TokenSend): Promise<{ sent: SignedSend; tx: ChainTxRecord } | { short: { code: 'wallets_short' | 'chain_tx_reverted'; message: string } }> {
    const done = await attemptOf(db, send.reference, 0);
    if (done) return found(done, send.network);
    const client = await chains.forChain(send.chainId);
    const data = ERC20.encodeFunctionData('transfer', [send.recipient, BigInt(send.units)]);
    const fees = await client.feeData();
    const shortfalls: string[] = [];
    let reverts: string | undefined;
    // The collection wallet's row is read only when the hot one is short.
    for (const walletOf of [hotWallet, collectionWallet]) {
      const wallet = await walletOf(db, send.network);
      const attempt = await signFrom(wallet, send, data, fees);
      if ('sent' in attempt) return attempt;
      shortfalls.push(`${wallet.kind} wallet ${attempt.short}`);
      if (attempt.reverts) reverts = attempt.short;
    }
    // Another run of this send may have persisted it while this one found the wallets short (its send counted as ours).
    const other = await attemptOf(db, send.reference, 0);
    if (other) return found(other, send.network);
    if (reverts) return { short: { code: 'chain_tx_reverted', message: `the token transfer would revert: ${reverts}` } };
    return { short: { code: 'wallets_short', message: `no wallet can pay it: ${shortfalls.join('; ')}` } };
  }

  const activities = {
    /**
     * Signs `send` from the first of the network's hot and collection wallets that holds the tokens and the gas (what our
     * unmined sends from it still take counted out), persisting the signed bytes with their nonce in one DB transaction.
     * Idempotent by reference: a second call returns the transaction the first one persisted.
     */
    async signTokenTransfer(send: TokenSend): Promise<SignTokenTransferResult> {
      return failingAsDomain(async () => {
        const signed = await sign(send);
        return 'sent' in signed ? { sent: signed.sent } : signed;
      });
    },

    /**
     * signTokenTransfer, then the broadcast of the bytes it persisted: one task for both. Idempotent as both are: a second
     * run finds the persisted transaction and gives the node the same bytes.
     */
    async sendTokenTransfer(send: TokenSend): Promise<SignTokenTransferResult> {
      return failingAsDomain(async () => {
        const signed = await sign(send);
        if (!('sent' in signed)) return signed;
        const wasLive = LIVE_STATUSES.includes(signed.tx.status);
        await broadcastPersisted(signed.tx);
        return { sent: wasLive ? { ...signed.sent, broadcastAt: Date.now() } : signed.sent };
      });
    },

    /** Broadcasts a persisted transaction's bytes (again). Idempotent: a node that has them answers known. */
    async broadcastChainTx(chainId: number, hash: string): Promise<BroadcastResult> {
      return failingAsDomain(async () => broadcastPersisted(await chainTx(chainId, hash)));
    },

    /** No node knows any attempt: broadcasts them again, newest first, until one is taken. Returns the hash taken, if any. */
    async rebroadcastChainTx(chainId: number, hashes: string[]): Promise<string | null> {
      return failingAsDomain(async () => {
        const client = await chains.forChain(chainId);
        for (const hash of [...hashes].reverse()) {
          const sent = await broadcast(client, await chainTx(chainId, hash));
          if (sent.result !== 'refused') return hash;
        }
        return null;
      });
    },

    /** Gives the node the sender's earlier transactions it lacks (they hold this one back). Returns how many were sent. */
    async rebroadcastPredecessors(chainId: number, hash: string): Promise<number> {
      return failingAsDomain(async () => sendPredecessors(await chains.forChain(chainId), await chainTx(chainId, hash)));
    },

    /**
     * Looks at the chain for a nonce's attempts (first to last) and records what it saw (mined, or back to broadcast after a
     * reorg). An attempt counts as mined only when its block is still the canonical one at that height.
     */
    async observeChainTx(chainId: number, hashes: string[]): Promise<ChainTxObservation> {
      return failingAsDomain(async () => {
        const attempts = await getChainTxs(db, chainId, hashes);
        const latest = attempts.find((tx) => tx.hash === hashes[hashes.length - 1]);
        if (!latest) throw new Error(`no persisted transaction ${hashes[hashes.length - 1]} on chain ${chainId}`);
        const client = await chains.forChain(chainId);
        const [head, receipts, minedNonces] = await Promise.all([
          client.blockNumber(),
          Promise.all(hashes.map((h) => client.getTransactionReceipt(h))),
          client.getTransactionCount(latest.from, 'latest'),
        ]);
        let receipt = receipts.find((r) => r !== null) ?? null;
        // Read from the node's canonical chain, but a reorg may have come between the calls: the block must still be there.
        if (receipt && (await client.getBlock(receipt.blockNumber))?.hash !== receipt.blockHash) receipt = null;
        const mined = receipt && { hash: receipt.transactionHash, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash, status: receipt.status };
        let known = mined !== null;
        let marketAbove = false;
        if (!mined) {
          const [pooled, fees] = await Promise.all([Promise.all(hashes.map((h) => client.getTransaction(h))), client.feeData()]);
          known = pooled.some((t) => t !== null);
          marketAbove = isMarketAbove(latest, fees);
        }
        await recordSighting(db, chainId, attempts, mined);
        return { head: Math.max(head, mined?.blockNumber ?? 0), mined, known, minedNonces, nonce: latest.nonce, marketAbove };
      });
    },

    /**
     * Replaces the latest attempt at a nonce with a new signature paying more (at least 12.5% more, and what the market
     * asks now), persisted before it is broadcast; both stay tracked and whichever is mined wins. Idempotent by attempt:
     * a second call returns the replacement the first one made. Null when there is nothing to replace (mined, nonce used)
     * or the wallet cannot pay the dearer gas.
     */
    async replaceChainTx(chainId: number, hash: string): Promise<{ hash: string; broadcast: BroadcastResult } | null> {
      return failingAsDomain(async () => {
        const tx = await chainTx(chainId, hash);
        const client = await chains.forChain(chainId);
        const made = await attemptOf(db, tx.reference, tx.attempt + 1);
        if (made) return { hash: made.hash, broadcast: await broadcast(client, made) };
        if (tx.status !== 'signed' && tx.status !== 'broadcast') return null;
        const [fees, minedNonces, gasBalance] = await Promise.all([client.feeData(), client.getTransactionCount(tx.from, 'latest'), client.nativeBalance(tx.from)]);
        if (minedNonces > tx.nonce) return null;
        const original = Transaction.from(tx.raw);
        const bumped = bumpedFees(tx, fees);
        if (BigInt(gasBalance) < BigInt(tx.gasLimit) * BigInt(bumped.maxFeePerGas ?? bumped.gasPrice!)) return null;
        const request: TransactionRequest = {
          type: original.type,
          chainId: original.chainId,
          nonce: original.nonce,
          to: original.to,
          data: original.data,
          value: original.value,
          gasLimit: original.gasLimit,
          ...(bumped.maxFeePerGas === null ? { gasPrice: BigInt(bumped.gasPrice!) } : { maxFeePerGas: BigInt(bumped.maxFeePerGas), maxPriorityFeePerGas: BigInt(bumped.maxPriorityFeePerGas!) }),
        };
        const raw = await signer.signTransaction(tx.from, request);
        const replacement = await recordReplacement(db, { ...tx, ...bumped, hash: keccak256(raw).toLowerCase(), raw, attempt: tx.attempt + 1, replaces: tx.hash });
        return { hash: replacement.hash, broadcast: await broadcast(client, replacement) };
      });
    },

    /** Records how a nonce's attempts ended. Idempotent. */
    async recordChainTxOutcome(
      chainId: number,
      hashes: string[],
      outcome: { winner: string; status: 'confirmed' | 'failed'; blockNumber: number; blockHash: string } | { dropped: true },
    ): Promise<void> {
      await recordOutcome(db, chainId, hashes, outcome);
    },
  };
  return activities;

  /** One wallet's try: its balances against the send and what our unmined sends from it still take, then the signature. */
  async function signFrom(
    wallet: NetworkWallet,
    send: TokenSend,
    data: string,
    fees: FeeData,
  ): Promise<{ sent: SignedSend; tx: ChainTxRecord } | { short: string; reverts?: boolean }> {
    const client = await chains.forChain(send.chainId);
    const from = wallet.address;
    const [tokenBalance, gasBalance, chainNext] = await Promise.all([
      client.tokenBalance(send.token, from).then(BigInt),
      client.nativeBalance(from).then(BigInt),
      client.getTransactionCount(from, 'pending'),
    ]);
    const units = BigInt(send.units);
    const tokens = (value: bigint) => `${fromBaseUnits(value.toString(), send.tokenDecimals)} ${send.tokenSymbol}`;
    const ether = (value: bigint) => `${fromBaseUnits(value.toString(), 18)} of gas money`;
    if (tokenBalance < units) return { short: `holds ${tokens(tokenBalance)}, ${tokens(units)} needed` };

    let gas: bigint;
    try {
      gas = BigInt(await client.estimateGas({ from, to: send.token, data }));
    } catch (err) {
      if (err instanceof EvmRpcError && err.code === 'execution_reverted') return { short: err.message, reverts: true };
      if (err instanceof EvmRpcError && err.code === 'insufficient_funds') return { short: `cannot pay any gas (${err.message})` };
      throw err;
    }
    const gasLimit = (gas * GAS_HEADROOM_PERCENT) / 100n;
    const feeFields =
      fees.maxFeePerGas !== null
        ? { maxFeePerGas: fees.maxFeePerGas, maxPriorityFeePerGas: fees.maxPriorityFeePerGas ?? '0', gasPrice: null }
        : { maxFeePerGas: null, maxPriorityFeePerGas: null, gasPrice: fees.gasPrice ?? '0' };
    const gasCost = gasLimit * BigInt(feeFields.maxFeePerGas ?? feeFields.gasPrice!);

    // Read now, not under the sender's lock: signing there then needs no other connection of the pool.
    const key = await signer.keyOf(from);
    // A reference persisted already (by another run) is found by the catch below: its insert fails on (reference, attempt).
    return withSender(db, send.chainId, from, async (sender) => {
      const reserved = await sender.reserved(send.token);
      if (tokenBalance - reserved.tokenUnits < units) {
        return { short: `holds ${tokens(tokenBalance)} of which our unmined sends take ${tokens(reserved.tokenUnits)}, ${tokens(units)} needed` };
      }
      if (gasBalance - reserved.gasWei < gasCost) {
        return { short: `holds ${ether(gasBalance)} of which our unmined sends may take ${ether(reserved.gasWei)}, ${ether(gasCost)} needed` };
      }
      const nonce = sender.nextNonce(chainNext);
      const raw = await key.signTransaction({
        chainId: BigInt(send.chainId),
        nonce,
        to: send.token,
        data,
        value: 0n,
        gasLimit,
        ...(feeFields.maxFeePerGas !== null
          ? { type: 2, maxFeePerGas: BigInt(feeFields.maxFeePerGas), maxPriorityFeePerGas: BigInt(feeFields.maxPriorityFeePerGas!) }
          : { type: 0, gasPrice: BigInt(feeFields.gasPrice!) }),
      });
      const tx = await sender.record({
        chainId: send.chainId,
        hash: keccak256(raw).toLowerCase(),
        from,
        nonce,
        attempt: 0,
        replaces: null,
        purpose: send.purpose,
        reference: send.reference,
        to: send.token,
        token: send.token,
        recipient: send.recipient,
        tokenUnits: send.units,
        valueWei: '0',
        gasLimit: gasLimit.toString(),
        ...feeFields,
        raw,
      });
      return { sent: { hash: tx.hash, nonce, wallet: { kind: wallet.kind, address: from }, confirmWorkflowId: confirmationWorkflowId(send.chainId, tx.hash) }, tx };
    }).catch(async (err) => {
      // Another run of this activity persisted the reference's transaction first (from this wallet or the other one).
      if ((err as { code?: string }).code !== 'ER_DUP_ENTRY') throw err;
      const first = await attemptOf(db, send.reference, 0);
      if (!first) throw err;
      return found(first, send.network);
    });
  }

  /** The send a reference persisted already, as signTokenTransfer answers it. */
  async function found(tx: ChainTxRecord, network: string): Promise<{ sent: SignedSend; tx: ChainTxRecord }> {
    const hot = await hotWallet(db, network);
    const kind = hot.address === tx.from ? 'hot' : 'collection';
    return { sent: { hash: tx.hash, nonce: tx.nonce, wallet: { kind, address: tx.from }, confirmWorkflowId: confirmationWorkflowId(tx.chainId, tx.hash) }, tx };
  }
}

/** Whether the fee market now asks more than a transaction pays: it may wait behind dearer ones for good. */
function isMarketAbove(tx: ChainTxRecord, fees: FeeData): boolean {
  if (tx.maxFeePerGas !== null) {
    return BigInt(fees.maxFeePerGas ?? fees.gasPrice ?? '0') > BigInt(tx.maxFeePerGas) || BigInt(fees.maxPriorityFeePerGas ?? '0') > BigInt(tx.maxPriorityFeePerGas ?? '0');
  }
  return BigInt(fees.gasPrice ?? '0') > BigInt(tx.gasPrice ?? '0');
}

/** The fees of a replacement: at least BUMP_PER_MILLE of the old ones (rounded up), and at least the market's. */
function bumpedFees(tx: ChainTxRecord, fees: FeeData): { maxFeePerGas: string | null; maxPriorityFeePerGas: string | null; gasPrice: string | null } {
  const bump = (value: string | null) => (BigInt(value ?? '0') * BUMP_PER_MILLE + 999n) / 1000n + 1n;
  const atLeast = (a: bigint, b: string | null) => (b !== null && BigInt(b) > a ? BigInt(b) : a);
  if (tx.maxFeePerGas === null) return { maxFeePerGas: null, maxPriorityFeePerGas: null, gasPrice: atLeast(bump(tx.gasPrice), fees.gasPrice).toString() };
  const tip = atLeast(bump(tx.maxPriorityFeePerGas), fees.maxPriorityFeePerGas);
  const cap = atLeast(atLeast(bump(tx.maxFeePerGas), fees.maxFeePerGas), tip.toString());
  return { maxFeePerGas: cap.toString(), maxPriorityFeePerGas: tip.toString(), gasPrice: null };
}
