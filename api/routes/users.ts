// POST /api/v1/users: registers a user and opens their account (admin).
import { Router } from 'express';
import { z } from 'zod';
import { createUser } from '../../db/users';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { parseWith, Timestamp, Uid } from '../schemas';

const CreateUserRequest = z.object({ uid: Uid, name: z.string().trim().min(1).max(128).optional() }).meta({ id: 'CreateUserRequest' });

const User = z
  .object({ object: z.literal('user'), uid: z.number().int(), name: z.string().nullable(), createdAt: Timestamp })
  .meta({ id: 'User' });

export function userRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db, config } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'post',
    path: '/api/v1/users',
    summary: 'Register a user (admin); idempotent by uid',
    description: 'Opens the user\'s account in the default currency. Registering a uid again returns the stored user with 200.',
    security: SECURITY,
    request: { body: { required: true, content: { 'application/json': { schema: CreateUserRequest } } } },
    responses: {
      201: { description: 'Created.', content: { 'application/json': { schema: User } } },
      200: { description: 'The user already existed; the stored user.', content: { 'application/json': { schema: User } } },
      ...errorResponses(400, 401, 403, 429, 503),
    },
  });
  router.post('/api/v1/users', requireScope('admin'), async (req, res) => {
    const body = parseWith(CreateUserRequest, req.body, 'body');
    const { user, created } = await createUser(db, { uid: body.uid, name: body.name }, config.ledger.defaultCurrency);
    res.status(created ? 201 : 200).json({ object: 'user', ...user });
  });

  return router;
}
