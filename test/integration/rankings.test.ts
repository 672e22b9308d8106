// The donor ranking through the real API: the read model written as settles write it, read back by category, range and page.
import { randomBytes } from 'node:crypto';
import { upsertCategory } from '../../db/categories';
import { applyToRanking, type RankingEntry } from '../../db/rankings';
import { money } from '../../domain/money';
import { dayInZone } from '../../domain/ranking';
import { startTestApp, type TestApp } from '../support/app';
import { freshUid } from '../support/ledger';

let app: TestApp;
let timeZone: string;

beforeAll(async () => {
  app = await startTestApp();
  timeZone = app.config.donations.rankingTimeZone;
});
afterAll(async () => {
  await app?.close();
});

/** A category of this test's own, so that donations made by other suites never land in it. */
async function givenCategory(): Promise<string> {
  const id = `rk-${randomBytes(6).toString('hex')}`;
  await upsertCategory(app.db, id, { name: `Ranking test ${id}` });
  return id;
}

/** Each entry in its own transaction, as the settle activity applies it. */
async function given(...entries: RankingEntry[]): Promise<void> {
  for (const entry of entries) await app.db.transaction((trx) => applyToRanking(trx, entry));
}

const donation = (uid: number | null, categoryId: string, day: string, amount: string, name: string | null = `donor-${uid}`): RankingEntry => ({
  donorKey: uid === null ? `guest:${randomBytes(6).toString('hex')}` : `uid:${uid}`,
  uid,
  name,
  categoryId,
  day,
  amount,
  donations: 1,
});
const refund = (uid: number, categoryId: string, day: string, amount: string): RankingEntry => ({
  donorKey: `uid:${uid}`,
  uid,
  name: null,
  categoryId,
  day,
  amount: `-${amount}`,
  donations: 0,
});

const rankings = (query: string) => app.api(`/api/v1/rankings?${query}`, { key: null });

