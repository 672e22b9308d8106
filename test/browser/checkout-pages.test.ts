// The checkout and ops pages in headless Chromium, against the real API, worker and test chain: a payer creates a payment,
// sees its QR code and address, pays on chain from the test, and the page turns to success, over the WebSocket or, with
// the WebSocket blocked, by polling; the ops page shows the stats with links to the runs in the Temporal UI.
import type { Page } from 'playwright-core';
import { getNetwork } from '../../db/networks';
import { LOCAL_NETWORK_ID } from '../../scripts/stack/evm-node';
import { TEST_KEYS, type TestApp } from '../support/app';
import { PHONE, useBrowser, type PageLog } from '../support/browser';
import { connectTestChain, type TestChain } from '../support/chain';
import { FAST_CHECKOUT, givenPayment, paymentReaches } from '../support/checkout';
import { startTestScanners } from '../support/deposits';
import { useWorkerAndApp } from '../support/suites';

let app: TestApp;
let chain: TestChain;
let chainAtStart: string;
let scanners: Awaited<ReturnType<typeof startTestScanners>>;
let confirmations: number;

useWorkerAndApp((started) => (app = started), { checkout: FAST_CHECKOUT });
const browser = useBrowser();

/** The payer: account #9 of the node, with tokens minted to it. */
const PAYER = 9;

beforeAll(async () => {
  chain = connectTestChain();
  chainAtStart = await chain.snapshot();
  scanners = await startTestScanners(app.client, app.db);
  confirmations = (await getNetwork(app.db, LOCAL_NETWORK_ID))!.confirmations;
  await chain.mint('USDT', (await chain.signer(PAYER)).address, '10000');
});
afterAll(async () => {
  await scanners?.stop();
  await chain?.revert(chainAtStart);
  chain?.close();
});

/** Fills the checkout form for USDT on the local chain, submits it and waits for the QR code; returns what the page shows. */
async function createOnPage(page: Page, amount: string): Promise<{ id: string; address: string; amount: string }> {
  await page.goto(`${app.baseUrl}/checkout`);
  await page.locator('#view-form').waitFor();
  await page.selectOption('#token', `${LOCAL_NETWORK_ID}:USDT`);
  await page.fill('#product', 'Coffee beans');
  await page.fill('#amount', amount);
  await page.click('#submit');
  await page.locator('#view-pay').waitFor();
  // decode() settles once the image has loaded (or failed to).
  const width = await page.locator('#qr-image').evaluate(async (image: { decode(): Promise<void>; naturalWidth: number }) => {
    await image.decode();
    return image.naturalWidth;
  });
  expect(width).toBeGreaterThan(0);
  return { id: (await page.textContent('#pay-id'))!.trim(), address: (await page.textContent('#pay-address'))!.trim(), amount: (await page.textContent('#pay-amount'))!.trim() };
}

/** Counts the page's polls of a payment (GET /api/v1/payments/{id}). */
function countPolls(page: Page): { count: number } {
  const polls = { count: 0 };
  page.on('request', (request) => {
    if (request.method() === 'GET' && /\/api\/v1\/payments\/pay_[0-9a-f]{24}$/.test(new URL(request.url()).pathname)) polls.count++;
  });
  return polls;
}

function expectNoScriptErrors(log: PageLog): void {
  expect(log.scriptErrors()).toEqual([]);
}

