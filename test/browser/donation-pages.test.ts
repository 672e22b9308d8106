// The donation and ranking pages in headless Chromium, against the real API, worker and sandbox: a donor pays by QR
// code through the sandbox's phone, the page turns to thanks, and the donor shows up in the ranking.
import { randomUUID } from 'node:crypto';
import type { Page } from 'playwright-core';
import type { PaymentMethod } from '../../activities/providers/donation-gateway';
import { formatAmount, money } from '../../domain/money';
import type { TestApp } from '../support/app';
import { PHONE, useBrowser, type PageLog } from '../support/browser';
import { countDonations, donationReaches, givenDonation, payAtGateway } from '../support/donations';
import { useWorkerAndApp } from '../support/suites';

let app: TestApp;
useWorkerAndApp((started) => (app = started));
const browser = useBrowser();

const uniqueName = (label: string) => `${label} ${randomUUID().slice(0, 8)}`;

interface DonationForm {
  category: string;
  amount: string;
  method: PaymentMethod;
  name?: string;
  message?: string;
}

/** Opens the donation page and fills in the form (a preset button when one has the amount); does not submit. */
async function fillDonationForm(page: Page, form: DonationForm): Promise<void> {
  await page.goto(`${app.baseUrl}/donate`);
  await page.locator('#view-form').waitFor();
  await page.selectOption('#category', form.category);
  const preset = page.locator(`#presets button[data-amount="${form.amount}"]`);
  if (await preset.count()) await preset.click();
  else await page.fill('#amount', form.amount);
  await page.check(`input[name="method"][value="${form.method}"]`);
  if (form.name) await page.fill('#name', form.name);
  if (form.message) await page.fill('#message', form.message);
}

/** Submits the form and waits for the QR code to be shown and loaded; returns the order number. */
async function submitAndSeeQr(page: Page): Promise<string> {
  await page.click('#submit');
  await page.locator('#view-qr').waitFor();
  // decode() settles once the image has loaded (or failed to).
  const width = await page.locator('#qr-image').evaluate(async (image: { decode(): Promise<void>; naturalWidth: number }) => {
    await image.decode();
    return image.naturalWidth;
  });
  expect(width).toBeGreaterThan(0);
  return (await page.textContent('#qr-order'))!.trim();
}

/** Waits until the ranking shows what was last asked for. */
async function rankingLoaded(page: Page): Promise<void> {
  await page.locator('#results[aria-busy="false"]').waitFor({ state: 'attached' });
}

interface RankingRow {
  rank: number;
  donor: string;
  total: string;
  count: string;
}

async function visibleRows(page: Page): Promise<RankingRow[]> {
  type Row = { children: ArrayLike<{ textContent: string | null }> };
  return page.$$eval('#ranking-rows tr', (rows: Row[]) =>
    rows
      .filter((row) => row.children.length === 4)
      .map((row) => {
        const [rank, donor, total, count] = Array.from(row.children, (cell) => cell.textContent ?? '');
        return { rank: Number(rank), donor, total, count };
      }),
  );
}

/** Every row of the ranking as shown, walking the pages with the Next button from the current one. */
async function allRows(page: Page, maxPages = 25): Promise<RankingRow[]> {
  const rows: RankingRow[] = [];
  for (let pages = 1; ; pages++) {
    await rankingLoaded(page);
    rows.push(...(await visibleRows(page)));
    if (await page.locator('#next').isDisabled()) return rows;
    if (pages === maxPages) throw new Error(`the ranking has more than ${maxPages} pages`);
    await page.click('#next');
  }
}

async function clickTab(page: Page, tablist: 'category-tabs' | 'range-tabs', id: string): Promise<void> {
  await page.click(`#${tablist} button[data-id="${id}"]`);
  await rankingLoaded(page);
}

/** A donation created through the API and paid on the sandbox's phone, once the API says it is paid. */
async function givenPaidDonation(body: { category: string; amount: string; method: PaymentMethod; name: string }): Promise<void> {
  const { orderNo } = await givenDonation(app, body);
  await payAtGateway(body.method, orderNo);
  await donationReaches(app, orderNo, ['paid']);
}

async function alipayLimits(): Promise<{ minAmount: string; maxAmount: string }> {
  const methods = (await app.api('/api/v1/payment-methods', { key: null })).body.data as { method: string; minAmount: string; maxAmount: string }[];
  return methods.find((m) => m.method === 'alipay')!;
}

function expectNoScriptErrors(log: PageLog): void {
  expect(log.scriptErrors()).toEqual([]);
}

