// /m2pool/v2/{topup,withdraw,pay}: M2Pool's request bodies (seed 002), authenticated by their `sign` instead of an API key.
// Each route reads its raw body, since the sign covers the values as written; nothing is done before the sign is checked.
import express, { Router, type Request } from 'express';
import { z } from 'zod';
import { isLosslessNumber } from 'lossless-json';
import { createM2PoolGuard, resolveChainToken, watchTopupAddress } from '../m2pool';
import { fieldText, type M2PoolFields } from '../../domain/m2pool';
import type { RouteContext } from '../app';
import { isExactDouble } from '../json-body';
import { errorResponses } from '../openapi';
import { IdempotencyKey, parseWith, Timestamp as IsoTimestamp } from '../schemas';
import { startMerchantPayment, startWithdrawal, type ChainPayoutView } from '../withdrawals';

const rawBody = express.text({ type: () => true, limit: '16kb' });
const rawText = (req: Request): string => (typeof req.body === 'string' ? req.body : '');

const Chain = z.string().regex(/^[A-Za-z0-9_-]{1,16}$/, 'must be a chain name such as "ETH"').meta({ description: "M2Pool's chain name; M2POOL_CHAINS maps it to a network.", example: 'ETH' });
const TokenSymbol = z.string().regex(/^[A-Za-z0-9._-]{1,16}$/, 'must be a token symbol such as "USDT"').meta({ description: "The token's symbol on that network.", example: 'USDT' });
const Address = z.string().meta({ description: '0x + 40 hex digits; any case (mixed case must be a valid EIP-55 checksum).', example: '0x4e5b2e1dc63f6b91cb6cd759936495434c7e972f' });
const UnixTime = z.number().int().meta({ description: 'Unix time in seconds, as a JSON integer: within ±M2POOL_TIMESTAMP_WINDOW_S (300 by default) of the server\'s clock.', example: 1758610297 });
const Sign = z.string().regex(/^[0-9a-fA-F]{64}$/).meta({ description: 'HMAC-SHA256 of the canonical string with the shared key, 64 hex digits (see the description).', example: '3c1f0e5d9a7b4c2e8f6a1d0b9c8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e' });

const TopupRequest = z.strictObject({ chain: Chain, symbol: TokenSymbol, address: Address, timestamp: UnixTime, sign: Sign }).meta({ id: 'M2PoolTopupRequest' });

const withdrawFields = {
  queue_id: IdempotencyKey.meta({ description: 'The idempotency key: the same queue_id with the same request answers the same; with another, 409 idempotency_conflict.', example: 'withdraw_123' }),
  from_address: Address.meta({ description: "The paying user's deposit address: whose balance pays (the tokens leave from the network's hot wallet)." }),
  to_address: Address.meta({ description: 'Where the tokens go.' }),
  // Only its JSON type is checked here; its value is the literal as written (fieldText), never through a double.
  amount: z
    .union([z.number(), z.string()], { error: 'must be a decimal number' })
    .meta({ description: "In token units, at most the token's decimals; a JSON number is taken digit for digit as written (or a decimal string).", example: 50.0 }),
  chain: Chain,
  symbol: TokenSymbol,
  timestamp: UnixTime,
  sign: Sign,
};
const WithdrawRequest = z.strictObject(withdrawFields).meta({ id: 'M2PoolWithdrawRequest' });
const PayRequest = z
  .strictObject({ ...withdrawFields, order_id: z.string().meta({ description: "The merchant's order.", example: 'order_789' }) })
  .meta({ id: 'M2PoolPayRequest' });

const TopupWatch = z
  .object({
    object: z.literal('m2pool_topup'),
    chain: z.string().meta({ example: 'ETH' }),
    symbol: z.string().meta({ example: 'USDT' }),
    address: z.string().meta({ description: 'Lower case, as M2Pool writes addresses.', example: '0x4e5b2e1dc63f6b91cb6cd759936495434c7e972f' }),
    network: z.string().meta({ description: 'Our network id.', example: 'local' }),
    token: z.string().meta({ description: 'Our token id.', example: 'local-usdt' }),
    uid: z.number().int().meta({ description: "The address's user.", example: 1001 }),
    watching: z.literal(true),
    watchingSince: IsoTimestamp,
  })
  .meta({ id: 'M2PoolTopupWatch' });

const SIGN_DESCRIPTION =
  'No API key: the request is authenticated by its `sign`. The canonical string is every top-level field except `sign`, sorted by ' +
  'key (byte order), each written `key=value` and joined with `&`; a value is a string\'s characters (JSON escapes decoded) or a ' +
  'number\'s literal exactly as it appears in the body (`50.0` stays `50.0`); no value may contain `&`. `sign` is the HMAC-SHA256 of ' +
  'that string (UTF-8) with the shared key (M2POOL_SIGN_KEYS), as 64 hex digits. For `{"chain":"ETH","symbol":"USDT","address":"0xab…",' +
  '"timestamp":1758610297,"sign":"…"}` the canonical string is `address=0xab…&chain=ETH&symbol=USDT&timestamp=1758610297`. ' +
  '`timestamp` (Unix seconds) must be within ±M2POOL_TIMESTAMP_WINDOW_S (300 s by default) of the server\'s clock (401 stale_request). A sign is bound to the request it ' +
  'was made for while its timestamp is in the window: the same request sent again (a retry) is answered again, as the first time ' +
  '(the route is idempotent by its own key); the same sign on any other request is 409 replayed_request. A wrong sign is 401 invalid_signature.';

