// /api/v1/categories: what donors can give to (public), and the admin's upsert of a category.
import { Router } from 'express';
import { z } from 'zod';
import { listCategories, upsertCategory, type Category as CategoryRecord } from '../../db/categories';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { parseWith, Timestamp } from '../schemas';

const CategoryParams = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be 1-32 characters of a-z 0-9 _ -, starting with a letter or digit')
    .meta({ example: 'education' }),
});

const CategoryRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(64).meta({ example: '助学 Education' }),
    description: z.string().trim().max(255).optional().meta({ example: 'School fees, books and meals for pupils' }),
    active: z.boolean().optional().meta({ description: 'Inactive categories are hidden from donors and take no new donations.' }),
    sortOrder: z.number().int().min(-1_000_000).max(1_000_000).optional().meta({ description: 'Lower comes first.' }),
  })
  .meta({ id: 'CategoryRequest', description: 'Fields left out keep their stored values (on creation: "", true, 0).' });

const PublicCategory = z.object({ id: z.string(), name: z.string(), description: z.string() });
const CategoryList = z.object({ object: z.literal('list'), data: z.array(PublicCategory) }).meta({ id: 'CategoryList' });

const Category = z
  .object({
    object: z.literal('category'),
    id: z.string(),
    name: z.string(),
    description: z.string(),
    active: z.boolean(),
    sortOrder: z.number().int(),
    updatedAt: Timestamp,
  })
  .meta({ id: 'Category' });

const present = (category: CategoryRecord) => ({ object: 'category' as const, ...category });

export function categoryRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/categories',
    summary: 'Donation categories donors can choose (no key needed)',
    responses: {
      200: { description: 'The active categories, in display order.', content: { 'application/json': { schema: CategoryList } } },
      ...errorResponses(429, 503),
    },
  });
  router.get('/api/v1/categories', async (_req, res) => {
    const categories = await listCategories(db);
    res.json({ object: 'list', data: categories.map(({ id, name, description }) => ({ id, name, description })) });
  });

  registry.registerPath({
    method: 'put',
    path: '/api/v1/categories/{id}',
    summary: 'Create or change a donation category (admin)',
    security: SECURITY,
    request: { params: CategoryParams, body: { required: true, content: { 'application/json': { schema: CategoryRequest } } } },
    responses: {
      201: { description: 'Created.', content: { 'application/json': { schema: Category } } },
      200: { description: 'Changed.', content: { 'application/json': { schema: Category } } },
      ...errorResponses(400, 401, 403, 429, 503),
    },
  });
  router.put('/api/v1/categories/:id', requireScope('admin'), async (req, res) => {
    const { id } = parseWith(CategoryParams, req.params, 'path');
    const body = parseWith(CategoryRequest, req.body, 'body');
    const { category, created } = await upsertCategory(db, id, body);
    res.status(created ? 201 : 200).json(present(category));
  });

  return router;
}