describe('the donation page', () => {
  test.each([
    { method: 'alipay' as const, screen: 'a desktop', options: undefined, category: 'general', amount: '10.00' },
    { method: 'wechat' as const, screen: 'a phone', options: PHONE, category: 'education', amount: '12.34' },
  ])('a donor pays with $method on $screen: QR code → paid on the sandbox phone → thanks → ranked by name in the category and in "all"', ({ method, options, category, amount }) =>
    browser.withPage(async (page, log) => {
      const name = uniqueName('Donor');
      await fillDonationForm(page, { category, amount, method, name, message: 'Keep it up' });
      const orderNo = await submitAndSeeQr(page);
      expect(await page.textContent('#qr-amount')).toBe(`¥${amount}`);
      expect(await page.textContent('#countdown')).toMatch(/^Expires in \d+:\d\d/);
      expect(page.url()).toBe(`${app.baseUrl}/donate?order=${orderNo}`);

      await payAtGateway(method, orderNo);
      // Polled every 2 s: a few polls at most after the gateway's notify.
      await page.locator('#view-thanks').waitFor({ timeout: 10_000 });
      expect(await page.textContent('#thanks-text')).toContain(`${name}, your donation of ¥${amount}`);

      // A reload (the donor came back from the payment app) shows the outcome again.
      await page.reload();
      await page.locator('#view-thanks').waitFor();

      await page.click('#thanks-ranking');
      await rankingLoaded(page);
      expect(page.url()).toContain(`/ranking?category=${category}`);
      expect(await page.getAttribute(`#category-tabs button[data-id="${category}"]`, 'aria-selected')).toBe('true');
      expect((await allRows(page)).filter((row) => row.donor === name)).toEqual([{ rank: expect.any(Number), donor: name, total: `¥${amount}`, count: '1' }]);

      await clickTab(page, 'category-tabs', 'all');
      expect(page.url()).toContain('category=all');
      expect((await allRows(page)).filter((row) => row.donor === name)).toEqual([{ rank: expect.any(Number), donor: name, total: `¥${amount}`, count: '1' }]);
      expectNoScriptErrors(log);
    }, options),
  );

  test.each([
    { what: 'an amount with three decimals', amount: async () => '10.001' },
    { what: 'an amount above the limit', amount: async () => formatAmount(money((await alipayLimits()).maxAmount).plus('0.01'), 'CNY') },
  ])('$what shows the API\'s own message and creates nothing', ({ amount: amountFor }) =>
    browser.withPage(async (page, log) => {
      const body = { category: 'general', amount: await amountFor(), method: 'alipay' };
      const expected = await app.api('/api/v1/donations', { key: null, body });
      expect(expected.status).toBeGreaterThanOrEqual(400);
      expect(expected.status).toBeLessThan(500);
      const before = await countDonations(app.db);

      await fillDonationForm(page, { ...body, method: 'alipay' });
      const answer = page.waitForResponse((res) => res.url().endsWith('/api/v1/donations') && res.request().method() === 'POST');
      await page.click('#submit');
      expect((await answer).status()).toBe(expected.status);
      await page.locator('#form-error').waitFor();
      expect(await page.textContent('#form-error')).toBe(expected.body.error.message);
      expect(await page.locator('#view-form').isVisible()).toBe(true);
      expect(page.url()).toBe(`${app.baseUrl}/donate`);
      expect(await countDonations(app.db)).toBe(before);

      // Changing the amount clears the message.
      await page.fill('#amount', '10.00');
      expect(await page.locator('#form-error').isHidden()).toBe(true);
      expectNoScriptErrors(log);
    }),
  );

  test('keeps polling through network errors until paid, and polls no more once paid or once the donor starts over', () =>
    browser.withPage(async (page, log) => {
      let polls = 0;
      page.on('request', (req) => {
        if (/\/api\/v1\/donations\/[A-Za-z0-9]+$/.test(req.url())) polls++;
      });
      const isPollOf = (orderNo: string) => (req: { url(): string }) => req.url().endsWith(`/api/v1/donations/${orderNo}`);

      await fillDonationForm(page, { category: 'general', amount: '50.00', method: 'alipay', name: uniqueName('Patient') });
      const paid = await submitAndSeeQr(page);
      // The connection drops: a poll fails, the page says so and polls again.
      await page.route(`**/api/v1/donations/${paid}`, (route) => route.abort('internetdisconnected'));
      await page.locator('#poll-trouble').waitFor();
      await page.waitForRequest(isPollOf(paid), { timeout: 5_000 });
      // Back online: the next poll succeeds, the note goes away, and the payment is seen.
      await page.unroute(`**/api/v1/donations/${paid}`);
      await page.locator('#poll-trouble').waitFor({ state: 'hidden' });
      expect(await page.locator('#view-qr').isVisible()).toBe(true);
      await payAtGateway('alipay', paid);
      await page.locator('#view-thanks').waitFor({ timeout: 10_000 });

      // A second order, abandoned: "Start over" leaves its QR view.
      await page.click('#view-thanks .restart');
      await page.locator('#view-form').waitFor();
      await submitAndSeeQr(page);
      await page.click('#view-qr .restart');
      await page.locator('#view-form').waitFor();
      expect(page.url()).toBe(`${app.baseUrl}/donate`);

      // More than two poll intervals later, neither order was polled again.
      const pollsWhenLeft = polls;
      await page.waitForTimeout(4_500);
      expect(polls).toBe(pollsWhenLeft);
      expectNoScriptErrors(log);
    }),
  );

  test('says clearly when the API cannot be reached, and recovers when asked to try again', () =>
    browser.withPage(async (page, log) => {
      await page.route('**/api/v1/categories', (route) => route.abort('connectionrefused'));
      await page.goto(`${app.baseUrl}/donate`);
      await page.locator('#view-unavailable').waitFor();
      expect(await page.textContent('#unavailable-message')).toContain('Cannot reach the server');

      await page.unroute('**/api/v1/categories');
      await page.click('#reload');
      await page.locator('#view-form').waitFor();
      expect(await page.$$eval('#category option', (options: { value: string }[]) => options.map((option) => option.value))).toEqual(expect.arrayContaining(['general']));
      expectNoScriptErrors(log);
    }),
  );
});

