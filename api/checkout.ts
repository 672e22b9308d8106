// The API's side of CheckoutSessionWorkflow: a session checked against networks and tokens, its run started (or joined)
// and its address awaited, a payer's tx hash handed to it, and sessions shown from their read model.
import { createHash, randomBytes } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import { getCheckoutSession, type CheckoutSessionRecord } from '../db/checkout';
import type { Db } from '../db/knex';
import { getNetwork, getToken } from '../db/networks';
import { getProduct, type Product } from '../db/products';
import { checksumAddress, parseTokenAmount, parseTxHash, toBaseUnits } from '../domain/chain';
import {
  awaitCheckoutAddressUpdate,
  checkoutStartOptions,
  checkoutWorkflowId,
  verifyCheckoutTxUpdate,
  type CheckoutSessionInput,
  type CheckoutStatus,
} from '../domain/checkout';
import { DomainError, isErrorCode } from '../domain/errors';
import { money, scaleOf } from '../domain/money';
import type { CheckoutSessionWorkflow } from '../workflows/checkout-session';
import { isCallDeadline } from './errors';
import type { Metrics } from './metrics';

export interface CheckoutDeps {
  client: Client;
  db: Db;
  config: Config;
  metrics: Pick<Metrics, 'workflowsStarted'>;
}

export interface PaymentCommand {
  idempotencyKey: string | undefined;
  /** One of the two: the amount, or the product whose price (and name and description) the session takes. */
  amount?: string | number;
  productId?: string;
  token: string;
  network: string;
  productName?: string;
  description?: string;
  expiresInSeconds?: number;
}

export interface PaymentTransactionView {
  txHash: string;
  logIndex: number;
  from: string;
  amount: string;
  blockNumber: number;
  confirmations: number;
  status: 'seen' | 'confirmed' | 'reorged';
  onChain: boolean;
  late: boolean;
  transferId: string | null;
}

