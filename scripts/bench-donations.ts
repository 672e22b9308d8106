// The donations bench's ranking half: 100,000 paid donations' worth of read model, then GET /api/v1/rankings
// timed over a mix of categories, ranges and pages, from the cache (warm) and from the database (cold).
import { performance } from 'node:perf_hooks';
import type { Db } from '../db/knex';
import { applyManyToRanking, applyToRanking, type RankingEntry } from '../db/rankings';
import { dayInZone } from '../domain/ranking';
import { quantile, round } from './bench-stats';

export interface RankingBenchOptions {
  db: Db;
  /** The API under test, e.g. a private stack's apiUrl. */
  apiUrl: string;
  /** The zone the API ranks in (config.donations.rankingTimeZone), so that the seeded days fall in its ranges. */
  timeZone: string;
  donations?: number;
  donors?: number;
  /** Categories the donations go to; they must exist. */
  categories?: string[];
  /** Requests timed from the cache, and from the database (each after a donation bumped the version), one at a time. */
  warmRequests?: number;
  coldRequests?: number;
}

export interface RankingBenchResult {
  rankingP50Ms: number;
  rankingP99Ms: number;
  rankingColdP50Ms: number;
  rankingColdP99Ms: number;
  /** Paid donations in the read model when the queries ran. */
  paidDonations: number;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** mulberry32: the same seed gives the same donations, so runs compare. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const shiftDay = (day: string, days: number) => new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

/** Donations over the past year, a third of them today, this week or this month so that every range has rows; round amounts often, as people give. */
function donationsOverAYear(count: number, donors: number, categories: string[], today: string): RankingEntry[] {
  const random = prng(20260205);
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)];
  return Array.from({ length: count }, (_, i) => {
    const uid = 80_000_000 + (i < donors ? i : Math.floor(random() * donors));
    const recent = random() < 1 / 3;
    const daysAgo = Math.floor(random() * (recent ? 31 : 365));
    const amount = random() < 0.5 ? pick(['10.00', '50.00', '100.00', '200.00', '500.00']) : (1 + Math.floor(random() * 99_900) / 100).toFixed(2);
    return { donorKey: `uid:${uid}`, uid, name: `捐赠者 ${uid}`, categoryId: pick(categories), day: shiftDay(today, -daysAgo), amount, donations: 1 };
  });
}

/** The parameter sets asked: every category × range, on the first pages and a deep one. */
function rankingQueries(categories: string[], today: string, random: () => number): string[] {
  const queries: string[] = [];
  for (const category of ['all', ...categories]) {
    for (const range of ['today', 'week', 'month', 'year', 'all', 'custom']) {
      for (const page of [1, 2, 50]) {
        const start = Math.floor(random() * 300);
        const custom = range === 'custom' ? `&from=${shiftDay(today, -start - 60)}&to=${shiftDay(today, -start)}` : '';
        queries.push(`category=${category}&range=${range}${custom}&page=${page}&pageSize=${page === 1 ? 20 : 50}`);
      }
    }
  }
  return queries;
}

/**
 * Seeds the read model with `donations` paid donations (100,000 by default, from 20,000 donors in 3 categories,
 * over a year) through the bulk write path, then times GET /api/v1/rankings one request at a time, so that the
 * figures are the API's and not a queue's: warm (the same parameter sets again and again, answered from the
 * cache) and cold (each request after a donation bumped the version, so read from the database).
 */
export async function benchRankingQueries(opts: RankingBenchOptions): Promise<RankingBenchResult> {
  const { db, apiUrl, timeZone, donations = 100_000, donors = 20_000, categories = ['general', 'education', 'medical'] } = opts;
  const { warmRequests = 2000, coldRequests = 300 } = opts;
  const today = dayInZone(new Date(), timeZone);

  log(`seeding the ranking with ${donations} donations from ${donors} donors in ${categories.length} categories`);
  const seeding = performance.now();
  const entries = donationsOverAYear(donations, donors, categories, today);
  for (let i = 0; i < entries.length; i += 20_000) await applyManyToRanking(db, entries.slice(i, i + 20_000));
  log(`seeded in ${((performance.now() - seeding) / 1000).toFixed(1)}s`);

  const latencies = { warm: [] as number[], cold: [] as number[] };
  const byRange = new Map<string, number[]>();
  async function ask(query: string): Promise<number> {
    const t0 = performance.now();
    const res = await fetch(`${apiUrl}/api/v1/rankings?${query}`);
    const body = await res.text();
    const ms = performance.now() - t0;
    if (res.status !== 200) throw new Error(`GET /api/v1/rankings?${query} answered ${res.status}: ${body}`);
    return ms;
  }

  const random = prng(7);
  const queries = rankingQueries(categories, today, random);
  log(`cold: ${coldRequests} requests, each after a donation`);
  for (let i = 0; i < coldRequests; i++) {
    const query = queries[i % queries.length];
    const uid = 80_000_000 + Math.floor(random() * donors);
    await db.transaction((trx) =>
      applyToRanking(trx, { donorKey: `uid:${uid}`, uid, name: null, categoryId: categories[i % categories.length], day: today, amount: '1.00', donations: 1 }),
    );
    const ms = await ask(query);
    latencies.cold.push(ms);
    const kind = `${query.startsWith('category=all') ? 'all' : 'one'}-category ${/range=(\w+)/.exec(query)![1]}`;
    byRange.set(kind, [...(byRange.get(kind) ?? []), ms]);
  }

  log(`warm: ${warmRequests} requests over ${queries.length} parameter sets`);
  for (const query of queries) await ask(query);
  for (let i = 0; i < warmRequests; i++) latencies.warm.push(await ask(queries[i % queries.length]));

  for (const list of [latencies.warm, latencies.cold, ...byRange.values()]) list.sort((a, b) => a - b);
  log(`cold p50 / max by query: ${[...byRange].map(([kind, ms]) => `${kind} ${round(quantile(ms, 0.5))}/${round(ms[ms.length - 1])}`).join(', ')}`);
  const [paid] = await db('donor_totals').where({ category_id: '*' }).sum({ donations: 'donations' });
  return {
    rankingP50Ms: round(quantile(latencies.warm, 0.5)),
    rankingP99Ms: round(quantile(latencies.warm, 0.99)),
    rankingColdP50Ms: round(quantile(latencies.cold, 0.5)),
    rankingColdP99Ms: round(quantile(latencies.cold, 0.99)),
    paidDonations: Number(paid.donations),
  };
}