describe('the ranking page', () => {
  test('pages through more than one page of donors, and its category and range tabs change what is shown', async () => {
    // Seven donors in one category, with distinct totals.
    const names = Array.from({ length: 7 }, (_, i) => uniqueName(`Pager ${i + 1}`));
    for (const [i, name] of names.entries()) {
      await givenPaidDonation({ category: 'medical', amount: `${40000 - i * 100}.00`, method: i % 2 ? 'wechat' : 'alipay', name });
    }

    await browser.withPage(async (page, log) => {
      await page.goto(`${app.baseUrl}/ranking?category=medical&range=today&pageSize=3`);
      await rankingLoaded(page);
      expect(await page.getAttribute('#range-tabs button[data-id="today"]', 'aria-selected')).toBe('true');
      expect(await page.locator('#prev').isDisabled()).toBe(true);
      const first = await visibleRows(page);
      expect(first.map((row) => row.rank)).toEqual([1, 2, 3]);
      expect(await page.textContent('#page-info')).toMatch(/^Page 1 of \d+ · \d+ donors/);

      await page.click('#next');
      await rankingLoaded(page);
      const second = await visibleRows(page);
      expect(second.map((row) => row.rank)).toEqual([4, 5, 6]);
      expect(second.filter((row) => first.some((f) => f.donor === row.donor))).toEqual([]);
      expect(page.url()).toContain('page=2');

      await page.click('#prev');
      await rankingLoaded(page);
      expect(await visibleRows(page)).toEqual(first);

      // Every one of the seven, in the order of what they gave, each once.
      const ours = (await allRows(page)).filter((row) => names.includes(row.donor));
      expect(ours.map((row) => row.donor)).toEqual(names);
      expect(ours.map((row) => row.total)).toEqual(names.map((_, i) => `¥${40000 - i * 100}.00`));

      // Another category does not list them; "all" does.
      await clickTab(page, 'category-tabs', 'general');
      expect(page.url()).toContain('category=general&range=today&page=1');
      expect((await allRows(page)).filter((row) => names.includes(row.donor))).toEqual([]);
      await clickTab(page, 'category-tabs', 'all');
      expect((await allRows(page)).filter((row) => names.includes(row.donor)).map((row) => row.donor)).toEqual(names);

      // The range tabs say which days they count.
      await clickTab(page, 'range-tabs', 'month');
      const month = await page.textContent('#period');
      expect(month).toMatch(/^\d{4}-\d{2}-01 – \d{4}-\d{2}-\d{2}$/);
      await clickTab(page, 'range-tabs', 'all');
      expect(await page.textContent('#period')).toBe('');
      expect(page.url()).toContain('range=all');
      expectNoScriptErrors(log);
    });
  });

  test('escapes donor names: markup in a name is shown as text', async () => {
    const name = `<img src=x id=injected> ${uniqueName('Markup')}`;
    await givenPaidDonation({ category: 'general', amount: '1.00', method: 'alipay', name });
    await browser.withPage(async (page, log) => {
      await page.goto(`${app.baseUrl}/ranking?category=general&range=today&pageSize=100`);
      expect((await allRows(page)).map((row) => row.donor)).toContain(name);
      expect(await page.locator('#injected').count()).toBe(0);
      expectNoScriptErrors(log);
    });
  });
});

describe('how the pages are served', () => {
  test('with a strict Content-Security-Policy, / leading to /donate, and cacheable versioned assets', async () => {
    for (const path of ['/donate', '/ranking']) {
      const res = await app.api(path, { key: null });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(res.text).not.toMatch(/<script>|\son[a-z]+=/i);
    }
    const root = await app.api('/', { key: null, redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/donate');

    const script = (await app.api('/donate', { key: null })).text.match(/src="(\/static\/donate\.js\?v=[0-9a-f]+)"/)![1];
    const versioned = await app.api(script, { key: null });
    expect(versioned.status).toBe(200);
    expect(versioned.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await app.api('/static/donate.js', { key: null })).headers.get('cache-control')).toBe('no-cache');
    expect((await app.api('/static/nothing.js', { key: null })).status).toBe(404);
  });
});
