import { DomainError } from '../../domain/errors';
import { dayInZone, isDay, MAX_CUSTOM_DAYS, periodOfDays, periodsOfDay, rankingDay, resolveRange, type RankingRange } from '../../domain/ranking';

const SHANGHAI = 'Asia/Shanghai';
const at = (iso: string) => new Date(iso);
const range = (r: RankingRange, now: string, timeZone = SHANGHAI, custom: { from?: string; to?: string } = {}) => resolveRange(r, custom, at(now), timeZone);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof DomainError ? err.code : 'not-a-domain-error';
  }
  return undefined;
}

describe('the ranking day of a donation', () => {
  it('is the calendar day in the ranking time zone, not in UTC', () => {
    // 16:00 UTC is midnight in Shanghai (UTC+8, no daylight saving).
    expect(rankingDay('2026-03-09T15:59:59.999Z', SHANGHAI)).toBe('2026-03-09');
    expect(rankingDay('2026-03-09T16:00:00.000Z', SHANGHAI)).toBe('2026-03-10');
    expect(rankingDay('2026-03-09T16:00:00.000Z', 'UTC')).toBe('2026-03-09');
    expect(rankingDay('2026-03-09T23:30:00+08:00', SHANGHAI)).toBe('2026-03-09');
  });

  it('follows daylight saving in zones that have it', () => {
    // New York: UTC-5 in winter, UTC-4 from 2026-03-08.
    expect(dayInZone(at('2026-03-07T04:59:00Z'), 'America/New_York')).toBe('2026-03-06');
    expect(dayInZone(at('2026-03-07T05:00:00Z'), 'America/New_York')).toBe('2026-03-07');
    expect(dayInZone(at('2026-07-07T03:59:00Z'), 'America/New_York')).toBe('2026-07-06');
    expect(dayInZone(at('2026-07-07T04:00:00Z'), 'America/New_York')).toBe('2026-07-07');
  });

  it('rejects an unknown time zone and an invalid instant', () => {
    expect(() => rankingDay('2026-03-09T00:00:00Z', 'Mars/Olympus_Mons')).toThrow(RangeError);
    expect(() => rankingDay('not a time', SHANGHAI)).toThrow(RangeError);
  });
});

describe('today', () => {
  it('turns at midnight in Shanghai, eight hours before midnight UTC', () => {
    expect(range('today', '2026-05-20T15:59:59.999Z')).toEqual({ from: '2026-05-20', to: '2026-05-20' });
    expect(range('today', '2026-05-20T16:00:00.000Z')).toEqual({ from: '2026-05-21', to: '2026-05-21' });
    expect(range('today', '2026-05-20T16:00:00.000Z', 'UTC')).toEqual({ from: '2026-05-20', to: '2026-05-20' });
  });
});

describe('this week', () => {
  it('runs Monday to Sunday', () => {
    // 2026-05-18 is a Monday.
    expect(range('week', '2026-05-18T00:00:00+08:00')).toEqual({ from: '2026-05-18', to: '2026-05-24' });
    expect(range('week', '2026-05-20T12:00:00+08:00')).toEqual({ from: '2026-05-18', to: '2026-05-24' });
    expect(range('week', '2026-05-24T23:59:59+08:00')).toEqual({ from: '2026-05-18', to: '2026-05-24' });
    expect(range('week', '2026-05-25T00:00:00+08:00')).toEqual({ from: '2026-05-25', to: '2026-05-31' });
  });

  it('starts on the Monday of the Shanghai day when UTC is still on Sunday', () => {
    // Sunday 2026-05-24 17:00 UTC is Monday 01:00 in Shanghai.
    expect(range('week', '2026-05-24T17:00:00Z')).toEqual({ from: '2026-05-25', to: '2026-05-31' });
    expect(range('week', '2026-05-24T17:00:00Z', 'UTC')).toEqual({ from: '2026-05-18', to: '2026-05-24' });
  });

  it('spans a change of month and of year', () => {
    // Thursday 2026-01-01: its week began on Monday 2025-12-29.
    expect(range('week', '2026-01-01T09:00:00+08:00')).toEqual({ from: '2025-12-29', to: '2026-01-04' });
    expect(range('week', '2026-04-30T09:00:00+08:00')).toEqual({ from: '2026-04-27', to: '2026-05-03' });
  });
});

