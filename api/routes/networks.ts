// GET /api/v1/networks and /api/v1/tokens (seed 003): the chains and tokens payments can use (no key needed). RPC URLs
// are never shown: they may carry a provider's key. PUT /api/v1/networks/{id} and /api/v1/networks/{id}/tokens/{symbol}
// (admin) register a chain or a token once the chain confirms it (api/network-registry.ts).
import { Router } from 'express';
import { z } from 'zod';
import { listNetworks, listTokens, type Token as StoredToken } from '../../db/networks';
import { hostOf } from '../../activities/providers/evm-client';
import { checksumAddress, parseAddress } from '../../domain/chain';
import { NETWORK_WALLET_KINDS } from '../../domain/wallet';
import type { RouteContext } from '../app';
import { registerNetwork, registerToken } from '../network-registry';
import { errorResponses, SECURITY } from '../openapi';
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

const NetworkParams = z.object({ id: NetworkId.meta({ example: 'bsc' }) });
const TokenParams = z.object({
  id: NetworkId.meta({ example: 'bsc' }),
  symbol: z.string().regex(/^[A-Z0-9]{1,16}$/, 'must be 1-16 capital letters or digits, such as "USDT"').meta({ example: 'USDT' }),
});

const RpcUrl = z
  .string()
  .max(2000)
  .refine((url) => URL.canParse(url) && ['http:', 'https:'].includes(new URL(url).protocol), 'must be an http(s) URL');

const NetworkRequest = z
  .object({
    chainId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER).meta({ example: 56 }),
    name: z.string().trim().min(1).max(64).meta({ example: 'BNB Smart Chain' }),
    rpcUrls: z.array(RpcUrl).min(1).max(8).meta({ description: 'Tried in this order, with failover. Every one must answer as chainId. Never shown again: they may carry a provider\'s key.' }),
    confirmations: z.number().int().min(1).max(1000).meta({ description: 'Blocks on top of a transfer\'s block before it counts (seed 002: 20 on Ethereum; seed 003: 3 on BSC).', example: 3 }),
    blockTimeMs: z.number().int().min(100).max(3_600_000).meta({ description: 'About how often the chain makes a block: scanners and payouts look at it this often.', example: 3000 }),
    active: z.boolean().default(true).meta({ description: 'An inactive network is not listed, scanned or paid on.' }),
  })
  .strict()
  .meta({ id: 'NetworkRequest' });

const NetworkWallet = z.object({ kind: z.enum(NETWORK_WALLET_KINDS), address: z.string() });
const RegisteredNetwork = Network.extend({
  active: z.boolean(),
  rpcHosts: z.array(z.string()).meta({ description: 'The RPC URLs, scheme and host only.' }),
  wallets: z.array(NetworkWallet).meta({ description: 'Its hot and collection wallets, made now if it had none: fund them with gas and tokens.' }),
}).meta({ id: 'RegisteredNetwork' });

const TokenRequest = z
  .object({
    name: z.string().trim().min(1).max(64).meta({ example: 'Tether USD' }),
    contractAddress: z.string().meta({ description: 'The ERC-20 contract; EIP-55 checksum checked when mixed case.', example: '0x55d398326f99059fF775485246999027B3197955' }),
    decimals: z.number().int().min(0).max(18).meta({ description: 'Must be what the contract says; at most 18 (the ledger\'s scale).', example: 18 }),
    active: z.boolean().default(true),
  })
  .strict()
  .meta({ id: 'TokenRequest' });
const RegisteredToken = Token.extend({ active: z.boolean() }).meta({ id: 'RegisteredToken' });

const presentToken = (t: StoredToken) => ({
  object: 'token' as const,
  id: t.id,
  symbol: t.symbol,
  name: t.name,
  network: t.networkId,
  chainId: t.chainId,
  contractAddress: checksumAddress(t.contractAddress),
  decimals: t.decimals,
});

export function networkRoutes(ctx: RouteContext): Router {
  const { registry, db, requireScope } = ctx;
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
      data: tokens.map(presentToken),
    });
  });

  registry.registerPath({
    method: 'put',
    path: '/api/v1/networks/{id}',
    summary: 'Register a chain, or change one (admin)',
    description:
      'Nothing is stored unless every RPC URL answers eth_chainId with chainId (422 chain_unreachable). A network\'s chain id never changes, ' +
      'and a chain is one network (409). The network gets a hot and a collection wallet; its active tokens get their scanners. ' +
      'Running processes see a change within 5 s.',
    security: SECURITY,
    request: { params: NetworkParams, body: { required: true, content: { 'application/json': { schema: NetworkRequest } } } },
    responses: {
      201: { description: 'Registered.', content: { 'application/json': { schema: RegisteredNetwork } } },
      200: { description: 'Changed.', content: { 'application/json': { schema: RegisteredNetwork } } },
      ...errorResponses(400, 401, 403, 409, 422, 429, 503),
    },
  });
  router.put('/api/v1/networks/:id', requireScope('admin'), async (req, res) => {
    const { id } = parseWith(NetworkParams, req.params, 'path');
    const body = parseWith(NetworkRequest, req.body, 'body');
    const { network, created, wallets } = await registerNetwork(ctx, id, body);
    const { chainId, name, confirmations, blockTimeMs, active, rpcUrls } = network;
    res.status(created ? 201 : 200).json({
      object: 'network',
      id,
      chainId,
      name,
      confirmations,
      blockTimeMs,
      active,
      rpcHosts: rpcUrls.map(hostOf),
      wallets: wallets.map((w) => ({ kind: w.kind, address: checksumAddress(w.address) })),
    });
  });

  registry.registerPath({
    method: 'put',
    path: '/api/v1/networks/{id}/tokens/{symbol}',
    summary: 'Register a token of a network, or change one (admin)',
    description:
      'Nothing is stored unless the contract is on the chain with these decimals (422 token_mismatch). A token\'s contract never changes, ' +
      'and a contract is one token of its network (409). An active token of an active network gets its ChainScannerWorkflow.',
    security: SECURITY,
    request: { params: TokenParams, body: { required: true, content: { 'application/json': { schema: TokenRequest } } } },
    responses: {
      201: { description: 'Registered.', content: { 'application/json': { schema: RegisteredToken } } },
      200: { description: 'Changed.', content: { 'application/json': { schema: RegisteredToken } } },
      ...errorResponses(400, 401, 403, 404, 409, 422, 429, 503),
    },
  });
  router.put('/api/v1/networks/:id/tokens/:symbol', requireScope('admin'), async (req, res) => {
    const { id, symbol } = parseWith(TokenParams, req.params, 'path');
    const body = parseWith(TokenRequest, req.body, 'body');
    const contractAddress = parseAddress(body.contractAddress, 'contractAddress');
    const { token, created } = await registerToken(ctx, id, symbol, { ...body, contractAddress });
    res.status(created ? 201 : 200).json({ ...presentToken(token), active: token.active });
  });

  return router;
}
