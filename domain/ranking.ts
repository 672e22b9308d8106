// The donor ranking's query: its ranges and paging limits, and how a range becomes inclusive days in the ranking's time zone.
import { DomainError } from './errors';

export const RANKING_RANGES = ['today', 'week', 'month', 'year', 'all', 'custom'] as const;
export type RankingRange = (typeof RANKING_RANGES)[number];

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;
/** Keeps OFFSET bounded: a million rows deep is past any real ranking. */
export const MAX_PAGE = 10_000;
/** The longest explicit from/to range, in days, both ends included: three years. */
export const MAX_CUSTOM_DAYS = 3 * 365 + 1;

/** A category id, or `all` for every category together. */
export const RANKING_CATEGORY = /^(all|[A-Za-z0-9_-]{1,32})$/;

/** A calendar day, YYYY-MM-DD: the unit the ranking's read model counts in. */
export type Day = string;

/** Inclusive day bounds; both null for all time. */
export interface DayBounds {
  from: Day | null;
  to: Day | null;
}

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const MS_PER_DAY = 86_400_000;

/** Days since 1970-01-01 of a valid day, or undefined for text that is not a real calendar day ("2026-02-30"). */
function epochDay(day: string): number | undefined {
  const m = DAY.exec(day);
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return undefined;
  return date.getTime() / MS_PER_DAY;
}

export const isDay = (text: string): boolean => epochDay(text) !== undefined;

const dayOf = (epoch: number): Day => new Date(epoch * MS_PER_DAY).toISOString().slice(0, 10);
// 1970-01-01 was a Thursday: (epoch + 3) % 7 is 0 on Mondays.
const mondayOf = (epoch: number): number => epoch - ((((epoch + 3) % 7) + 7) % 7);
const lastDayOfMonth = (year: string, month: string): Day =>
  `${year}-${month}-${String(new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate()).padStart(2, '0')}`;

/**
 * The calendar periods a day counts in, as donor_period_totals names them: its week (Monday to Sunday, named by
 * its Monday), its month and its year.
 */
export function periodsOfDay(day: Day): string[] {
  return [`W${dayOf(mondayOf(epochDay(day)!))}`, `M${day.slice(0, 7)}`, `Y${day.slice(0, 4)}`];
}

/** The period whose days are exactly from..to, when they are a calendar week, month or year. */
export function periodOfDays(from: Day, to: Day): string | undefined {
  const [y, m, d] = from.split('-');
  if (d === '01' && m === '01' && to === `${y}-12-31`) return `Y${y}`;
  if (d === '01' && to === lastDayOfMonth(y, m)) return `M${y}-${m}`;
  const start = epochDay(from);
  if (start !== undefined && start === mondayOf(start) && epochDay(to) === start + 6) return `W${from}`;
  return undefined;
}

/** Formatters are costly to build: one per time zone, built on first use (which also rejects an unknown zone). */
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The calendar day an instant falls on in an IANA time zone. Throws a RangeError for an unknown zone. */
export function dayInZone(instant: Date, timeZone: string): Day {
  if (Number.isNaN(instant.getTime())) throw new RangeError('invalid instant');
  const parts = Object.fromEntries(formatterFor(timeZone).formatToParts(instant).map((p) => [p.type, p.value]));
  return `${parts.year.padStart(4, '0')}-${parts.month}-${parts.day}`;
}

/** The ranking day of a donation paid at `paidAtIso` (an ISO 8601 instant): the day it counts for in every range. */
export const rankingDay = (paidAtIso: string, timeZone: string): Day => dayInZone(new Date(paidAtIso), timeZone);

const invalid = (message: string) => new DomainError('invalid_request', message);

/**
 * The inclusive days a range covers at `now` in `timeZone`: today; this week (Monday to Sunday); this calendar
 * month or year; all time (no bounds); or the caller's `from`/`to`, which only `custom` takes and requires.
 */
export function resolveRange(range: RankingRange, custom: { from?: string; to?: string }, now: Date, timeZone: string): DayBounds {
  if (range !== 'custom' && (custom.from !== undefined || custom.to !== undefined)) {
    throw invalid('from and to are only taken with range=custom');
  }
  const today = dayInZone(now, timeZone);
  const [y, m] = today.split('-');
  const todayEpoch = epochDay(today)!;
  switch (range) {
    case 'today':
      return { from: today, to: today };
    case 'week': {
      const monday = mondayOf(todayEpoch);
      return { from: dayOf(monday), to: dayOf(monday + 6) };
    }
    case 'month':
      return { from: `${y}-${m}-01`, to: lastDayOfMonth(y, m) };
    case 'year':
      return { from: `${y}-01-01`, to: `${y}-12-31` };
    case 'all':
      return { from: null, to: null };
    case 'custom':
      return customBounds(custom.from, custom.to);
  }
}

function customBounds(from: string | undefined, to: string | undefined): DayBounds {
  if (from === undefined || to === undefined) throw invalid('range=custom needs both from and to (YYYY-MM-DD)');
  const start = epochDay(from);
  const end = epochDay(to);
  if (start === undefined) throw invalid(`from: ${JSON.stringify(from)} is not a calendar day (YYYY-MM-DD)`);
  if (end === undefined) throw invalid(`to: ${JSON.stringify(to)} is not a calendar day (YYYY-MM-DD)`);
  if (start > end) throw invalid('from must not be after to');
  if (end - start + 1 > MAX_CUSTOM_DAYS) throw invalid(`a custom range covers at most ${MAX_CUSTOM_DAYS} days`);
  return { from, to };
}