/** The days this test seeds, relative to today in the ranking's time zone. */
function days() {
  const today = dayInZone(new Date(), timeZone);
  const shift = (n: number) => new Date(Date.parse(`${today}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
  const [y, m] = today.split('-').map(Number);
  const lastMonth = m === 1 ? `${y - 1}-12-15` : `${y}-${String(m - 1).padStart(2, '0')}-15`;
  return { today, yesterday: shift(-1), lastMonth, lastYear: `${y - 1}-06-15` };
}

/** What the ranking must say, worked out from the entries themselves: sums per donor within the days, best first. */
function expectedRanking(entries: RankingEntry[], category: string, from: string | null, to: string | null) {
  const donors = new Map<string, { uid: number | null; name: string | null; total: ReturnType<typeof money>; count: number }>();
  for (const e of entries) {
    if (category !== 'all' && e.categoryId !== category) continue;
    if ((from !== null && e.day < from) || (to !== null && e.day > to)) continue;
    const d = donors.get(e.donorKey) ?? { uid: e.uid, name: null, total: money(0), count: 0 };
    donors.set(e.donorKey, { uid: d.uid, name: e.name ?? d.name, total: d.total.plus(e.amount), count: d.count + e.donations });
  }
  return [...donors]
    .filter(([, d]) => d.total.gt(0))
    .sort(([ka, a], [kb, b]) => b.total.comparedTo(a.total) || (ka < kb ? 1 : -1))
    .map(([, d], i) => ({ rank: i + 1, uid: d.uid, name: d.name, total: d.total.toFixed(2), count: d.count }));
}

describe('GET /api/v1/rankings', () => {
  test('ranks donors by their total in a category, for each range, as the entries add up', async () => {
    const { today, yesterday, lastMonth, lastYear } = days();
    const [cat, other] = [await givenCategory(), await givenCategory()];
    const [a, b, c, d] = [freshUid(), freshUid(), freshUid(), freshUid()];
    const entries = [
      donation(a, cat, today, '300.00'),
      donation(a, cat, lastYear, '1000.00'),
      donation(b, cat, yesterday, '500.00'),
      donation(b, other, today, '250.50'),
      donation(c, cat, lastMonth, '400.00'),
      donation(d, cat, today, '120.00'),
      donation(d, cat, today, '80.00', '新名字 New name'),
      donation(null, cat, today, '50.00', '路人 Passer-by'),
    ];
    await given(...entries);

    // Given by hand for one case, to read without the model: all time in `cat`.
    const allTime = await rankings(`category=${cat}&range=all`);
    expect(allTime.status).toBe(200);
    expect(allTime.body).toEqual({
      data: [
        { rank: 1, uid: a, name: `donor-${a}`, total: '1300.00', count: 2 },
        { rank: 2, uid: b, name: `donor-${b}`, total: '500.00', count: 1 },
        { rank: 3, uid: c, name: `donor-${c}`, total: '400.00', count: 1 },
        { rank: 4, uid: d, name: '新名字 New name', total: '200.00', count: 2 },
        { rank: 5, uid: null, name: '路人 Passer-by', total: '50.00', count: 1 },
      ],
      page: 1,
      pageSize: 20,
      totalDonors: 5,
      category: cat,
      range: 'all',
      from: null,
      to: null,
    });

    const ranges: [string, string | null, string | null][] = [
      ['today', today, today],
      ['week', null, null],
      ['month', null, null],
      ['year', null, null],
      ['all', null, null],
      [`custom&from=${lastYear}&to=${lastMonth}`, lastYear, lastMonth],
      [`custom&from=${yesterday}&to=${yesterday}`, yesterday, yesterday],
    ];
    for (const category of [cat, other]) {
      for (const [range, from, to] of ranges) {
        const res = await rankings(`category=${category}&range=${range}`);
        expect(res.status).toBe(200);
        if (from !== null) expect([res.body.from, res.body.to]).toEqual([from, to]);
        const expected = expectedRanking(entries, category, res.body.from, res.body.to);
        expect({ range, data: res.body.data, totalDonors: res.body.totalDonors }).toEqual({ range, data: expected, totalDonors: expected.length });
      }
    }
    expect((await rankings(`category=${cat}&range=today`)).body.data.map((e: { uid: number }) => e.uid)).toEqual([a, d, null]);
  });

  test('category=all sums every category, and each range resolves to its days', async () => {
    const { today, yesterday, lastYear } = days();
    const [cat, other] = [await givenCategory(), await givenCategory()];
    // Far above what other suites donate, so these donors hold the top of the all-categories ranking.
    const [a, b] = [freshUid(), freshUid()];
    await given(
      donation(a, cat, today, '7000000.00'),
      donation(a, other, today, '2000000.00'),
      donation(b, cat, yesterday, '8000000.00'),
      donation(b, other, lastYear, '9000000.00'),
    );

    const all = await rankings('category=all&range=all&pageSize=2');
    expect(all.body.data).toEqual([
      { rank: 1, uid: b, name: `donor-${b}`, total: '17000000.00', count: 2 },
      { rank: 2, uid: a, name: `donor-${a}`, total: '9000000.00', count: 2 },
    ]);
    const todayAll = await rankings('category=all&range=today');
    expect(todayAll.body).toMatchObject({ category: 'all', range: 'today', from: today, to: today });
    expect(todayAll.body.data[0]).toEqual({ rank: 1, uid: a, name: `donor-${a}`, total: '9000000.00', count: 2 });
    const inCat = await rankings(`category=${cat}&range=all`);
    expect(inCat.body.data.map((e: { uid: number; total: string }) => [e.uid, e.total])).toEqual([
      [b, '8000000.00'],
      [a, '7000000.00'],
    ]);

    const year = (await rankings('range=year')).body;
    expect([year.from, year.to]).toEqual([`${today.slice(0, 4)}-01-01`, `${today.slice(0, 4)}-12-31`]);
    const month = (await rankings('range=month')).body;
    expect(month.from).toBe(`${today.slice(0, 7)}-01`);
    const week = (await rankings('range=week')).body;
    expect(new Date(`${week.from}T00:00:00Z`).getUTCDay()).toBe(1);
    expect(week.from <= today && today <= week.to).toBe(true);
  });

  test('ties keep one order across pages: every donor once, ranks 1..n, with the totals of the pages', async () => {
    const cat = await givenCategory();
    const uids = Array.from({ length: 25 }, () => freshUid());
    const { today } = days();
    await given(...uids.map((uid) => donation(uid, cat, today, '10.00')), donation(uids[7], cat, today, '0.01'));

    const seen: { rank: number; uid: number }[] = [];
    for (let page = 1; page <= 4; page++) {
      const res = await rankings(`category=${cat}&range=today&page=${page}&pageSize=7`);
      expect(res.body).toMatchObject({ page, pageSize: 7, totalDonors: 25 });
      expect(res.body.data).toHaveLength(page < 4 ? 7 : 4);
      seen.push(...res.body.data);
    }
    expect(seen.map((e) => e.rank)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(new Set(seen.map((e) => e.uid)).size).toBe(25);
    expect(seen[0].uid).toBe(uids[7]);
    // The same pages asked again, in another order and size, agree with the first walk.
    const again = (await rankings(`category=${cat}&range=today&pageSize=25`)).body.data;
    expect(again.map((e: { uid: number }) => e.uid)).toEqual(seen.map((e) => e.uid));

    const past = await rankings(`category=${cat}&range=today&page=5&pageSize=7`);
    expect(past.body).toMatchObject({ data: [], page: 5, totalDonors: 25 });
    const pastAllTime = await rankings(`category=${cat}&page=9&pageSize=7`);
    expect(pastAllTime.body).toMatchObject({ data: [], totalDonors: 25 });
  });

  test('a refund lowers the donor\'s total in every range, and a donor refunded in full leaves the ranking', async () => {
    const { today, lastYear } = days();
    const cat = await givenCategory();
    const [a, b, c] = [freshUid(), freshUid(), freshUid()];
    await given(donation(a, cat, today, '300.00'), donation(b, cat, today, '200.00'), donation(c, cat, lastYear, '100.00'));
    expect((await rankings(`category=${cat}`)).body.data.map((e: { uid: number }) => e.uid)).toEqual([a, b, c]);

    await given(refund(a, cat, today, '150.00'), refund(c, cat, lastYear, '100.00'));

    const allTime = (await rankings(`category=${cat}`)).body;
    expect(allTime.data).toEqual([
      { rank: 1, uid: b, name: `donor-${b}`, total: '200.00', count: 1 },
      { rank: 2, uid: a, name: `donor-${a}`, total: '150.00', count: 1 },
    ]);
    expect(allTime.totalDonors).toBe(2);
    const todayOnly = (await rankings(`category=${cat}&range=today`)).body;
    expect(todayOnly.data.map((e: { uid: number; total: string }) => [e.uid, e.total])).toEqual([
      [b, '200.00'],
      [a, '150.00'],
    ]);
    expect((await rankings(`category=${cat}&range=custom&from=${lastYear}&to=${lastYear}`)).body).toMatchObject({ data: [], totalDonors: 0 });
  });

  test('a donation shows up at once, though the answers before it were cached', async () => {
    const { today } = days();
    const cat = await givenCategory();
    const [a, b] = [freshUid(), freshUid()];
    await given(donation(a, cat, today, '100.00'));
    const first = await rankings(`category=${cat}&range=today`);
    expect(first.body.data.map((e: { uid: number }) => e.uid)).toEqual([a]);

    // A write that bypasses the version is not seen: the answer comes from the cache.
    await app.db('donor_daily_totals').insert({ day: today, category_id: cat, donor_key: `uid:${b}`, total: '5.00', donations: 1 });
    await app.db('donors').insert({ donor_key: `uid:${b}`, uid: b, name: `donor-${b}` });
    expect((await rankings(`category=${cat}&range=today`)).body).toEqual(first.body);

    // A settle bumps the version in its own transaction: the very next request reads afresh.
    await given(donation(b, cat, today, '200.00'));
    const after = await rankings(`category=${cat}&range=today`);
    expect(after.body.data.map((e: { uid: number; total: string }) => [e.uid, e.total])).toEqual([
      [b, '205.00'],
      [a, '100.00'],
    ]);
  });

  test('answers cached for some parameters are never served for others', async () => {
    const { today } = days();
    const [cat, other] = [await givenCategory(), await givenCategory()];
    const [a, b] = [freshUid(), freshUid()];
    await given(donation(a, cat, today, '300.00'), donation(b, cat, today, '200.00'), donation(b, other, today, '1.00'));

    const asked = [
      `category=${cat}&range=today&page=1&pageSize=1`,
      `category=${cat}&range=today&page=2&pageSize=1`,
      `category=${cat}&range=today&page=1&pageSize=2`,
      `category=${other}&range=today&page=1&pageSize=1`,
      `category=${cat}&range=custom&from=${today}&to=${today}&page=1&pageSize=1`,
    ];
    // Twice over: the second round is served from the cache, and must say the same.
    for (let round = 0; round < 2; round++) {
      const [p1, p2, both, inOther, custom] = await Promise.all(asked.map((q) => rankings(q)));
      expect(p1.body.data.map((e: { uid: number }) => e.uid)).toEqual([a]);
      expect(p2.body.data.map((e: { uid: number }) => e.uid)).toEqual([b]);
      expect(both.body.data.map((e: { uid: number }) => e.uid)).toEqual([a, b]);
      expect(inOther.body.data.map((e: { uid: number; total: string }) => [e.uid, e.total])).toEqual([[b, '1.00']]);
      expect(custom.body).toMatchObject({ range: 'custom', from: today, to: today, page: 1, pageSize: 1 });
      expect(p1.body).toMatchObject({ range: 'today', from: today, to: today });
    }
  });

  test('concurrent settles for the same donors all count, each once', async () => {
    const { today, yesterday } = days();
    const [cat, other] = [await givenCategory(), await givenCategory()];
    const [a, b] = [freshUid(), freshUid()];
    // Far above what the other tests give, so that these two lead the all-categories ranking too.
    const entries = Array.from({ length: 40 }, (_, i) => donation(i % 2 ? a : b, i % 3 ? cat : other, i % 5 ? today : yesterday, '5000000.25'));
    await Promise.all(entries.map((e) => app.db.transaction((trx) => applyToRanking(trx, e))));

    for (const category of [cat, other, 'all']) {
      for (const range of ['all', 'today', 'month']) {
        const res = await rankings(`category=${category}&range=${range}&pageSize=2`);
        expect({ category, range, data: res.body.data }).toEqual({ category, range, data: expectedRanking(entries, category, res.body.from, res.body.to).slice(0, 2) });
      }
    }
    const sumOfDays = await app.db('donor_daily_totals').whereIn('category_id', [cat, other]).sum({ total: 'total' }).first();
    expect(money(sumOfDays!.total).toFixed(2)).toBe('200000010.00');
  });

  test('needs no API key', async () => {
    expect((await app.api('/api/v1/rankings', { key: null })).status).toBe(200);
  });

  test('an unknown category is a 404 not_found', async () => {
    const res = await rankings('category=no-such-category');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'not_found', message: expect.stringContaining('no-such-category'), requestId: expect.any(String) } });
  });

  test.each([
    ['an unknown range', 'range=decade'],
    ['a page size over 100', 'pageSize=101'],
    ['page 0', 'page=0'],
    ['a fractional page', 'page=1.5'],
    ['a page that is not a number', 'page=two'],
    ['an empty page size', 'pageSize='],
    ['the page twice', 'page=1&page=2'],
    ['a category id with bad characters', 'category=bad%20id!'],
    ['custom without to', 'range=custom&from=2026-01-01'],
    ['custom with from after to', 'range=custom&from=2026-02-01&to=2026-01-01'],
    ['custom over more than three years', 'range=custom&from=2020-01-01&to=2026-01-01'],
    ['a day that does not exist', 'range=custom&from=2026-02-30&to=2026-03-01'],
    ['from without range=custom', 'range=today&from=2026-01-01'],
  ])('%s is a 400 invalid_request', async (_what, query) => {
    const res = await rankings(query);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_request', message: expect.any(String), requestId: expect.any(String) });
  });
});