/** A session as the API, its WebSocket and the pages show it. */
export interface PaymentView {
  object: 'payment';
  id: string;
  status: CheckoutStatus;
  productId: string | null;
  productName: string | null;
  description: string | null;
  network: string;
  chainId: number;
  token: string;
  tokenAddress: string;
  decimals: number;
  amount: string;
  amountUnits: string;
  address: string;
  paymentUri: string;
  qrImage: { png: string; svg: string };
  receivedAmount: string;
  pendingAmount: string;
  dueAmount: string;
  excessAmount: string;
  requiredConfirmations: number;
  transactionHash: string | null;
  blockNumber: number | null;
  confirmations: number;
  transactions: PaymentTransactionView[];
  expiresAt: string;
  watchUntil: string;
  paidAt: string | null;
  closed: boolean;
  createdAt: string;
  updatedAt: string;
  version: number;
  workflowId: string;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Payment ids: `pay_` and 24 hex digits, derived from the Idempotency-Key so a retry names the same session. */
const PAYMENT_ID = /^pay_[0-9a-f]{24}$/;
export const isPaymentId = (id: string): boolean => PAYMENT_ID.test(id);

function paymentIdFor(idempotencyKey: string | undefined): string {
  return `pay_${idempotencyKey === undefined ? randomBytes(12).toString('hex') : sha256(`checkout:${idempotencyKey}`).slice(0, 24)}`;
}

/** EIP-681: a wallet that scans it sends `units` of the token to `to` on the chain (`ethereum:<token>@<chainId>/transfer?…`). */
export function eip681Uri(tokenAddress: string, chainId: number, to: string, units: string): string {
  return `ethereum:${checksumAddress(tokenAddress)}@${chainId}/transfer?address=${checksumAddress(to)}&uint256=${units}`;
}

export function paymentView(record: CheckoutSessionRecord): PaymentView {
  const base = `/api/v1/payments/${record.id}`;
  const latest = record.transfers.filter((t) => t.state !== 'reorged').at(-1);
  const due = money(record.amount).minus(record.receivedAmount);
  return {
    object: 'payment',
    id: record.id,
    status: record.status,
    productId: record.productId,
    productName: record.productName,
    description: record.description,
    network: record.networkId,
    chainId: record.chainId,
    token: record.tokenSymbol,
    tokenAddress: checksumAddress(record.tokenAddress),
    decimals: record.tokenDecimals,
    amount: record.amount,
    amountUnits: record.amountUnits,
    address: checksumAddress(record.address),
    paymentUri: eip681Uri(record.tokenAddress, record.chainId, record.address, record.amountUnits),
    qrImage: { png: `${base}/qr.png`, svg: `${base}/qr.svg` },
    receivedAmount: record.receivedAmount,
    pendingAmount: record.pendingAmount,
    dueAmount: due.gt(0) ? due.toFixed() : '0',
    excessAmount: record.excessAmount,
    requiredConfirmations: record.requiredConfirmations,
    transactionHash: latest?.txHash ?? null,
    blockNumber: latest?.blockNumber ?? null,
    confirmations: latest?.confirmations ?? 0,
    transactions: record.transfers.map((t) => ({
      txHash: t.txHash,
      logIndex: t.logIndex,
      from: checksumAddress(t.from),
      amount: t.amount,
      blockNumber: t.blockNumber,
      confirmations: t.confirmations,
      status: t.state,
      onChain: t.onChain,
      late: t.late,
      transferId: t.transferId,
    })),
    expiresAt: record.expiresAt,
    watchUntil: record.watchUntil,
    paidAt: record.paidAt,
    closed: record.closedAt !== null,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    version: record.version,
    workflowId: checkoutWorkflowId(record.id),
  };
}

export async function findPayment(db: Db, id: string): Promise<CheckoutSessionRecord> {
  const record = isPaymentId(id) ? await getCheckoutSession(db, id) : undefined;
  if (!record) throw new DomainError('not_found', `no payment ${id}`);
  return record;
}

/** Everything a session is checked against before anything starts: network, token, amount, expiry. */
async function validatedSession(deps: CheckoutDeps, command: PaymentCommand, id: string): Promise<CheckoutSessionInput> {
  const { config, db } = deps;
  const network = await getNetwork(db, command.network);
  if (!network?.active) throw new DomainError('unknown_network', `network: no active network '${command.network}' (GET /api/v1/networks lists them)`);
  const token = await getToken(db, network.id, command.token);
  if (!token?.active) throw new DomainError('unknown_token', `token: no active token '${command.token}' on ${network.id} (GET /api/v1/tokens?network=${network.id} lists them)`);
  // The ledger credits the merchant in the token's currency.
  scaleOf(token.symbol);
  const scale = { symbol: token.symbol, decimals: token.decimals };
  const product = command.productId === undefined ? undefined : await productOnSale(db, command.productId);
  // A product's price is in stablecoin units: the same figure in the token picked, if the token has the places for it.
  const amount = parseTokenAmount(product ? product.price : command.amount, scale, product ? 'the product\'s price' : 'amount');
  const amountUnits = toBaseUnits(amount, scale);
  const productName = product ? product.name : command.productName?.trim() || null;
  const description = product ? product.description : command.description?.trim() || null;
  const expiresInMs = command.expiresInSeconds === undefined ? config.checkout.expiryMs : command.expiresInSeconds * 1000;
  const checkIntervalMs = config.checkout.checkIntervalMs || network.blockTimeMs;
  return {
    id,
    networkId: network.id,
    chainId: network.chainId,
    token: { symbol: token.symbol, address: token.contractAddress, decimals: token.decimals },
    amount,
    amountUnits,
    ...(product && { productId: product.id }),
    productName,
    description,
    requestDigest: sha256(
      JSON.stringify([network.id, token.symbol, amountUnits, productName, description, command.expiresInSeconds ?? null, ...(product ? [product.id] : [])]),
    ),
    confirmations: network.confirmations,
    expiresAt: new Date(Date.now() + expiresInMs).toISOString(),
    lateWindowMs: config.checkout.lateWindowMs,
    checkIntervalMs,
  };
}

/** The product a session is made for: unknown_product unless it exists and is active. */
async function productOnSale(db: Db, id: string): Promise<Product> {
  const product = await getProduct(db, id);
  if (!product) throw new DomainError('unknown_product', `productId: no product '${id}' (GET /api/v1/products lists them)`);
  if (!product.active) throw new DomainError('unknown_product', `productId: product '${id}' is no longer sold`);
  return product;
}

/** How long the API waits for the session's address: a local DB write in the workflow's first task. */
const ADDRESS_WAIT_MS = 15_000;
/** How long a payer's tx hash may take to be read from the chain (three attempts of the receipt). */
const PROCESS_WAIT_MS = 30_000;

function sameRequest(stored: CheckoutSessionRecord, session: CheckoutSessionInput): CheckoutSessionRecord {
  if (stored.requestDigest !== session.requestDigest) {
    throw new DomainError('idempotency_conflict', `this Idempotency-Key was used for another payment (${stored.id})`, { paymentId: stored.id });
  }
  return stored;
}

/**
 * Starts the session's CheckoutSessionWorkflow (or joins the run the Idempotency-Key already started) and answers once
 * it has its address. The same key with another body is an idempotency_conflict; bad input starts nothing.
 */
export async function createPayment(deps: CheckoutDeps, command: PaymentCommand): Promise<{ view: PaymentView; created: boolean }> {
  const session = await validatedSession(deps, command, paymentIdFor(command.idempotencyKey));
  const existing = await getCheckoutSession(deps.db, session.id);
  if (existing) return { view: paymentView(sameRequest(existing, session)), created: false };

  const start = new WithStartWorkflowOperation<typeof CheckoutSessionWorkflow>('CheckoutSessionWorkflow', checkoutStartOptions(session, deps.config.temporal.taskQueue));
  try {
    await deps.client.withDeadline(Date.now() + ADDRESS_WAIT_MS, () => deps.client.workflow.executeUpdateWithStart(awaitCheckoutAddressUpdate, { startWorkflowOperation: start }));
    deps.metrics.workflowsStarted.inc({ type: 'CheckoutSessionWorkflow' });
  } catch (err) {
    if (isCallDeadline(err)) throw new DomainError('workflow_unavailable', 'the payment was accepted but has no address yet; retry with the same Idempotency-Key');
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  const stored = await getCheckoutSession(deps.db, session.id);
  if (!stored) throw new DomainError('workflow_unavailable', 'the payment was accepted but is not recorded yet; retry with the same Idempotency-Key');
  return { view: paymentView(sameRequest(stored, session)), created: true };
}

/**
 * A payer's transaction: its transfers of the session's token to the session's address are handed to the workflow, which
 * follows them to their confirmations. One that pays nothing here is tx_not_for_payment; not mined, tx_not_found.
 */
export async function processPayment(deps: CheckoutDeps, id: string, txHash: string): Promise<PaymentView> {
  const hash = parseTxHash(txHash);
  const record = await findPayment(deps.db, id);
  if (record.closedAt !== null) throw new DomainError('payment_closed', `payment ${id} is closed: its address is no longer watched`);
  const handle = deps.client.workflow.getHandle<typeof CheckoutSessionWorkflow>(checkoutWorkflowId(id));
  try {
    await deps.client.withDeadline(Date.now() + PROCESS_WAIT_MS, () => handle.executeUpdate(verifyCheckoutTxUpdate, { args: [hash] }));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && isErrorCode(err.cause.type)) throw new DomainError(err.cause.type, err.cause.message);
    if (err instanceof WorkflowNotFoundError) throw new DomainError('payment_closed', `payment ${id} is closed: its address is no longer watched`);
    if (isCallDeadline(err)) throw new DomainError('workflow_unavailable', 'the transaction could not be checked in time; try again');
    throw err;
  }
  return paymentView(await findPayment(deps.db, id));
}