describe('this month and this year', () => {
  it('covers the calendar month, with its real last day', () => {
    expect(range('month', '2026-02-14T12:00:00+08:00')).toEqual({ from: '2026-02-01', to: '2026-02-28' });
    expect(range('month', '2028-02-14T12:00:00+08:00')).toEqual({ from: '2028-02-01', to: '2028-02-29' });
    expect(range('month', '2026-12-31T12:00:00+08:00')).toEqual({ from: '2026-12-01', to: '2026-12-31' });
  });

  it('moves to the new month and year at midnight in Shanghai, while UTC is still in the old one', () => {
    const newYearInShanghai = '2025-12-31T16:00:00Z';
    expect(range('month', newYearInShanghai)).toEqual({ from: '2026-01-01', to: '2026-01-31' });
    expect(range('year', newYearInShanghai)).toEqual({ from: '2026-01-01', to: '2026-12-31' });
    expect(range('year', newYearInShanghai, 'UTC')).toEqual({ from: '2025-01-01', to: '2025-12-31' });
    expect(range('year', '2025-12-31T15:59:59.999Z')).toEqual({ from: '2025-01-01', to: '2025-12-31' });
  });
});

describe('all time', () => {
  it('has no bounds', () => {
    expect(range('all', '2026-05-20T00:00:00Z')).toEqual({ from: null, to: null });
  });
});

describe('a custom range', () => {
  const custom = (from?: string, to?: string) => () => range('custom', '2026-05-20T00:00:00Z', SHANGHAI, { from, to });

  it('is taken as given, both days included, a single day too', () => {
    expect(custom('2026-01-01', '2026-03-31')()).toEqual({ from: '2026-01-01', to: '2026-03-31' });
    expect(custom('2026-02-28', '2026-02-28')()).toEqual({ from: '2026-02-28', to: '2026-02-28' });
  });

  it('spans at most three years', () => {
    expect(MAX_CUSTOM_DAYS).toBe(1096);
    expect(custom('2023-01-01', '2025-12-31')()).toEqual({ from: '2023-01-01', to: '2025-12-31' }); // 1096 days
    expect(codeOf(custom('2023-01-01', '2026-01-01'))).toBe('invalid_request');
  });

  it.each([
    ['from after to', '2026-03-02', '2026-03-01'],
    ['no to', '2026-03-01', undefined],
    ['no from', undefined, '2026-03-01'],
    ['neither', undefined, undefined],
    ['a day that does not exist', '2026-02-29', '2026-03-01'],
    ['a month that does not exist', '2026-01-01', '2026-13-01'],
    ['another format', '2026/01/01', '2026-01-31'],
    ['a time instead of a day', '2026-01-01T00:00:00Z', '2026-01-31'],
    ['an empty day', '', '2026-01-31'],
  ])('rejects %s as invalid_request', (_what, from, to) => {
    expect(codeOf(custom(from, to))).toBe('invalid_request');
  });

  it('is the only range that takes from and to', () => {
    expect(codeOf(() => range('today', '2026-05-20T00:00:00Z', SHANGHAI, { from: '2026-05-01' }))).toBe('invalid_request');
    expect(codeOf(() => range('all', '2026-05-20T00:00:00Z', SHANGHAI, { to: '2026-05-01' }))).toBe('invalid_request');
  });
});

describe('isDay', () => {
  it('accepts real calendar days only', () => {
    expect(isDay('2028-02-29')).toBe(true);
    expect(isDay('2026-02-29')).toBe(false);
    expect(isDay('2026-04-31')).toBe(false);
    expect(isDay('2026-4-1')).toBe(false);
  });
});

describe('the calendar periods kept ranked', () => {
  it('names the week by its Monday, the month and the year a day counts in', () => {
    expect(periodsOfDay('2026-05-20')).toEqual(['W2026-05-18', 'M2026-05', 'Y2026']);
    expect(periodsOfDay('2026-05-18')).toEqual(['W2026-05-18', 'M2026-05', 'Y2026']);
    expect(periodsOfDay('2026-05-24')).toEqual(['W2026-05-18', 'M2026-05', 'Y2026']);
    // A week across New Year belongs to the year of its Monday as a week, and each day to its own month and year.
    expect(periodsOfDay('2026-01-01')).toEqual(['W2025-12-29', 'M2026-01', 'Y2026']);
  });

  it('recognises the days of every preset range as its period, and no other days', () => {
    for (const now of ['2026-05-20T12:00:00+08:00', '2026-01-01T00:30:00+08:00', '2028-02-29T23:59:00+08:00']) {
      const today = dayInZone(at(now), SHANGHAI);
      const [week, month, year] = periodsOfDay(today);
      const days = (r: RankingRange) => range(r, now);
      expect(periodOfDays(days('week').from!, days('week').to!)).toBe(week);
      expect(periodOfDays(days('month').from!, days('month').to!)).toBe(month);
      expect(periodOfDays(days('year').from!, days('year').to!)).toBe(year);
    }
    expect(periodOfDays('2026-05-20', '2026-05-20')).toBeUndefined();
    expect(periodOfDays('2026-05-19', '2026-05-25')).toBeUndefined(); // seven days, from a Tuesday
    expect(periodOfDays('2026-02-01', '2026-02-27')).toBeUndefined();
    expect(periodOfDays('2026-01-01', '2026-12-30')).toBeUndefined();
    expect(periodOfDays('2026-01-01', '2027-12-31')).toBeUndefined();
  });
});
