// The sandbox started by globalSetup: its address, its control API (reset, configure, count executions) and a payout client pointed at it.
import { createPayoutApiClient, type PayoutApiClientOptions } from '../../activities/providers/payout-api-client';
import type { PayoutApi } from '../../activities/providers/payout-api';
import { loadConfig } from '../../config';
import type { ExecutionCount, BatchView } from '../../sandbox/payout-book';
import type { PayoutSandboxSettings } from '../../sandbox/payouts';
import type { Service } from '../../scripts/stack/processes';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\` (jest's globalSetup starts the sandbox)`);
  return value;
}

async function control<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const res = await fetch(`${sandboxUrl()}/sandbox/payouts${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`sandbox ${method} ${route} answered ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

/** http://127.0.0.1:<port> of the sandbox process. */
export function sandboxUrl(): string {
  return required('SANDBOX_URL');
}

/** The payout provider emulator, driven through its control API. */
export const payoutSandbox = {
  /** The base URL of its payout API, as PAYOUT_API_URL. */
  get apiUrl(): string {
    return required('PAYOUT_API_URL');
  },
  /** Forgets every batch, payout and counter; back to the defaults (50 ± 20 ms, capacity 64, no faults). */
  reset: () => control<PayoutSandboxSettings>('POST', '/reset'),
  /** Changes the given settings and keeps the others. */
  configure: (settings: Partial<PayoutSandboxSettings>) => control<PayoutSandboxSettings>('POST', '/config', settings),
  /** Payouts executed, in one batch or in all; `duplicates` counts items paid more than once, whatever the request ids. */
  executions: (batchPayId?: string) => control<ExecutionCount>('GET', `/executions${batchPayId === undefined ? '' : `?batchPayId=${encodeURIComponent(batchPayId)}`}`),
  batch: (batchPayId: string) => control<BatchView>('GET', `/batches/${encodeURIComponent(batchPayId)}`),
  stats: () => control<Record<string, number>>('GET', '/stats'),
};

/** A payout API client with the engine's credentials, pointed at the sandbox. */
export function payoutClient(overrides: Partial<PayoutApiClientOptions> = {}): PayoutApi {
  const { payouts } = loadConfig(process.env);
  return createPayoutApiClient({ apiUrl: payoutSandbox.apiUrl, appId: payouts.appId, token: payouts.token, timeoutMs: payouts.timeoutMs, ...overrides });
}

/** Waits until a freshly started sandbox process answers /health; fails with its output if it exits first. */
export async function waitForSandbox(url: string, service: Service, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not listening yet
    }
    if (!service.running()) throw new Error(`the sandbox ${await service.exited} before answering ${url}/health:\n${service.tail()}`);
    if (Date.now() > deadline) throw new Error(`the sandbox did not answer ${url}/health within ${timeoutMs / 1000}s:\n${service.tail()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
