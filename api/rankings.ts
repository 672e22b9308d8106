// The API's side of the donor ranking: a request resolved to days, read from the read model, cached in-process per version.
import type { Db } from '../db/knex';
import { getCategory } from '../db/categories';
import { rankDonors, rankingVersion } from '../db/rankings';
import { DomainError } from '../domain/errors';
import { formatAmount } from '../domain/money';
import { dayInZone, resolveRange, type RankingRange } from '../domain/ranking';

export interface RankingRequest {
  /** A category id, or 'all'. */
  category: string;
  range: RankingRange;
  /** Only with range 'custom'. */
  from?: string;
  to?: string;
  page: number;
  pageSize: number;
}

export interface RankingView {
  data: { rank: number; uid: number | null; name: string | null; total: string; count: number }[];
  page: number;
  pageSize: number;
  totalDonors: number;
  category: string;
  range: RankingRange;
  /** The days the range resolved to, both included; null for all time. */
  from: string | null;
  to: string | null;
}

export interface RankingOptions {
  /** IANA zone whose calendar days the ranges count in. */
  timeZone: string;
  currency: string;
  /** Answers kept; the least recently used goes first. */
  cacheSize?: number;
  now?: () => Date;
}

const DEFAULT_CACHE_SIZE = 1000;

/**
 * Returns the ranking reader. Answers are cached under every parameter, the days the range resolved to (so
 * "today" moves on at midnight), and ranking_version, read with one cheap query per request: a paid donation
 * bumps the version in its own transaction, so it shows at once and an answer from before it is never served.
 */
export function createRankings(db: Db, options: RankingOptions): (request: RankingRequest) => Promise<RankingView> {
  const { timeZone, currency, cacheSize = DEFAULT_CACHE_SIZE, now = () => new Date() } = options;
  dayInZone(now(), timeZone); // an unknown zone fails at start-up, not on the first request
  // Promises, so that concurrent requests for the same page share one read.
  const cache = new Map<string, Promise<RankingView>>();
  let currentVersion: number | undefined;

  async function read(request: RankingRequest, from: string | null, to: string | null): Promise<RankingView> {
    if (request.category !== 'all' && !(await getCategory(db, request.category))) {
      throw new DomainError('not_found', `no donation category ${request.category}`);
    }
    const page = await rankDonors(db, { category: request.category, from: from ?? undefined, to: to ?? undefined, page: request.page, pageSize: request.pageSize });
    return {
      data: page.entries.map((e) => ({ ...e, total: formatAmount(e.total, currency) })),
      page: request.page,
      pageSize: request.pageSize,
      totalDonors: page.totalDonors,
      category: request.category,
      range: request.range,
      from,
      to,
    };
  }

  return async function rankings(request: RankingRequest): Promise<RankingView> {
    const { from, to } = resolveRange(request.range, request, now(), timeZone);
    const version = await rankingVersion(db);
    if (version !== currentVersion) {
      // Every answer cached so far is of another version: none can be asked for again.
      cache.clear();
      currentVersion = version;
    }
    const key = JSON.stringify([version, request.category, request.range, from, to, request.page, request.pageSize]);
    const cached = cache.get(key);
    if (cached) {
      cache.delete(key);
      cache.set(key, cached);
      return cached;
    }
    const answer = read(request, from, to);
    cache.set(key, answer);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
    // Failures (an unknown category, a lost connection) are not kept: the next request asks again.
    answer.catch(() => {
      if (cache.get(key) === answer) cache.delete(key);
    });
    return answer;
  };
}
