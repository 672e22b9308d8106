// The OpenAPI document: every route registers its zod schemas here, the same ones it validates with.
import { OpenAPIRegistry, OpenApiGeneratorV31, type ResponseConfig } from '@asteasolutions/zod-to-openapi';
import type { Config } from '../config';
import { ApiError } from './schemas';

export { OpenAPIRegistry };

/** Either way of presenting an API key. */
export const SECURITY: Record<string, string[]>[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }];

export function createOpenApiRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', description: 'An API key as a bearer token.' });
  registry.registerComponent('securitySchemes', 'apiKeyHeader', { type: 'apiKey', in: 'header', name: 'X-API-Key' });
  return registry;
}

export function buildOpenApiDocument(registry: OpenAPIRegistry, config: Config) {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'durapay',
      version: '1',
      description:
        'A payment engine in which every movement of money is a durable Temporal workflow. ' +
        'Errors under /api/v1 have the shape `{ "error": { "code", "message", "requestId" } }`; ' +
        '/onePass routes keep One-Pass\'s `{ code, msg, requestId, data }` envelope.',
    },
    servers: [{ url: config.api.publicUrl }],
  });
}

/** Express's `/transfers/:id` is OpenAPI's `/transfers/{id}`. */
export const openApiPath = (expressPath: string): string => expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Documented error answers of a route, by HTTP status. */
export function errorResponses(...statuses: number[]): Record<number, ResponseConfig> {
  const reasons: Record<number, string> = {
    400: 'Bad input (invalid_json, invalid_request, invalid_amount, amount_not_exact, too_many_decimals, unsupported_currency, same_account, idempotency_key_missing).',
    401: 'No API key, or an unknown one (unauthorized).',
    403: 'The API key lacks the scope (forbidden).',
    404: 'No such resource (not_found).',
    409: 'The Idempotency-Key was used for another request (idempotency_conflict, exists_with_different_fields).',
    422: 'Well-formed but not possible (unknown_user, account_not_found, insufficient_funds).',
    429: 'Too many requests from this address (rate_limited); see Retry-After.',
    503: 'Too many requests in flight (overloaded).',
  };
  return Object.fromEntries(statuses.map((s) => [s, { description: reasons[s] ?? 'Error.', content: { 'application/json': { schema: ApiError } } }]));
}
