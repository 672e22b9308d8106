// The API's side of WithdrawalWorkflow and MerchantPaymentWorkflow: validate (network, token, addresses, amount, user),
// start (or join) the run of a queue_id and wait until the user's balance is held, and show payouts from their read model.
// The REST routes (api/routes/withdrawals.ts) and M2Pool's signed routes both start payouts through here.
import { createHash } from 'node:crypto';
import { WithStartWorkflowOperation, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import { chainTxsOf, type ChainTxRecord } from '../db/chain-sends';
import type { Db } from '../db/knex';
import { getNetwork, getToken } from '../db/networks';
import { getWithdrawal, type WithdrawalRecord } from '../db/withdrawals';
import { ownerOfAddress } from '../db/wallets';
import { parseAddress, parseTokenAmount, toBaseUnits } from '../domain/chain';
import { DomainError, isErrorCode } from '../domain/errors';
import { parseAmount } from '../domain/money';
import {
  awaitHoldUpdate,
  chainPayoutStartOptions,
  chainPayoutWorkflowId,
  chainPayoutWorkflowType,
  isQueueId,
  type ChainPayoutKind,
  type ChainPayoutRequest,
} from '../domain/withdrawal';
import type { WithdrawalWorkflow } from '../workflows/withdrawal';
import { isCallDeadline } from './errors';
import { assertUsersExist } from './users';

export interface ChainPayoutDeps {
  client: Client;
  db: Db;
  config: Config;
}

/** What a caller asks for. The user is named by uid, or by M2Pool's from_address (the user's deposit address). */
export interface WithdrawalCommand {
  /** The idempotency key (M2Pool's queue_id, or the Idempotency-Key header). */
  queueId: string;
  uid?: number;
  fromAddress?: string;
  toAddress: string;
  /** In token units: a decimal string, or a JSON number that is exact. */
  amount: string | number;
  /** Our network id. */
  network: string;
  /** The token's symbol on that network. */
  token: string;
  /** What the final notification calls the chain (M2Pool's `chain`); M2POOL_CHAINS' name of the network, else its id. */
  chain?: string;
}

export interface MerchantPaymentCommand extends WithdrawalCommand {
  orderId: string;
}

export interface ChainPayoutTransaction {
  hash: string;
  nonce: number;
  /** 0 for the first signature, n for the n-th fee bump (which replaces the one before). */
  attempt: number;
  replaces: string | null;
  status: ChainTxRecord['status'];
  blockNumber: number | null;
}

/** A payout as the API shows it. */
export interface ChainPayoutView {
  id: string;
  kind: ChainPayoutKind;
  queueId: string;
  orderId: string | null;
  uid: number;
  fromAddress: string | null;
  toAddress: string;
  network: string;
  chainId: number;
  chain: string;
  token: string;
  amount: string;
  /** processing: accepted, not yet recorded; held, sent: on its way; confirmed, failed, refused: final. */
  status: 'processing' | 'held' | 'sent' | 'confirmed' | 'failed' | 'refused';
  wallet: { kind: 'hot' | 'collection'; address: string } | null;
  /** The transaction that was mined once final; the latest signature while it is followed. */
  txHash: string | null;
  blockNumber: number | null;
  transactions: ChainPayoutTransaction[];
  failure: { code: string; message: string } | null;
  createdAt: string | null;
  updatedAt: string | null;
  workflowId: string;
}

/** How long a start waits for the hold: a refusal (insufficient funds) is answered at once, a worker that is down is not waited for. */
const HOLD_WAIT_MS = 10_000;

const ORDER_ID = /^[\x21-\x7e]{1,128}$/;
const CHAIN_NAME = /^[A-Za-z0-9_-]{1,32}$/;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export const startWithdrawal = (deps: ChainPayoutDeps, command: WithdrawalCommand): Promise<{ view: ChainPayoutView; created: boolean }> =>
  startChainPayout(deps, 'withdrawal', { ...command, orderId: undefined });

export const startMerchantPayment = (deps: ChainPayoutDeps, command: MerchantPaymentCommand): Promise<{ view: ChainPayoutView; created: boolean }> =>
  startChainPayout(deps, 'payment', command);

/**
 * Starts the payout's workflow under its queue_id (or joins the run that has it) and waits until the user's balance is
 * held: insufficient funds (or an unknown user) is refused here, before anything is signed, with the workflow's error. Bad
 * input starts nothing. The same queue_id with another request is an idempotency_conflict; with the same one, the payout
 * as it is now (`created` false).
 */
async function startChainPayout(deps: ChainPayoutDeps, kind: ChainPayoutKind, command: WithdrawalCommand & { orderId?: string }): Promise<{ view: ChainPayoutView; created: boolean }> {
  const request = await validatedRequest(deps, kind, command);
  const existing = await getWithdrawal(deps.db, request.id);
  if (existing) return { view: await answer(deps, sameRequest(existing, request)), created: false };

  const start = new WithStartWorkflowOperation<typeof WithdrawalWorkflow>(chainPayoutWorkflowType(kind), chainPayoutStartOptions(request, deps.config.temporal.taskQueue));
  let joined = false;
  try {
    await deps.client.withDeadline(Date.now() + HOLD_WAIT_MS, () => deps.client.workflow.executeUpdateWithStart(awaitHoldUpdate, { startWorkflowOperation: start }));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && isErrorCode(err.cause.type)) {
      throw new DomainError(err.cause.type, err.cause.message);
    }
    if (err instanceof WorkflowExecutionAlreadyStartedError) joined = true;
    else if (!isCallDeadline(err)) throw err;
  }
  const stored = await getWithdrawal(deps.db, request.id);
  if (stored) return { view: await answer(deps, sameRequest(stored, request)), created: !joined };
  // Held, or about to be, but not recorded yet: no worker took the run within the wait.
  if (joined) throw new DomainError('workflow_ended', `the run of ${request.id} ended before recording the payout; GET it to see what is known`);
  return { view: viewOfRequest(request), created: true };
}

