// GET /api/v1/balances: users' balances, held and available amounts, read from the ledger.
import { Router } from 'express';
import { z } from 'zod';
import { getBalances } from '../../db/ledger';
import { userAccount } from '../../domain/ledger';
import { formatAmount } from '../../domain/money';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { Currency, parseWith } from '../schemas';
import { assertUsersExist } from '../users';

const MAX_UIDS = 100;

const BalancesQuery = z.object({
  uids: z
    .string()
    .regex(/^\d{1,16}(,\d{1,16})*$/, 'must be comma-separated user ids, e.g. 1001,1002')
    .transform((s) => [...new Set(s.split(',').map(Number))])
    .refine((uids) => uids.every((uid) => uid > 0 && Number.isSafeInteger(uid)), 'user ids must be positive integers')
    .refine((uids) => uids.length <= MAX_UIDS, `at most ${MAX_UIDS} user ids`)
    .meta({ description: `Comma-separated user ids (at most ${MAX_UIDS}).`, example: '1001,1002' }),
  currency: Currency.optional(),
});

const Balance = z.object({
  uid: z.number().int(),
  currency: z.string(),
  balance: z.string().meta({ example: '500.00' }),
  held: z.string().meta({ description: 'Held by pending transfers.', example: '0.00' }),
  available: z.string().meta({ description: 'balance − held: what the user can spend.', example: '500.00' }),
});

const BalanceList = z.object({ object: z.literal('list'), data: z.array(Balance) }).meta({ id: 'BalanceList' });

export function balanceRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db, config } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/balances',
    summary: 'Balances of users in a currency',
    security: SECURITY,
    request: { query: BalancesQuery },
    responses: {
      200: { description: 'One entry per requested user, in the order asked.', content: { 'application/json': { schema: BalanceList } } },
      ...errorResponses(400, 401, 403, 422, 429, 503),
    },
  });
  router.get('/api/v1/balances', requireScope('transfers:read'), async (req, res) => {
    const query = parseWith(BalancesQuery, req.query, 'query');
    const currency = query.currency ?? config.ledger.defaultCurrency;
    await assertUsersExist(db, query.uids);
    const balances = await getBalances(db, query.uids.map(userAccount), currency);
    res.json({
      object: 'list',
      data: query.uids.map((uid, i) => ({
        uid,
        currency,
        balance: formatAmount(balances[i].balance, currency),
        held: formatAmount(balances[i].held, currency),
        available: formatAmount(balances[i].available, currency),
      })),
    });
  });

  return router;
}
