// M2Pool's requests (seed 002): the sign check in front of every route (window, HMAC, one request per sign), M2Pool's chain
// and symbol as our network and token, and the topup: a user's deposit address watched on the network.
import { createHash } from 'node:crypto';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { findRequestSign, claimRequestSign, purgeExpiredSigns } from '../db/m2pool-signs';
import { getNetwork, getToken, type Network, type Token } from '../db/networks';
import { depositAddressFor, ownerOfAddress } from '../db/wallets';
import { DomainError } from '../domain/errors';
import { canonicalString, checkTimestamp, isValidSign, parseM2PoolBody, signOf, type M2PoolFields, type M2PoolRequestKind } from '../domain/m2pool';

export interface M2PoolDeps {
  db: Db;
  config: Config;
}

/** Signs are kept this long past their window, so a clock running a little fast on either side never frees one early. */
const SIGN_RETENTION_MARGIN_MS = 60_000;
const PURGE_EVERY_MS = 60_000;

/**
 * Checks a request's raw body before anything is done for it, and returns its fields (numbers as written):
 * - its `timestamp` is within the window, else stale_request;
 * - its `sign` was seen before: with this same request (route and canonical string) it passes again, so that a retry gets
 *   the same answer (each route is idempotent by its own key: the address, the queue_id); with another, replayed_request;
 * - otherwise the sign must be the HMAC of the canonical string under a shared key, else invalid_signature; it is then
 *   bound to this request until the timestamp leaves the window.
 */
export function createM2PoolGuard({ db, config }: M2PoolDeps) {
  let lastPurge = 0;

  return async function verifyM2PoolRequest(route: M2PoolRequestKind, text: string, nowMs = Date.now()): Promise<M2PoolFields> {
    const { signKeys, timestampWindowS } = config.m2pool;
    const fields = parseM2PoolBody(text);
    const sign = signOf(fields);
    const timestamp = checkTimestamp(fields, nowMs, timestampWindowS);
    const canonical = canonicalString(fields);
    const request = { sign, route, requestDigest: createHash('sha256').update(canonical, 'utf8').digest('hex') };

    const seen = await findRequestSign(db, sign);
    if (seen) return sameRequest(seen, request, fields);
    if (!isValidSign(sign, canonical, signKeys)) {
      throw new DomainError('invalid_signature', 'sign is not the HMAC-SHA256 of the canonical string under the shared key (see the M2Pool section of the API docs)');
    }
    const bound = await claimRequestSign(db, { ...request, expiresAtMs: (timestamp + timestampWindowS) * 1000 + SIGN_RETENTION_MARGIN_MS });
    if (nowMs - lastPurge > PURGE_EVERY_MS) {
      lastPurge = nowMs;
      await purgeExpiredSigns(db, nowMs);
    }
    return sameRequest(bound, request, fields);
  };
}

function sameRequest(bound: { route: string; requestDigest: string }, request: { route: string; requestDigest: string }, fields: M2PoolFields): M2PoolFields {
  if (bound.route !== request.route || bound.requestDigest !== request.requestDigest) {
    throw new DomainError('replayed_request', 'this sign was already used for another request: sign every request anew (with its own timestamp)');
  }
  return fields;
}

/** M2Pool's `chain` and `symbol` as our network and token (M2POOL_CHAINS maps the chain; the symbol is the token's). */
export async function resolveChainToken({ db, config }: M2PoolDeps, chain: string, symbol: string): Promise<{ network: Network; token: Token }> {
  const networkId = config.m2pool.chains[chain];
  const network = networkId === undefined ? undefined : await getNetwork(db, networkId);
  if (!network?.active) {
    throw new DomainError('invalid_request', `chain: '${chain}' is not supported (supported: ${Object.keys(config.m2pool.chains).join(', ')})`);
  }
  const token = await getToken(db, network.id, symbol);
  if (!token?.active) throw new DomainError('unsupported_currency', `symbol: '${symbol}' is not a token of chain ${chain} (GET /api/v1/tokens?network=${network.id} lists them)`);
  return { network, token };
}

export interface TopupWatch {
  chain: string;
  symbol: string;
  /** Lower case, as M2Pool writes addresses. */
  address: string;
  network: string;
  token: string;
  uid: number;
  watching: true;
  /** When the address began to be watched on this network. */
  watchingSince: string;
}

/**
 * M2Pool's topup: the address must be a user's deposit address; it is then watched on the chain's network (its transfers
 * become DepositWorkflows, whose results are the topup notifications). Idempotent: asking again answers the same.
 */
export async function watchTopupAddress(deps: M2PoolDeps, topup: { chain: string; symbol: string; address: string }): Promise<TopupWatch> {
  const { network, token } = await resolveChainToken(deps, topup.chain, topup.symbol);
  const owner = await ownerOfAddress(deps.db, topup.address);
  if (owner?.kind !== 'deposit' || owner.uid === null) {
    throw new DomainError('unknown_address', `address ${topup.address.toLowerCase()} is not a user's deposit address: ask for one with POST /api/v1/users/{uid}/deposit-addresses`);
  }
  const { depositAddress } = await depositAddressFor(deps.db, owner.uid, network.id);
  return {
    chain: topup.chain,
    symbol: topup.symbol,
    address: depositAddress.address,
    network: network.id,
    token: token.id,
    uid: owner.uid,
    watching: true,
    watchingSince: depositAddress.createdAt,
  };
}
