// GET /openapi.json (the document built from the routes' own zod schemas) and the Swagger UI at /docs.
import { Router } from 'express';
import swaggerUi from 'swagger-ui-express';
import { z } from 'zod';
import type { RouteContext } from '../app';
import { buildOpenApiDocument } from '../openapi';

export function docsRoutes(ctx: RouteContext): Router {
  const { registry, config } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/openapi.json',
    summary: 'This OpenAPI document (no key needed)',
    responses: { 200: { description: 'OpenAPI 3.1.', content: { 'application/json': { schema: z.looseObject({}) } } } },
  });
  // Built on first use, once every router has registered its paths.
  let document: ReturnType<typeof buildOpenApiDocument> | undefined;
  router.get('/openapi.json', (_req, res) => {
    document ??= buildOpenApiDocument(registry, config);
    res.json(document);
  });

  registry.registerPath({
    method: 'get',
    path: '/docs',
    summary: 'Swagger UI for this API (no key needed); its assets come from the swagger-ui-dist package',
    responses: { 200: { description: 'HTML.', content: { 'text/html': { schema: z.string() } } }, 301: { description: 'To /docs/.' } },
  });
  // The page loads its assets by relative URLs, which only resolve under /docs/.
  router.get('/docs', (req, res, next) => (req.originalUrl.split('?')[0].endsWith('/') ? next() : res.redirect(301, '/docs/')));
  router.use('/docs', swaggerUi.serveFiles(undefined, { swaggerUrl: '/openapi.json' }), swaggerUi.setup(undefined, { swaggerUrl: '/openapi.json', customSiteTitle: 'durapay API' }));

  return router;
}
