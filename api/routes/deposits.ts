// GET /api/v1/deposits (a user's, or in a status) and /api/v1/deposits/:id: ERC-20 deposits as their workflows recorded
// them; POST /api/v1/scanners (admin): starts the chain scanner of every active token, as `npm start` does.
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import { z } from 'zod';
import type { Config } from '../../config';
import { getDeposit, listDeposits, type Deposit } from '../../db/deposits';
import type { Db } from '../../db/knex';
import { listNetworks, listTokens } from '../../db/networks';
import { checksumAddress, scannerWorkflowId } from '../../domain/chain';
import { DEPOSIT_STATUSES, scannerStartOptions } from '../../domain/deposit';
import { DomainError } from '../../domain/errors';
import type { ChainScannerWorkflow } from '../../workflows/chain-scanner';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { parseWith, Timestamp } from '../schemas';

const Address = z.string().meta({ description: 'EIP-55 checksummed.', example: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' });

const DepositView = z
  .object({
    object: z.literal('deposit'),
    id: z.string().meta({ description: 'Also its workflow ID.', example: 'deposit-31337-0x9f0c…e41a-0' }),
    uid: z.number().int(),
    network: z.string().meta({ example: 'local' }),
    chainId: z.number().int().meta({ example: 31337 }),
    token: z.string().meta({ example: 'USDT' }),
    tokenAddress: Address,
    from: Address,
    to: Address.meta({ description: "The user's deposit address." }),
    amount: z.string().meta({ description: 'Token units, as credited.', example: '100.5' }),
    amountUnits: z.string().meta({ description: 'Base units, as in the Transfer log.', example: '100500000' }),
    txHash: z.string(),
    logIndex: z.number().int(),
    blockNumber: z.number().int().meta({ description: 'The block holding the log now (a reorg that re-includes it elsewhere moves it).' }),
    blockHash: z.string(),
    requiredConfirmations: z.number().int().meta({ description: "Blocks on top of the log's block it needs (the network's, when it was seen).", example: 3 }),
    status: z.enum(DEPOSIT_STATUSES).meta({ description: 'pending: seen, waiting for confirmations; confirmed: credited; reorged: the log left the chain, nothing credited.' }),
    transferId: z.string().nullable().meta({ description: 'The ledger transfer of the credit.', example: 'deposit:31337:0x9f0c…e41a:0' }),
    confirmedAt: Timestamp.nullable(),
    reorgedAt: Timestamp.nullable(),
    createdAt: Timestamp,
  })
  .meta({ id: 'Deposit' });

const DepositList = z
  .object({ object: z.literal('list'), data: z.array(DepositView), hasMore: z.boolean(), nextCursor: z.string().nullable() })
  .meta({ id: 'DepositList' });

const DepositsQuery = z.object({
  uid: z
    .string()
    .regex(/^[1-9]\d{0,15}$/, 'must be a positive integer')
    .transform(Number)
    .optional()
    .meta({ description: "Only this user's deposits.", example: '1001' }),
  status: z.enum(DEPOSIT_STATUSES).optional(),
  limit: z
    .string()
    .regex(/^\d{1,3}$/, 'must be an integer from 1 to 100')
    .transform(Number)
    .refine((n) => n >= 1 && n <= 100, 'must be an integer from 1 to 100')
    .optional()
    .meta({ description: 'Deposits per page, 1-100 (default 20).', example: '20' }),
  after: z
    .string()
    .regex(/^\d{1,19}$/, 'must be the nextCursor of the previous page')
    .transform(Number)
    .optional()
    .meta({ description: 'The nextCursor of the previous page.' }),
});

const DepositParams = z.object({ id: z.string().max(100).meta({ example: 'deposit-31337-0x9f0c…e41a-0' }) });

const Scanner = z
  .object({
    object: z.literal('scanner'),
    workflowId: z.string().meta({ example: 'scanner-31337-USDT' }),
    network: z.string().meta({ example: 'local' }),
    token: z.string().meta({ example: 'USDT' }),
  })
  .meta({ id: 'Scanner' });
const ScannerList = z.object({ object: z.literal('list'), data: z.array(Scanner) }).meta({ id: 'ScannerList' });

const present = (d: Deposit) => ({
  object: 'deposit' as const,
  id: d.id,
  uid: d.uid,
  network: d.networkId,
  chainId: d.chainId,
  token: d.tokenSymbol,
  tokenAddress: checksumAddress(d.tokenAddress),
  from: checksumAddress(d.from),
  to: checksumAddress(d.to),
  amount: d.amount,
  amountUnits: d.amountUnits,
  txHash: d.txHash,
  logIndex: d.logIndex,
  blockNumber: d.blockNumber,
  blockHash: d.blockHash,
  requiredConfirmations: d.requiredConfirmations,
  status: d.status,
  transferId: d.transferId,
  confirmedAt: d.confirmedAt,
  reorgedAt: d.reorgedAt,
  createdAt: d.createdAt,
});

export interface ScannerSettings {
  taskQueue: string;
  pollIntervalMs: number;
  maxBlocksPerScan: number;
  depositCheckIntervalMs: number;
}

export const scannerSettings = (config: Config): ScannerSettings => ({
  taskQueue: config.temporal.taskQueue,
  pollIntervalMs: config.deposits.scanIntervalMs,
  maxBlocksPerScan: config.deposits.scanMaxBlocks,
  depositCheckIntervalMs: config.deposits.checkIntervalMs,
});

/** Starts the scanner of every active token of every active network; one already running is left as it is. */
export async function startChainScanners(client: Client, db: Db, settings: ScannerSettings) {
  const tokens = await listTokens(db);
  const blockTimes = new Map((await listNetworks(db)).map((n) => [n.id, n.blockTimeMs]));
  return Promise.all(
    tokens.map(async (token) => {
      const workflowId = scannerWorkflowId(token.chainId, token.symbol);
      // Looks at a chain need not come more often than its blocks, nor less often: the intervals are at most a block's time.
      const blockTimeMs = blockTimes.get(token.networkId) || Number.POSITIVE_INFINITY;
      const input = {
        networkId: token.networkId,
        chainId: token.chainId,
        tokenSymbol: token.symbol,
        ...settings,
        pollIntervalMs: Math.min(settings.pollIntervalMs, blockTimeMs),
        depositCheckIntervalMs: Math.min(settings.depositCheckIntervalMs, blockTimeMs),
      };
      await client.workflow.start<typeof ChainScannerWorkflow>('ChainScannerWorkflow', scannerStartOptions(input, workflowId, settings.taskQueue));
      return { object: 'scanner' as const, workflowId, network: token.networkId, token: token.symbol };
    }),
  );
}

export function depositRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db, client, config } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/deposits',
    summary: 'ERC-20 deposits to users\' deposit addresses, newest first',
    description:
      'A deposit is pending from the moment its Transfer log is seen, confirmed (credited to the user once) when its block has the ' +
      "network's confirmations, reorged when the log left the chain before that. Pass a page's nextCursor as `after` for the next page.",
    security: SECURITY,
    request: { query: DepositsQuery },
    responses: {
      200: { description: 'A page of deposits.', content: { 'application/json': { schema: DepositList } } },
      ...errorResponses(400, 401, 403, 429, 503),
    },
  });
  router.get('/api/v1/deposits', requireScope('transfers:read'), async (req, res) => {
    const query = parseWith(DepositsQuery, req.query, 'query');
    const page = await listDeposits(db, { uid: query.uid, status: query.status, after: query.after, limit: query.limit ?? 20 });
    res.json({ object: 'list', data: page.data.map(present), hasMore: page.hasMore, nextCursor: page.nextCursor });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/deposits/{id}',
    summary: 'A deposit',
    security: SECURITY,
    request: { params: DepositParams },
    responses: {
      200: { description: 'The deposit.', content: { 'application/json': { schema: DepositView } } },
      ...errorResponses(401, 403, 404, 429, 503),
    },
  });
  router.get('/api/v1/deposits/:id', requireScope('transfers:read'), async (req, res) => {
    const id = String(req.params.id);
    const deposit = id.length <= 100 ? await getDeposit(db, id) : undefined;
    if (!deposit) throw new DomainError('not_found', `no deposit ${id}`);
    res.json(present(deposit));
  });

  registry.registerPath({
    method: 'post',
    path: '/api/v1/scanners',
    summary: 'Start the chain scanner of every active token (admin); idempotent',
    description:
      'One ChainScannerWorkflow per network and token (`scanner-{chainId}-{symbol}`) reads new blocks for transfers to deposit addresses. ' +
      '`npm start` starts them; call this after adding a network or token, or after stopping a scanner. A running scanner is left as it is.',
    security: SECURITY,
    responses: {
      200: { description: 'The scanners, running.', content: { 'application/json': { schema: ScannerList } } },
      ...errorResponses(401, 403, 429, 503),
    },
  });
  router.post('/api/v1/scanners', requireScope('admin'), async (_req, res) => {
    res.json({ object: 'list', data: await startChainScanners(client, db, scannerSettings(config)) });
  });

  return router;
}
