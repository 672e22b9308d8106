// The donor ranking's read model: written in the transaction that settles a donation or a refund, read by the API.
//
// Invariant: for every category c and donor k, donor_totals(c, k) and donor_totals('*', k) equal the sums of
// donor_daily_totals(·, c, k) and of donor_daily_totals(·, ·, k), and donor_period_totals(p, c, k) and
// (p, '*', k) the same sums over the days of the week, month or year p; ranking_version grows with every change.
import type { Knex } from 'knex';
import { money, type Money } from '../domain/money';
import { isDay, periodOfDays, periodsOfDay, type Day } from '../domain/ranking';
import type { Db } from './knex';

export { rankingDay } from '../domain/ranking';

/** One donation paid (donations 1, a positive amount) or one refund (donations 0, a negative amount). */
export interface RankingEntry {
  donorKey: string;
  uid: number | null;
  name: string | null;
  categoryId: string;
  /** The day in the ranking's time zone (domain/ranking.ts rankingDay). */
  day: Day;
  /** Signed decimal string. */
  amount: string;
  donations: 1 | 0;
}

/** donor_totals' category of every category together. */
const ALL_CATEGORIES = '*';
const NAME_MAX_CHARS = 64;
const ROWS_PER_STATEMENT = 1000;
const SIGNED_DECIMAL = /^-?\d+(\.\d+)?$/;

function checkEntry(e: RankingEntry): void {
  if (!e.donorKey || e.donorKey.length > 48) throw new Error(`ranking entry: bad donorKey ${JSON.stringify(e.donorKey)}`);
  if (!e.categoryId || e.categoryId === ALL_CATEGORIES) throw new Error(`ranking entry: bad categoryId ${JSON.stringify(e.categoryId)}`);
  if (!isDay(e.day)) throw new Error(`ranking entry: bad day ${JSON.stringify(e.day)}`);
  if (!SIGNED_DECIMAL.test(e.amount)) throw new Error(`ranking entry: bad amount ${JSON.stringify(e.amount)}`);
  if (e.donations !== 0 && e.donations !== 1) throw new Error(`ranking entry: donations must be 0 or 1`);
}

/** A name longer than the column would fail the settle for good; the ranking only shows it. */
const fitName = (name: string | null): string | null => (name === null ? null : Array.from(name).slice(0, NAME_MAX_CHARS).join(''));

interface Sum {
  total: Money;
  donations: number;
}

function addTo<K>(sums: Map<K, Sum>, key: K, amount: string, donations: number): void {
  const sum = sums.get(key);
  if (sum) {
    sum.total = sum.total.plus(amount);
    sum.donations += donations;
  } else {
    sums.set(key, { total: money(amount), donations });
  }
}

const byKey = <T>(rows: Map<string, T>): [string, T][] => [...rows].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

async function inChunks<T>(rows: T[], write: (chunk: T[]) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) await write(rows.slice(i, i + ROWS_PER_STATEMENT));
}

/** Adds sums to a totals table, in primary key order; a sum's map key is its key columns joined by tabs. */
function addSums(trx: Knex.Transaction, table: string, keyColumns: string[], sums: Map<string, Sum>): Promise<void> {
  const row = `(${keyColumns.map(() => '?').join(', ')}, CAST(? AS DECIMAL(38,18)), ?)`;
  // Amounts are bound as text and CAST: MariaDB would add `total + '1.23'` in DOUBLE.
  return inChunks(byKey(sums), (rows) =>
    trx.raw(
      `INSERT INTO ${table} (${keyColumns.join(', ')}, total, donations) VALUES ${rows.map(() => row).join(', ')}
       ON DUPLICATE KEY UPDATE total = total + VALUES(total), donations = donations + VALUES(donations)`,
      rows.flatMap(([key, sum]) => [...key.split('\t'), sum.total.toFixed(), sum.donations]),
    ),
  );
}

/**
 * Adds entries to the read model. Every transaction takes its row locks in one global order (donors, daily
 * totals, period totals, totals, each by primary key, then the version row last and briefly), so concurrent settles wait
 * for each other instead of deadlocking.
 */
