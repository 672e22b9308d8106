// POST /api/v1/users/:uid/deposit-addresses (a user's deposit address on a network) and GET /api/v1/wallets (each
// network's hot and collection wallet, admin). Addresses are shown EIP-55 checksummed; keys never leave the worker.
import { Router } from 'express';
import { z } from 'zod';
import { depositAddressFor, listNetworkWallets } from '../../db/wallets';
import { checksumAddress } from '../../domain/chain';
import { NETWORK_WALLET_KINDS } from '../../domain/wallet';
import type { RouteContext } from '../app';
import { errorResponses, SECURITY } from '../openapi';
import { parseWith, Timestamp } from '../schemas';

const UserParams = z.object({
  uid: z
    .string()
    .regex(/^[1-9]\d{0,15}$/, 'must be a positive integer')
    .transform(Number)
    .refine(Number.isSafeInteger, 'is too large')
    .meta({ description: 'User id.', example: '1001' }),
});

const Network = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'must be a network id such as "local" or "bsc"')
  .meta({ description: 'A network id, as GET /api/v1/networks lists them.', example: 'local' });

const DepositAddressRequest = z.object({ network: Network }).meta({ id: 'DepositAddressRequest' });

const Address = z.string().meta({ description: 'EIP-55 checksummed; compare addresses case-insensitively.', example: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' });

const DepositAddress = z
  .object({
    object: z.literal('deposit_address'),
    uid: z.number().int(),
    network: z.string().meta({ example: 'local' }),
    address: Address,
    createdAt: Timestamp,
  })
  .meta({ id: 'DepositAddress' });

const Wallet = z
  .object({
    object: z.literal('wallet'),
    network: z.string().meta({ example: 'local' }),
    kind: z.enum(NETWORK_WALLET_KINDS).meta({ description: 'hot: pays withdrawals and merchant payments; collection: receives swept deposits, pays when the hot wallet is short.' }),
    address: Address,
  })
  .meta({ id: 'Wallet' });

const WalletList = z.object({ object: z.literal('list'), data: z.array(Wallet) }).meta({ id: 'WalletList' });

export function walletRoutes(ctx: RouteContext): Router {
  const { registry, requireScope, db } = ctx;
  const router = Router();

  registry.registerPath({
    method: 'post',
    path: '/api/v1/users/{uid}/deposit-addresses',
    summary: "A user's deposit address on a network; idempotent",
    description:
      "Transfers of the network's tokens to this address are credited to the user. A user has one deposit address, derived from the " +
      'HD seed, and it is the same on every network: asking for it on a network makes that network watch it (201); asking again returns it (200).',
    security: SECURITY,
    request: { params: UserParams, body: { required: true, content: { 'application/json': { schema: DepositAddressRequest } } } },
    responses: {
      201: { description: 'The address is now watched on this network.', content: { 'application/json': { schema: DepositAddress } } },
      200: { description: 'The address was already watched on this network.', content: { 'application/json': { schema: DepositAddress } } },
      ...errorResponses(400, 401, 403, 422, 429, 503),
    },
  });
  router.post('/api/v1/users/:uid/deposit-addresses', requireScope('transfers:write'), async (req, res) => {
    const { uid } = parseWith(UserParams, req.params, 'path');
    const { network } = parseWith(DepositAddressRequest, req.body, 'body');
    const { depositAddress, created } = await depositAddressFor(db, uid, network);
    res.status(created ? 201 : 200).json({
      object: 'deposit_address',
      uid: depositAddress.uid,
      network: depositAddress.networkId,
      address: checksumAddress(depositAddress.address),
      createdAt: depositAddress.createdAt,
    });
  });

  registry.registerPath({
    method: 'get',
    path: '/api/v1/wallets',
    summary: "Each network's hot and collection wallet (admin): addresses only",
    security: SECURITY,
    responses: {
      200: { description: 'By network, then kind.', content: { 'application/json': { schema: WalletList } } },
      ...errorResponses(401, 403, 429, 503),
    },
  });
  router.get('/api/v1/wallets', requireScope('admin'), async (_req, res) => {
    const wallets = await listNetworkWallets(db);
    res.json({ object: 'list', data: wallets.map((w) => ({ object: 'wallet', network: w.networkId, kind: w.kind, address: checksumAddress(w.address) })) });
  });

  return router;
}
