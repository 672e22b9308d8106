// /api/v1/products (seed 003's product selection): what a checkout session can be made for (public), and the admin's
// upsert of a product. A session made with a productId takes the product's price, name and description.
import { Router } from 'express';
import { z } from 'zod';
import { listProducts, saveProduct, type Product as StoredProduct } from '../../db/products';
import { parseTokenAmount } from '../../domain/chain';
import { DomainError } from '../../domain/errors';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { Amount, parseWith } from '../schemas';

/** The ledger's scale: a price has at most 18 places (a token with fewer takes only the prices it can hold). */
const PRICE_SCALE = { symbol: 'price', decimals: 18 };

const ProductParams = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'must be 1-64 characters of a-z 0-9 _ -, starting with a letter or digit')
    .meta({ example: 'coffee-beans' }),
});

const ProductRequest = z
  .strictObject({
    name: z.string().trim().min(1).max(200).meta({ example: 'Coffee beans, 1 kg' }),
    description: z.string().trim().max(1000).optional().meta({ example: 'Single origin, roasted this week' }),
    price: Amount.meta({ description: 'In stablecoin units, greater than zero, at most 18 places: a session for it asks this much of the token picked.', example: '6.5' }),
    active: z.boolean().default(true).meta({ description: 'An inactive product is not listed and takes no new session.' }),
  })
  .meta({ id: 'ProductRequest' });

const Product = z
  .object({
    object: z.literal('product'),
    id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    price: z.string().meta({ example: '6.5' }),
    active: z.boolean(),
  })
  .meta({ id: 'Product' });
const ProductList = z.object({ object: z.literal('list'), data: z.array(Product) }).meta({ id: 'ProductList' });

const present = (product: StoredProduct) => ({ object: 'product' as const, ...product });

export function productRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/products',
    summary: 'Products a checkout session can be made for (no key needed)',
    responses: {
      200: { description: 'The active products, by id.', content: { 'application/json': { schema: ProductList } } },
      ...errorResponses(429, 503),
    },
  });
  router.get('/api/v1/products', async (_req, res) => {
    res.json({ object: 'list', data: (await listProducts(db)).map(present) });
  });

  registry.registerPath({
    method: 'put',
    path: '/api/v1/products/{id}',
    summary: 'Create or change a product (admin)',
    description: 'Sessions already made keep the price they were made with.',
    security: SECURITY,
    request: { params: ProductParams, body: { required: true, content: { 'application/json': { schema: ProductRequest } } } },
    responses: {
      201: { description: 'Created.', content: { 'application/json': { schema: Product } } },
      200: { description: 'Changed, or the same again.', content: { 'application/json': { schema: Product } } },
      ...errorResponses(400, 401, 403, 429, 503),
    },
  });
  router.put('/api/v1/products/:id', requireScope('admin'), async (req, res) => {
    const { id } = parseWith(ProductParams, req.params, 'path');
    const body = parseWith(ProductRequest, req.body, 'body');
    const price = parseTokenAmount(body.price, PRICE_SCALE, 'price');
    // DECIMAL(38,18) holds 20 digits before the point.
    if (price.split('.')[0].length > 20) throw new DomainError('invalid_amount', 'price has more than 20 digits before the point', { field: 'price' });
    const product = { id, name: body.name, description: body.description || null, price, active: body.active };
    const created = await saveProduct(db, product);
    res.status(created ? 201 : 200).json(present(product));
  });

  return router;
}
