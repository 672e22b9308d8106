// GET /api/v1/networks and /api/v1/tokens (seed 003): the chains and tokens payments can use (no key needed). RPC URLs
// are never shown: they may carry a provider's key.
import { Router } from 'express';
import { z } from 'zod';
import { listNetworks, listTokens } from '../../db/networks';
import { checksumAddress } from '../../domain/chain';
import type { RouteContext } from '../app';
import { errorResponses } from '../openapi';
import { parseWith } from '../schemas';

const NetworkId = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be a network id such as "local" or "bsc"');

const Network = z
  .object({
    object: z.literal('network'),
    id: z.string().meta({ example: 'local' }),
    chainId: z.number().int().meta({ example: 31337 }),
    name: z.string().meta({ example: 'Local chain (Hardhat)' }),
    confirmations: z.number().int().meta({ description: 'Blocks on top of a transfer\'s block before it counts as paid.', example: 3 }),
    blockTimeMs: z.number().int().meta({ description: 'About how often the chain makes a block.', example: 1000 }),
  })
  .meta({ id: 'Network' });
const NetworkList = z.object({ object: z.literal('list'), data: z.array(Network) }).meta({ id: 'NetworkList' });

const TokenQuery = z.object({
  network: NetworkId.optional().meta({ description: 'Only the tokens of this network.', example: 'local' }),
});

const Token = z
  .object({
    object: z.literal('token'),
    id: z.string().meta({ example: 'local-usdt' }),
    symbol: z.string().meta({ example: 'USDT' }),
    name: z.string().meta({ example: 'Tether USD (local test token)' }),
    network: z.string().meta({ description: 'The network\'s id.', example: 'local' }),
    chainId: z.number().int().meta({ example: 31337 }),
    contractAddress: z.string().meta({ description: 'EIP-55 checksummed.', example: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }),
    decimals: z.number().int().meta({ description: 'Amounts of this token have at most this many places.', example: 6 }),
  })
  .meta({ id: 'Token' });
const TokenList = z.object({ object: z.literal('list'), data: z.array(Token) }).meta({ id: 'TokenList' });

export function networkRoutes(ctx: RouteContext): Router {
  const { registry, db } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'get',
    path: '/api/v1/networks',
    summary: 'Chains payments can use (no key needed)',
    responses: {
      200: { description: 'The active networks, by chain id.', content: { 'application/json': { schema: NetworkList } } },
      ...errorResponses(429, 503),
    },
  });
  router.get('/api/v1/networks', async (_req, res) => {
    const networks = await listNetworks(db);
    res.json({
      object: 'list',
      data: networks.map(({ id, chainId, name, confirmations, blockTimeMs }) => ({ object: 'network', id, chainId, name, confirmations, blockTimeMs })),
    });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/tokens',
    summary: 'Tokens payments can use, on every network or one (no key needed)',
    request: { query: TokenQuery },
    responses: {
      200: { description: 'The active tokens of the active networks, by chain id and symbol.', content: { 'application/json': { schema: TokenList } } },
      ...errorResponses(400, 429, 503),
    },
  });
  router.get('/api/v1/tokens', async (req, res) => {
    const { network } = parseWith(TokenQuery, req.query, 'query');
    const tokens = await listTokens(db, { networkId: network });
    res.json({
      object: 'list',
      data: tokens.map((t) => ({
        object: 'token',
        id: t.id,
        symbol: t.symbol,
        name: t.name,
        network: t.networkId,
        chainId: t.chainId,
        contractAddress: checksumAddress(t.contractAddress),
        decimals: t.decimals,
      })),
    });
  });

  return router;
}