describe('the checkout page', () => {
  test.each([
    { screen: 'a desktop', options: undefined },
    { screen: 'a phone', options: PHONE },
  ])('on $screen: create → QR code and address → paid on chain → success, pushed over the WebSocket', ({ options }) =>
    browser.withPage(async (page, log) => {
      const polls = countPolls(page);
      const shown = await createOnPage(page, '6.5');
      expect(shown.amount).toBe('6.5');
      expect(shown.address).toMatch(/^0x[0-9a-fA-F]{40}$/);
      expect(page.url()).toBe(`${app.baseUrl}/checkout?id=${shown.id}`);
      expect(await page.textContent('#countdown')).toMatch(/^Expires in \d+:\d\d/);
      expect(await page.getAttribute('#pay-uri', 'href')).toBe(`ethereum:${(await app.api(`/api/v1/payments/${shown.id}`, { key: null })).body.tokenAddress}@31337/transfer?address=${shown.address}&uint256=6500000`);
      await page.locator('#live[data-mode="ws"]').waitFor();
      await expectStatus(page, 'new');

      const tx = await chain.transferToken('USDT', PAYER, shown.address, '6.5');
      await expectStatus(page, 'processing');
      await chain.mine(confirmations);

      await page.locator('#view-success').waitFor();
      expect(await page.textContent('#success-title')).toBe('Payment received');
      expect(await page.textContent('#success-text')).toContain('6.5 USDT received for Coffee beans');
      expect(await page.textContent('#success-tx')).toBe(tx.hash);
      const [, confirmedBy] = /^In block (?:\d+) of local \(chain 31337\), (\d+) confirmations\.$/.exec((await page.textContent('#success-chain')) ?? '') ?? [];
      expect(await page.textContent('#success-chain')).toContain(`In block ${tx.blockNumber} of ${LOCAL_NETWORK_ID} (chain 31337)`);
      expect(Number(confirmedBy)).toBeGreaterThanOrEqual(confirmations);
      expect(polls.count).toBe(0);
      expectNoScriptErrors(log);
    }, options),
  );

  it('reaches success by polling when the WebSocket is blocked', () =>
    browser.withPage(async (page, log) => {
      await page.routeWebSocket(/\/ws\/payments\//, (socket) => socket.close({ code: 1011, reason: 'blocked by the test' }));
      const polls = countPolls(page);
      const shown = await createOnPage(page, '2.25');
      await page.locator('#live[data-mode="poll"]').waitFor();

      await chain.transferToken('USDT', PAYER, shown.address, '2.25');
      await expectStatus(page, 'processing');
      await chain.mine(confirmations);

      await page.locator('#view-success').waitFor();
      expect(await page.textContent('#success-text')).toContain('2.25 USDT received');
      expect(polls.count).toBeGreaterThan(0);
      expectNoScriptErrors(log);
    }));

  it('pays for a product chosen from the list: its price, name and description, with no amount to type', () =>
    browser.withPage(async (page, log) => {
      const productId = `beans-${Date.now()}`;
      const put = await app.api(`/api/v1/products/${productId}`, { method: 'PUT', body: { name: 'Coffee beans, 1 kg', description: 'Single origin', price: '6.5' } });
      expect(put.status).toBe(201);
      await page.goto(`${app.baseUrl}/checkout`);
      await page.locator('#view-form').waitFor();
      await page.selectOption('#catalog', productId);
      expect(await page.isHidden('#amount-field')).toBe(true);
      expect(await page.isHidden('#custom-fields')).toBe(true);
      expect(await page.textContent('#catalog-hint')).toBe('Single origin — 6.5 in the token you choose');
      await page.selectOption('#token', `${LOCAL_NETWORK_ID}:USDT`);
      await page.click('#submit');
      await page.locator('#view-pay').waitFor();
      expect((await page.textContent('#pay-amount'))!.trim()).toBe('6.5');
      expect(await page.textContent('#pay-product')).toBe('Coffee beans, 1 kg — Single origin');
      const id = (await page.textContent('#pay-id'))!.trim();
      expect((await app.api(`/api/v1/payments/${id}`, { key: null })).body).toMatchObject({ productId, amount: '6.5', token: 'USDT' });
      // Back to a custom amount, the fields are there again
      await page.goto(`${app.baseUrl}/checkout`);
      await page.locator('#view-form').waitFor();
      expect(await page.isVisible('#amount-field')).toBe(true);
      expectNoScriptErrors(log);
    }));

  it('shows an underpaid payment with what is due, and takes a transaction hash by hand', () =>
    browser.withPage(async (page, log) => {
      const shown = await createOnPage(page, '5');
      await chain.transferToken('USDT', PAYER, shown.address, '2');
      await chain.mine(confirmations);
      await expectStatus(page, 'underpaid');
      expect(await page.textContent('#status-text')).toBe('Received 2 of 5 USDT: send the remaining 3.');

      await page.click('#manual summary');
      await page.fill('#tx-hash', '0x1234');
      await page.click('#process-submit');
      await page.locator('#process-error:not([hidden])').waitFor();
      expect(await page.textContent('#process-error')).toContain('txHash');

      const topUp = await chain.transferToken('USDT', PAYER, shown.address, '3');
      await page.fill('#tx-hash', topUp.hash);
      await page.click('#process-submit');
      await chain.mine(confirmations);
      await page.locator('#view-success').waitFor();
      expectNoScriptErrors(log);
    }));

  it('opens a payment by ?id= (its outcome once paid), and says so when there is no such payment', () =>
    browser.withPage(async (page, log) => {
      const payment = await givenPayment(app, { amount: '1.5', productName: 'Tea' });
      await chain.transferToken('USDT', PAYER, payment.address, '1.5');
      await chain.mine(confirmations);
      await paymentReaches(app, payment.id, ['paid']);

      await page.goto(`${app.baseUrl}/checkout?id=${payment.id}`);
      await page.locator('#view-success').waitFor();
      expect(await page.textContent('#success-text')).toContain('1.5 USDT received for Tea');

      await page.goto(`${app.baseUrl}/checkout?id=pay_000000000000000000000000`);
      await page.locator('#view-form').waitFor();
      expect(await page.textContent('#form-error')).toBe('Payment pay_000000000000000000000000 was not found.');
      expectNoScriptErrors(log);
    }));

  it('refuses an amount with more decimals than the token has, with the API\'s message', () =>
    browser.withPage(async (page) => {
      await page.goto(`${app.baseUrl}/checkout`);
      await page.locator('#view-form').waitFor();
      await page.selectOption('#token', `${LOCAL_NETWORK_ID}:USDT`);
      await page.fill('#amount', '1.1234567');
      await page.click('#submit');
      await page.locator('#form-error:not([hidden])').waitFor();
      expect(await page.textContent('#form-error')).toContain('6 decimal places');
    }));
});

describe('the ops page', () => {
  it('asks for a key, then shows the stats, the scanners with links to their runs in the Temporal UI, and the latest payments', () =>
    browser.withPage(async (page, log) => {
      await page.goto(`${app.baseUrl}/ops`);
      await page.fill('#api-key', 'not-a-key-of-this-api');
      await page.click('#key-submit');
      await page.locator('#ops-error:not([hidden])').waitFor();
      expect(await page.textContent('#ops-error')).toContain('The key was refused');

      await page.fill('#api-key', TEST_KEYS.read);
      await page.click('#key-submit');
      await page.locator('#dashboard:not([hidden])').waitFor();
      expect(Number(await page.textContent('#figure-total .value'))).toBeGreaterThan(0);
      expect(await page.textContent('#figure-database .value')).toBe('✓ healthy');
      expect(await page.textContent('#figure-workers .value')).toContain('polling');
      const ui = `${app.config.temporal.uiUrl}/namespaces/${app.config.temporal.namespace}/workflows`;
      expect(await page.getAttribute('#scanner-rows a[href$="scanner-31337-USDT"]', 'href')).toBe(`${ui}/scanner-31337-USDT`);
      // the alerts' status, as GET /api/v1/stats/alerts says it
      expect(['ok', 'warning', 'critical']).toContain(await page.textContent('#alerts-status'));
      // the newest messages, among them the Transfer logs the scanners routed to the payments paid above
      const messageTypes = await page.locator('#message-rows tr td:nth-child(4)').allTextContents();
      expect(messageTypes.length).toBeGreaterThan(0);
      expect(messageTypes).toContain('transfer_event');
      const firstRun = await page.getAttribute('#payment-rows tr:first-child td:last-child a', 'href');
      expect(firstRun).toMatch(new RegExp(`^${ui.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/checkout-pay_[0-9a-f]{24}$`));
      expectNoScriptErrors(log);
    }));
});

async function expectStatus(page: Page, status: string): Promise<void> {
  await page.locator(`#status-badge[data-status="${status}"]`).waitFor({ state: 'attached' });
}