/** Everything checked before anything starts: the network and token, both addresses, the amount against the token, the user. */
async function validatedRequest(deps: ChainPayoutDeps, kind: ChainPayoutKind, command: WithdrawalCommand & { orderId?: string }): Promise<ChainPayoutRequest> {
  const { db, config } = deps;
  if (!isQueueId(command.queueId)) throw new DomainError('invalid_request', 'queueId must be 1-100 characters of A-Z a-z 0-9 . _ : -');
  if (kind === 'payment' && (command.orderId === undefined || !ORDER_ID.test(command.orderId))) {
    throw new DomainError('invalid_request', 'orderId must be 1-128 printable characters without spaces');
  }
  if (command.chain !== undefined && !CHAIN_NAME.test(command.chain)) throw new DomainError('invalid_request', 'chain must be 1-32 characters of A-Z a-z 0-9 _ -');

  const network = await getNetwork(db, command.network);
  if (!network?.active) {
    throw new DomainError('invalid_request', `network: ${network ? `'${command.network}' is not active` : `no network '${command.network}'`} (GET /api/v1/networks lists them)`);
  }
  const token = await getToken(db, network.id, command.token);
  if (!token?.active) {
    throw new DomainError('unsupported_currency', `token: '${command.token}' is not a token of network ${network.id} (GET /api/v1/tokens?network=${network.id} lists them)`);
  }
  const toAddress = parseAddress(command.toAddress, 'toAddress');
  const amount = parseTokenAmount(command.amount, token);
  // The user's balance is kept in the token's symbol: an amount the ledger cannot hold is refused here, not by the hold.
  parseAmount(amount, token.symbol);
  const { uid, fromAddress } = await payingUser(db, command);
  const chainName = command.chain ?? Object.entries(config.m2pool.chains).find(([, id]) => id === network.id)?.[0] ?? network.id;
  const orderId = kind === 'payment' ? command.orderId! : null;
  const follow = config.chain.sends;
  return {
    id: chainPayoutWorkflowId(kind, command.queueId),
    kind,
    queueId: command.queueId,
    orderId,
    uid,
    fromAddress,
    toAddress,
    amount,
    units: toBaseUnits(amount, token),
    network: network.id,
    chainId: network.chainId,
    chainName,
    token: { symbol: token.symbol, contract: token.contractAddress, decimals: token.decimals },
    currency: token.symbol,
    confirmations: network.confirmations,
    requestDigest: sha256(JSON.stringify([kind, uid, fromAddress, toAddress, amount, network.id, token.symbol, orderId, chainName])),
    follow: { pollMs: follow.confirmPollMs || network.blockTimeMs, stuckAfterMs: follow.stuckAfterMs, maxFeeBumps: follow.maxFeeBumps },
  };
}

