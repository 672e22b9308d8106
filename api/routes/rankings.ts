// GET /api/v1/rankings: donors ranked by what they gave, by category and time range, a page at a time (no key needed).
import { Router } from 'express';
import { z } from 'zod';
import { DEFAULT_PAGE_SIZE, MAX_CUSTOM_DAYS, MAX_PAGE, MAX_PAGE_SIZE, RANKING_CATEGORY, RANKING_RANGES } from '../../domain/ranking';
import type { RouteContext } from '../app';
import { errorResponses } from '../openapi';
import { createRankings } from '../rankings';
import { parseWith } from '../schemas';

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a day as YYYY-MM-DD');
const PositiveInt = (max: number, fallback: number) => z.coerce.number().int().min(1).max(max).default(fallback);

const RankingQuery = z.object({
  category: z.string().regex(RANKING_CATEGORY, 'must be all or a category id').default('all').meta({ description: 'A category id, or `all`.', example: 'education' }),
  range: z.enum(RANKING_RANGES).default('all').meta({
    description:
      'Days counted, in the ranking\'s time zone (RANKING_TIME_ZONE, Asia/Shanghai by default): `today`, `week` (Monday to Sunday), ' +
      '`month`, `year` (the current calendar ones), `all` time, or `custom` from/to.',
  }),
  from: Day.optional().meta({ description: 'First day, included; with range=custom only.', example: '2026-01-01' }),
  to: Day.optional().meta({ description: `Last day, included; with range=custom only, at most ${MAX_CUSTOM_DAYS} days after from.`, example: '2026-01-31' }),
  page: PositiveInt(MAX_PAGE, 1).meta({ description: '1-based.' }),
  pageSize: PositiveInt(MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE).meta({ description: `At most ${MAX_PAGE_SIZE}.` }),
});

const RankedDonor = z.object({
  rank: z.number().int().meta({ description: '1-based position across pages; ties are ordered stably.', example: 1 }),
  uid: z.number().int().nullable().meta({ description: 'Null for a donation made without a user.', example: 1001 }),
  name: z.string().nullable().meta({ description: 'The latest name the donor gave.', example: '张三' }),
  total: z.string().meta({ description: 'Given in the range, refunds deducted (CNY).', example: '100.00' }),
  count: z.number().int().meta({ description: 'Donations paid in the range.', example: 2 }),
});

const Ranking = z
  .object({
    data: z.array(RankedDonor),
    page: z.number().int(),
    pageSize: z.number().int(),
    totalDonors: z.number().int().meta({ description: 'Donors ranked over every page.' }),
    category: z.string(),
    range: z.enum(RANKING_RANGES),
    from: z.string().nullable().meta({ description: 'The first day counted; null for all time.', example: '2026-07-01' }),
    to: z.string().nullable().meta({ description: 'The last day counted; null for all time.', example: '2026-07-31' }),
  })
  .meta({ id: 'Ranking' });

export function rankingRoutes(ctx: RouteContext): Router {
  const { registry, db, config } = ctx;
  const rankings = createRankings(db, { timeZone: config.donations.rankingTimeZone, currency: config.donations.currency });
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/rankings',
    summary: 'Donors ranked by total donated (no key needed)',
    description:
      'Ordered by total, highest first; equal totals keep one stable order, so pages never overlap or skip. ' +
      'A donation shows up as soon as it is paid; a refund lowers the total, and a donor left with nothing is not ranked.',
    request: { query: RankingQuery },
    responses: {
      200: { description: 'One page of the ranking.', content: { 'application/json': { schema: Ranking } } },
      ...errorResponses(400, 404, 429, 503),
    },
  });
  router.get('/api/v1/rankings', async (req, res) => {
    res.json(await rankings(parseWith(RankingQuery, req.query, 'query')));
  });

  return router;
}
