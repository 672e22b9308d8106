// /onePass/*: seed 001's routes with its `{ code, msg, requestId, data }` envelope, amounts as exact JSON numbers.
import { randomUUID } from 'node:crypto';
import { Router, type ErrorRequestHandler, type Request, type Response } from 'express';
import { LosslessNumber, stringify } from 'lossless-json';
import { z } from 'zod';
import { accountConsistency, getBalances } from '../../db/ledger';
import { findUsers } from '../../db/users';
import { DomainError } from '../../domain/errors';
import { userAccount } from '../../domain/ledger';
import { formatAmount, money, parseAmount } from '../../domain/money';
import { isIdempotencyKey } from '../../domain/transfer';
import type { RouteContext } from '../app';
import { submitBatch } from '../batch-payouts';
import { describeFailure, httpStatusOf } from '../errors';
import { SECURITY } from '../openapi';
import { Amount, LooseUid, parseWith } from '../schemas';
import { submitTransfer } from '../transfers';
import { assertUsersExist } from '../users';
import { BatchPayId } from './batch-payouts';

const MAX_QUERY_UIDS = 1000;

const BatchPayRequest = z
  .object({ batchPayId: BatchPayId, uids: z.array(LooseUid) })
  .meta({ id: 'OnePassBatchPayRequest', example: { batchPayId: 'batch_20240723_001', uids: [1001, 1002, 1003, 1004, 1005] } });
const UserTradeRequest = z.object({ sourceUid: LooseUid, targetUid: LooseUid, amount: Amount }).meta({ id: 'OnePassUserTradeRequest' });
const QueryUserAmountRequest = z.array(LooseUid).max(MAX_QUERY_UIDS).meta({ id: 'OnePassQueryUserAmountRequest', example: [1001, 1002, 1003] });
const ValidateBalanceRequest = z.object({ uid: LooseUid, expectedAmount: Amount }).meta({ id: 'OnePassValidateBalanceRequest' });

/** A JSON number printed with exactly the currency's places: 100.50 stays 100.50, big amounts lose nothing. */
const AmountNumber = z.number().meta({ description: 'A JSON number written with exactly the currency\'s decimal places.', example: 100.5 });

function envelope<T extends z.ZodType>(data: T, id: string) {
  return z
    .object({ code: z.number().int().meta({ example: 200 }), msg: z.string(), requestId: z.string(), data })
    .meta({ id });
}

const ErrorEnvelope = envelope(z.object({ error: z.string().meta({ example: 'insufficient_funds' }) }), 'OnePassError');
const onePassErrors = Object.fromEntries(
  [400, 401, 403, 409, 422, 429, 503].map((s) => [s, { description: `Error: code ${s}, data.error names it.`, content: { 'application/json': { schema: ErrorEnvelope } } }]),
);

const toNumber = (amount: string, currency: string) => new LosslessNumber(formatAmount(amount, currency));

function send(req: Request, res: Response, status: number, msg: string, data: unknown): void {
  res.status(status).type('application/json').send(stringify({ code: status, msg, requestId: String(req.id), data }));
}

/** Errors on /onePass keep the envelope: code and HTTP status are the mapped status, data names the error. */
export const onePassErrorHandler: ErrorRequestHandler = (err, req, res, _next) => {
  const error = describeFailure(err, req);
  if (res.headersSent) return;
  send(req, res, httpStatusOf(error.code), error.message, { error: error.code });
};