async function writeRanking(trx: Knex.Transaction, entries: RankingEntry[]): Promise<void> {
  entries.forEach(checkEntry);
  const donors = new Map<string, { uid: number | null; name: string | null }>();
  const daily = new Map<string, Sum>();
  const periods = new Map<string, Sum>();
  const totals = new Map<string, Sum>();
  for (const e of entries) {
    const known = donors.get(e.donorKey);
    donors.set(e.donorKey, { uid: e.uid ?? known?.uid ?? null, name: fitName(e.name) ?? known?.name ?? null });
    // '\t' sorts below every character of a day, category or donor key: the map's order is the primary key's.
    addTo(daily, `${e.day}\t${e.categoryId}\t${e.donorKey}`, e.amount, e.donations);
    for (const period of periodsOfDay(e.day)) {
      addTo(periods, `${period}\t${ALL_CATEGORIES}\t${e.donorKey}`, e.amount, e.donations);
      addTo(periods, `${period}\t${e.categoryId}\t${e.donorKey}`, e.amount, e.donations);
    }
    addTo(totals, `${ALL_CATEGORIES}\t${e.donorKey}`, e.amount, e.donations);
    addTo(totals, `${e.categoryId}\t${e.donorKey}`, e.amount, e.donations);
  }

  await inChunks(byKey(donors), (rows) =>
    trx.raw(
      `INSERT INTO donors (donor_key, uid, name, updated_at) VALUES ${rows.map(() => '(?, ?, ?, NOW(3))').join(', ')}
       ON DUPLICATE KEY UPDATE uid = COALESCE(VALUES(uid), uid), name = COALESCE(VALUES(name), name), updated_at = NOW(3)`,
      rows.flatMap(([key, d]) => [key, d.uid, d.name]),
    ),
  );
  await addSums(trx, 'donor_daily_totals', ['day', 'category_id', 'donor_key'], daily);
  await addSums(trx, 'donor_period_totals', ['period', 'category_id', 'donor_key'], periods);
  await addSums(trx, 'donor_totals', ['category_id', 'donor_key'], totals);
  // Last: every settle takes this one row, so it is held only from here to the commit.
  await trx.raw('UPDATE ranking_version SET version = version + 1 WHERE id = 1');
}

/**
 * Adds one paid donation or one refund to the ranking, in the caller's transaction: the one that marks the
 * donation paid (or the refund succeeded), which is what makes it happen exactly once.
 */
export async function applyToRanking(trx: Knex.Transaction, entry: RankingEntry): Promise<void> {
  await writeRanking(trx, [entry]);
}

/** Adds many entries in one transaction (seeding, backfills): summed per row first, written 1,000 rows a statement. */
export async function applyManyToRanking(db: Knex, entries: RankingEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db.transaction((trx) => writeRanking(trx, entries));
}

/** Changes with every write to the ranking: what the API's cache keys on. */
export async function rankingVersion(db: Db): Promise<number> {
  const [rows] = await db.raw('SELECT version FROM ranking_version WHERE id = 1');
  return Number(rows[0]?.version ?? 0);
}

export interface RankingFilter {
  /** A category id, or 'all'. */
  category: string;
  /** Inclusive days; neither for all time. */
  from?: Day;
  to?: Day;
  /** 1-based. */
  page: number;
  pageSize: number;
}

export interface RankedDonor {
  /** 1-based position across pages. */
  rank: number;
  uid: number | null;
  name: string | null;
  /** Decimal string without trailing zeros. */
  total: string;
  /** Donations counted (a refund lowers the total, not the count). */
  count: number;
}

export interface RankingPage {
  entries: RankedDonor[];
  /** Donors with a total above zero in the category and days asked. */
  totalDonors: number;
}

interface TotalRow {
  donor_key: string;
  total: string;
  donations: string | number;
  donors?: string | number;
}

