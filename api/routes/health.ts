// GET /health: is the API up, and can it reach the database and Temporal.
import { Router } from 'express';
import { z } from 'zod';
import type { RouteContext } from '../app';

/** A dependency that does not answer in this time counts as down: a probe must answer quickly. */
const CHECK_TIMEOUT_MS = 2000;

const Check = z.enum(['ok', 'error']);
const Health = z
  .object({
    status: z.enum(['healthy', 'unhealthy']),
    service: z.literal('durapay'),
    timestamp: z.number().int().meta({ description: 'Unix seconds.', example: 1642764123 }),
    checks: z.object({ database: Check, temporal: Check }),
  })
  .meta({ id: 'Health' });

async function check(probe: () => Promise<unknown>): Promise<'ok' | 'error'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timed out')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([probe(), timeout]);
    return 'ok';
  } catch {
    return 'error';
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes(ctx: RouteContext): Router {
  const { registry, db, client } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/health',
    summary: 'Liveness and dependencies (no key needed)',
    responses: {
      200: { description: 'Healthy.', content: { 'application/json': { schema: Health } } },
      503: { description: 'A dependency is down.', content: { 'application/json': { schema: Health } } },
    },
  });
  router.get('/health', async (_req, res) => {
    const [database, temporal] = await Promise.all([
      check(() => db.raw('SELECT 1')),
      check(() => client.withDeadline(Date.now() + CHECK_TIMEOUT_MS, () => client.workflowService.getSystemInfo({}))),
    ]);
    const healthy = database === 'ok' && temporal === 'ok';
    res.status(healthy ? 200 : 503).json({
      status: healthy ? 'healthy' : 'unhealthy',
      service: 'durapay',
      timestamp: Math.floor(Date.now() / 1000),
      checks: { database, temporal },
    });
  });

  return router;
}