/** The fields for the schemas: a number a double holds exactly as a number, any other as its literal (the amount's value is read from the literal anyway). */
const plain = (fields: M2PoolFields): Record<string, unknown> =>
  Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, isLosslessNumber(value) && isExactDouble(value.value) ? Number(value.value) : fieldText(value)]));

/** The payout as GET /api/v1/withdrawals/{id} and /api/v1/merchant-payments/{id} show it. */
const presentPayout = (view: ChainPayoutView) => {
  const { kind, orderId, ...rest } = view;
  return kind === 'withdrawal' ? { object: 'withdrawal' as const, ...rest } : { object: 'merchant_payment' as const, ...rest, orderId };
};
const isFinal = (view: ChainPayoutView) => view.status === 'confirmed' || view.status === 'failed';

const signResponses = {
  401: { ...errorResponses(401)[401], description: 'invalid_signature: the sign is wrong; stale_request: the timestamp is outside the window.' },
  409: { ...errorResponses(409)[409], description: 'replayed_request: this sign was already used for another request.' },
};

export function m2poolRoutes(ctx: RouteContext): Router {
  const { registry } = ctx;
  const verify = createM2PoolGuard(ctx);
  const router = Router();

  registry.registerPath({
    method: 'post',
    path: '/m2pool/v2/topup',
    summary: "M2Pool's topup: watch a user's deposit address for deposits",
    description:
      `${SIGN_DESCRIPTION}\n\nThe address must be a user's deposit address (POST /api/v1/users/{uid}/deposit-addresses), else 422 unknown_address. ` +
      "It is then watched on the chain's network: each transfer of a token to it is notified on the `topup` channel, status 2 when seen, " +
      'then 1 once confirmed (or 0 if it left the chain). Idempotent: the same answer every time.',
    request: { body: { required: true, content: { 'application/json': { schema: TopupRequest } } } },
    responses: {
      200: { description: 'The address is watched.', content: { 'application/json': { schema: TopupWatch } } },
      ...errorResponses(400, 422, 429, 503),
      ...signResponses,
    },
  });
  router.post('/m2pool/v2/topup', rawBody, async (req, res) => {
    const topup = parseWith(TopupRequest, plain(await verify('topup', rawText(req))), 'body');
    res.json({ object: 'm2pool_topup', ...(await watchTopupAddress(ctx, topup)) });
  });

  const payouts = [
    { kind: 'withdraw' as const, body: WithdrawRequest, schema: 'Withdrawal', resp: 'withdraw_resp', summary: "M2Pool's withdraw: pay a user's tokens out to an address" },
    { kind: 'pay' as const, body: PayRequest, schema: 'MerchantPayment', resp: 'pay_resp', summary: "M2Pool's pay: pay a merchant for an order from a user's tokens" },
  ];
  for (const { kind, body, schema, resp, summary } of payouts) {
    const content = { 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } };
    registry.registerPath({
      method: 'post',
      path: `/m2pool/v2/${kind}`,
      summary,
      description:
        `${SIGN_DESCRIPTION}\n\nThe same as POST ${kind === 'withdraw' ? '/api/v1/withdrawals' : '/api/v1/merchant-payments'} with queue_id as the ` +
        "idempotency key and from_address naming the paying user (it must be a user's deposit address, else 422 unknown_address): answered " +
        `once the user's balance is held (422 insufficient_funds before anything is signed), then one final ${resp} notification, status 1 or 0.`,
      request: { body: { required: true, content: { 'application/json': { schema: body } } } },
      responses: {
        202: { description: 'Accepted and held: follow it with the GET route, or wait for the notification.', content },
        200: { description: 'Asked before and final: its outcome.', content },
        ...errorResponses(400, 422, 429, 503),
        ...signResponses,
        409: { ...errorResponses(409)[409], description: 'replayed_request: this sign was already used for another request; idempotency_conflict: this queue_id was used for another payout.' },
      },
    });
    router.post(`/m2pool/v2/${kind}`, rawBody, async (req, res) => {
      const fields = await verify(kind, rawText(req));
      const request = parseWith(body, plain(fields), 'body');
      const { network } = await resolveChainToken(ctx, request.chain, request.symbol);
      const command = {
        queueId: request.queue_id,
        fromAddress: request.from_address,
        toAddress: request.to_address,
        amount: fieldText(fields.amount),
        network: network.id,
        token: request.symbol,
        chain: request.chain,
      };
      const { view } = 'order_id' in request ? await startMerchantPayment(ctx, { ...command, orderId: request.order_id }) : await startWithdrawal(ctx, command);
      res.status(isFinal(view) ? 200 : 202).json(presentPayout(view));
    });
  }

  return router;
}