// Ties are ordered by donor_key, so that pages never overlap or skip. Both columns descend: a kept ranking's page
// is then a backward walk of its (…, category_id, total, donor_key) index that stops after the page, with no sort.
const ORDER = 'ORDER BY total DESC, donor_key DESC';

/**
 * One page of donors ranked by the total they gave in a category (or all) over a range of days (or all time).
 * A donor whose refunds brought the total to zero is not ranked. All time reads donor_totals through its index, a
 * calendar week, month or year donor_period_totals; any other days are summed per donor from donor_daily_totals.
 */
export async function rankDonors(db: Db, filter: RankingFilter): Promise<RankingPage> {
  const offset = (filter.page - 1) * filter.pageSize;
  const category = filter.category === 'all' ? ALL_CATEGORIES : filter.category;
  let rows: TotalRow[];
  let totalDonors: number;

  // All time, and a calendar week, month or year, are kept ranked: a walk down an index. Other days are summed.
  const period = filter.from !== undefined && filter.to !== undefined ? periodOfDays(filter.from, filter.to) : undefined;
  const kept =
    filter.from === undefined && filter.to === undefined
      ? { table: 'donor_totals', where: 'category_id = ?', bindings: [category] }
      : period !== undefined
        ? { table: 'donor_period_totals', where: 'period = ? AND category_id = ?', bindings: [period, category] }
        : undefined;
  if (kept) {
    const [[page], [[count]]] = await Promise.all([
      db.raw(`SELECT donor_key, total, donations FROM ${kept.table} WHERE ${kept.where} AND total > 0 ${ORDER} LIMIT ? OFFSET ?`, [
        ...kept.bindings,
        filter.pageSize,
        offset,
      ]),
      db.raw(`SELECT COUNT(*) AS donors FROM ${kept.table} WHERE ${kept.where} AND total > 0`, kept.bindings),
    ]);
    rows = page;
    totalDonors = Number(count.donors);
  } else {
    const where: string[] = [];
    const bindings: string[] = [];
    const condition = (sql: string, value: string) => {
      where.push(sql);
      bindings.push(value);
    };
    if (category !== ALL_CATEGORIES) condition('category_id = ?', category);
    if (filter.from !== undefined) condition('day >= ?', filter.from);
    if (filter.to !== undefined) condition('day <= ?', filter.to);
    const donorsInRange = `SELECT donor_key, SUM(total) AS total, SUM(donations) AS donations FROM donor_daily_totals
      WHERE ${where.join(' AND ')} GROUP BY donor_key HAVING SUM(total) > 0`;
    // One pass: the window counts the donors before LIMIT cuts the page.
    [rows] = await db.raw(`SELECT donor_key, total, donations, COUNT(*) OVER () AS donors FROM (${donorsInRange}) AS ranked ${ORDER} LIMIT ? OFFSET ?`, [
      ...bindings,
      filter.pageSize,
      offset,
    ]);
    if (rows.length > 0) totalDonors = Number(rows[0].donors);
    else if (offset === 0) totalDonors = 0;
    else totalDonors = Number((await db.raw(`SELECT COUNT(*) AS donors FROM (${donorsInRange}) AS ranked`, bindings))[0][0].donors);
  }

  const names = await donorsByKey(db, rows.map((r) => r.donor_key));
  return {
    entries: rows.map((r, i) => ({
      rank: offset + i + 1,
      uid: names.get(r.donor_key)?.uid ?? null,
      name: names.get(r.donor_key)?.name ?? null,
      total: money(r.total).toFixed(),
      count: Number(r.donations),
    })),
    totalDonors,
  };
}

async function donorsByKey(db: Db, keys: string[]): Promise<Map<string, { uid: number | null; name: string | null }>> {
  if (keys.length === 0) return new Map();
  const rows: { donor_key: string; uid: string | null; name: string | null }[] = await db('donors').whereIn('donor_key', keys).select('donor_key', 'uid', 'name');
  return new Map(rows.map((r) => [r.donor_key, { uid: r.uid === null ? null : Number(r.uid), name: r.name }]));
}