/** The user whose balance pays: by uid, or the owner of M2Pool's from_address (a user's deposit address); both must agree. */
async function payingUser(db: Db, command: WithdrawalCommand): Promise<{ uid: number; fromAddress: string | null }> {
  if (command.fromAddress === undefined) {
    if (command.uid === undefined) throw new DomainError('invalid_request', 'name the paying user: uid, or fromAddress (their deposit address)');
    await assertUsersExist(db, [command.uid]);
    return { uid: command.uid, fromAddress: null };
  }
  const fromAddress = parseAddress(command.fromAddress, 'fromAddress');
  const owner = await ownerOfAddress(db, fromAddress);
  if (owner?.kind !== 'deposit' || owner.uid === null) {
    throw new DomainError('unknown_address', `fromAddress ${fromAddress} is not a user's deposit address (POST /api/v1/users/{uid}/deposit-addresses gives one)`);
  }
  if (command.uid !== undefined && command.uid !== owner.uid) throw new DomainError('invalid_request', `fromAddress ${fromAddress} is not user ${command.uid}'s deposit address`);
  return { uid: owner.uid, fromAddress };
}

function sameRequest(stored: WithdrawalRecord, request: ChainPayoutRequest): WithdrawalRecord {
  if (stored.requestDigest !== request.requestDigest) {
    throw new DomainError('idempotency_conflict', `queue_id ${request.queueId} was already used for a different ${request.kind === 'withdrawal' ? 'withdrawal' : 'merchant payment'}`);
  }
  return stored;
}

/** A payout asked for again: refused is refused again (the same 4xx), anything else is shown as it is now. */
async function answer(deps: ChainPayoutDeps, record: WithdrawalRecord): Promise<ChainPayoutView> {
  if (record.status === 'refused' && record.failure && isErrorCode(record.failure.code)) throw new DomainError(record.failure.code, record.failure.message);
  return viewOf(deps.db, record);
}

async function viewOf(db: Db, record: WithdrawalRecord): Promise<ChainPayoutView> {
  const txs = await chainTxsOf(db, record.id);
  const latest = txs[txs.length - 1];
  const sender = txs[0] && (await ownerOfAddress(db, txs[0].from));
  return {
    ...viewOfRequest({ ...record, token: { symbol: record.token }, chainName: record.chainName }),
    status: record.status === 'held' ? (latest ? 'sent' : 'held') : record.status,
    wallet: sender && (sender.kind === 'hot' || sender.kind === 'collection') ? { kind: sender.kind, address: sender.address } : null,
    txHash: record.txHash ?? latest?.hash ?? null,
    blockNumber: record.blockNumber,
    transactions: txs.map((tx) => ({ hash: tx.hash, nonce: tx.nonce, attempt: tx.attempt, replaces: tx.replaces, status: tx.status, blockNumber: tx.blockNumber })),
    failure: record.failure,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

type RequestFields = Pick<ChainPayoutRequest, 'id' | 'kind' | 'queueId' | 'orderId' | 'uid' | 'fromAddress' | 'toAddress' | 'network' | 'chainId' | 'chainName' | 'amount'> & {
  token: { symbol: string };
};

/** A payout accepted but not recorded yet: what was asked, status processing. */
function viewOfRequest(request: RequestFields): ChainPayoutView {
  return {
    id: request.id,
    kind: request.kind,
    queueId: request.queueId,
    orderId: request.orderId,
    uid: request.uid,
    fromAddress: request.fromAddress,
    toAddress: request.toAddress,
    network: request.network,
    chainId: request.chainId,
    chain: request.chainName,
    token: request.token.symbol,
    amount: request.amount,
    status: 'processing',
    wallet: null,
    txHash: null,
    blockNumber: null,
    transactions: [],
    failure: null,
    createdAt: null,
    updatedAt: null,
    workflowId: request.id,
  };
}

/**
 * A payout by its id (`withdrawal-{queueId}` / `payment-{queueId}`): from the read model once its hold is placed, else
 * processing while its run exists (the run's memo holds the request). Undefined when neither knows it.
 */
export async function findChainPayout(deps: Pick<ChainPayoutDeps, 'client' | 'db'>, kind: ChainPayoutKind, id: string): Promise<ChainPayoutView | undefined> {
  const record = await getWithdrawal(deps.db, id);
  if (record) return record.kind === kind ? viewOf(deps.db, record) : undefined;
  try {
    const description = await deps.client.workflow.getHandle(id).describe();
    const request = description.memo?.request as ChainPayoutRequest | undefined;
    if (description.type !== chainPayoutWorkflowType(kind) || !request) return undefined;
    return viewOfRequest(request);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
