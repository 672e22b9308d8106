// Headless Chromium (Debian's package, driven by playwright-core): one browser per test file, a fresh page per test,
// and what the page logged added to a failing test's message.
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { findChromium } from '../../scripts/stack/chromium';

/** A phone-sized viewport (an iPhone 13's CSS pixels), touch enabled. */
export const PHONE: BrowserContextOptions = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true };

/** The browser's own line for an error response or a failed request: expected whenever a test makes the API refuse something or cuts the network. */
const FAILED_RESOURCE = /^Failed to load resource: /;

export interface PageLog {
  /** Console errors and uncaught exceptions, in order. */
  readonly errors: string[];
  /** The same without the browser's lines about error responses: what the page's own scripts got wrong (CSP violations included). */
  scriptErrors(): string[];
}

export interface BrowserSession {
  /** Runs `use` with a fresh page (its own cookies and storage) and closes it after, whatever happens. */
  withPage<T>(use: (page: Page, log: PageLog) => Promise<T>, options?: BrowserContextOptions): Promise<T>;
}

export function useBrowser(): BrowserSession {
  let browser: Browser | undefined;
  beforeAll(async () => {
    const executablePath = findChromium();
    if (!executablePath) throw new Error('chromium is not installed: `npm test` installs it (scripts/stack/install.ts), or apt-get install chromium');
    // Tests run as root in CI containers, where Chromium's sandbox cannot start.
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  return {
    async withPage(use, options) {
      if (!browser) throw new Error('the browser did not start (see the beforeAll error)');
      const context = await browser.newContext(options);
      context.setDefaultTimeout(15_000);
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') errors.push(`console.error: ${message.text()}${message.location().url ? ` (${message.location().url})` : ''}`);
      });
      page.on('pageerror', (err) => errors.push(`uncaught: ${err.stack ?? err.message}`));
      const log: PageLog = { errors, scriptErrors: () => errors.filter((line) => !FAILED_RESOURCE.test(line.replace(/^console\.error: /, ''))) };
      try {
        return await use(page, log);
      } catch (err) {
        throw await withPageReport(err, page, errors);
      } finally {
        await context.close();
      }
    },
  };
}

/** The failure, its message extended with the page's URL, its visible text and what it logged. */
async function withPageReport(err: unknown, page: Page, errors: string[]): Promise<unknown> {
  if (!(err instanceof Error)) return err;
  const text = await page
    .locator('body')
    .innerText({ timeout: 1000 })
    .catch(() => '(unreadable)');
  const report = [
    `page: ${page.url()}`,
    `visible text: ${text.replace(/\s+/g, ' ').trim().slice(0, 1200)}`,
    errors.length ? `console errors:\n  ${errors.join('\n  ')}` : 'console errors: none',
  ].join('\n');
  const original = err.message;
  err.message = `${original}\n\n${report}`;
  // Jest prints an expect() failure from its message, anything else (Playwright's timeouts) from its stack.
  if (!('matcherResult' in err) && err.stack) err.stack = err.stack.replace(original, err.message);
  return err;
}