export function onePassRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db, config } = ctx;
  const currency = config.ledger.defaultCurrency;
  const router = Router();

  registry.registerPath({
    method: 'post',
    path: '/onePass/batchPay',
    summary: 'One-Pass: pay each user his whole available balance through the payout API',
    description:
      'Same engine as POST /api/v1/batch-payouts with `uids`: answers once the batch is stored and its workflow started; ' +
      'follow it at GET /api/v1/batch-payouts/{batchPayId}. The same batchPayId again starts nothing new; with other uids, code 409.',
    security: SECURITY,
    request: { body: { required: true, content: { 'application/json': { schema: BatchPayRequest } } } },
    responses: {
      200: { description: 'msg ok, data null.', content: { 'application/json': { schema: envelope(z.null(), 'OnePassBatchPayResponse') } } },
      ...onePassErrors,
    },
  });
  router.post('/onePass/batchPay', requireScope('transfers:write'), async (req, res) => {
    const body = parseWith(BatchPayRequest, req.body, 'body');
    await submitBatch(ctx, { batchPayId: body.batchPayId, currency, uids: body.uids });
    send(req, res, 200, 'ok', null);
  });

  registry.registerPath({
    method: 'post',
    path: '/onePass/userTrade',
    summary: 'One-Pass: transfer between users',
    description:
      'Same engine as POST /api/v1/transfers. An optional Idempotency-Key header makes a retry safe; without one each call is a new transfer.',
    security: SECURITY,
    request: {
      headers: z.object({ 'idempotency-key': z.string().optional() }),
      body: { required: true, content: { 'application/json': { schema: UserTradeRequest } } },
    },
    responses: {
      200: {
        description: 'msg 交易成功.',
        content: {
          'application/json': {
            schema: envelope(
              z.object({ sourceUid: z.number().int(), targetUid: z.number().int(), amount: AmountNumber, timestamp: z.number().int() }),
              'OnePassUserTradeResponse',
            ),
          },
        },
      },
      202: { description: 'Still processing after the wait (code 202); data.transferId can be polled at /api/v1/transfers/{id}.' },
      ...onePassErrors,
    },
  });
  router.post('/onePass/userTrade', requireScope('transfers:write'), async (req, res) => {
    const key = req.get('idempotency-key') ?? randomUUID();
    if (!isIdempotencyKey(key)) throw new DomainError('invalid_request', 'Idempotency-Key must be 1-100 characters of A-Z a-z 0-9 . _ : -');
    const body = parseWith(UserTradeRequest, req.body, 'body');
    const view = await submitTransfer(ctx, { idempotencyKey: key, kind: 'transfer', ...body, currency });
    const data = {
      sourceUid: body.sourceUid,
      targetUid: body.targetUid,
      amount: toNumber(view.amount!, currency),
      timestamp: Math.floor(Date.now() / 1000),
    };
    if (view.status === 'processing') send(req, res, 202, '交易处理中', { ...data, transferId: view.id });
    else send(req, res, 200, '交易成功', data);
  });

  registry.registerPath({
    method: 'post',
    path: '/onePass/queryUserAmount',
    summary: 'One-Pass: available balances of users (unknown uids are left out)',
    security: SECURITY,
    request: { body: { required: true, content: { 'application/json': { schema: QueryUserAmountRequest } } } },
    responses: {
      200: {
        description: 'msg ok.',
        content: {
          'application/json': {
            schema: envelope(z.array(z.object({ uid: z.number().int(), amount: AmountNumber })), 'OnePassQueryUserAmountResponse'),
          },
        },
      },
      ...onePassErrors,
    },
  });
  router.post('/onePass/queryUserAmount', requireScope('transfers:read'), async (req, res) => {
    const uids = [...new Set(parseWith(QueryUserAmountRequest, req.body, 'body'))];
    const users = await findUsers(db, uids);
    const known = uids.filter((uid) => users.has(uid));
    const balances = await getBalances(db, known.map(userAccount), currency);
    send(req, res, 200, 'ok', known.map((uid, i) => ({ uid, amount: toNumber(balances[i].available, currency) })));
  });

  registry.registerPath({
    method: 'post',
    path: '/onePass/validateBalance',
    summary: "One-Pass: compare a user's available balance with an expected amount, and check it against the journal",
    security: SECURITY,
    request: { body: { required: true, content: { 'application/json': { schema: ValidateBalanceRequest } } } },
    responses: {
      200: {
        description: 'msg ok.',
        content: {
          'application/json': {
            schema: envelope(
              z.object({
                uid: z.number().int(),
                expectedAmount: AmountNumber,
                actualAmount: AmountNumber,
                matches: z.boolean(),
                ledgerConsistent: z.boolean().meta({ description: "The account's balance equals the sum of its journal entries." }),
              }),
              'OnePassValidateBalanceResponse',
            ),
          },
        },
      },
      ...onePassErrors,
    },
  });
  router.post('/onePass/validateBalance', requireScope('transfers:read'), async (req, res) => {
    const body = parseWith(ValidateBalanceRequest, req.body, 'body');
    const expected = parseExpectedAmount(body.expectedAmount, currency);
    await assertUsersExist(db, [body.uid]);
    const account = userAccount(body.uid);
    const [[balance], consistency] = await Promise.all([getBalances(db, [account], currency), accountConsistency(db, account, currency)]);
    send(req, res, 200, 'ok', {
      uid: body.uid,
      expectedAmount: toNumber(expected, currency),
      actualAmount: toNumber(balance.available, currency),
      matches: money(balance.available).equals(money(expected)),
      ledgerConsistent: consistency.consistent,
    });
  });

  return router;
}

/** An expected balance may be zero, which parseAmount (made for amounts that move) refuses. */
function parseExpectedAmount(value: string | number, currency: string): string {
  if (/^0+(\.0+)?$/.test(String(value).trim())) return '0';
  return parseAmount(value, currency).toFixed();
}
