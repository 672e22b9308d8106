// Donations as tests make them: create one through the API, pay it at the sandbox's "phone", wait for its status,
// and count what it wrote (ledger transfers, ranking rows).
import { expect } from '@jest/globals';
import type { Db } from '../../db/knex';
import type { TestApp } from './app';
import { alipaySandbox } from './alipay-sandbox';
import { waitFor } from './processes';
import { wechatSandbox } from './wechat-sandbox';

export interface DonationBody {
  category?: string;
  amount?: string;
  method?: 'alipay' | 'wechat';
  uid?: number;
  openid?: string;
  name?: string;
  message?: string;
}

/** Creates a donation that must succeed (201) and returns its body. */
export async function givenDonation(app: TestApp, body: DonationBody = {}, idempotencyKey?: string) {
  const res = await app.api('/api/v1/donations', {
    key: null,
    headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {},
    body: { category: 'general', amount: '10.00', method: 'alipay', ...body },
  });
  if (res.status !== 201) throw new Error(`POST /api/v1/donations answered ${res.status}: ${res.text}`);
  return res.body as { orderNo: string; qrContent: string; status: string; method: 'alipay' | 'wechat'; amount: string; expiresAt: string; workflowId: string };
}

/** The buyer pays at the gateway (as scanning the QR would). */
export async function payAtGateway(method: 'alipay' | 'wechat', orderNo: string): Promise<void> {
  if (method === 'alipay') await alipaySandbox.pay(orderNo);
  else await wechatSandbox.pay(orderNo);
}

/** Waits until the API shows the donation in one of `statuses`, and returns its body. */
export async function donationReaches(app: TestApp, orderNo: string, statuses: string[], timeoutMs = 30_000) {
  return waitFor(`donation ${orderNo} to be ${statuses.join(' or ')}`, async () => {
    const res = await app.api(`/api/v1/donations/${orderNo}`, { key: null });
    expect(res.status).toBe(200);
    return statuses.includes(res.body.status) ? res.body : undefined;
  }, timeoutMs, 100);
}

/** The ledger transfers a donation made (its credit, and the holds of its refunds). */
export async function ledgerTransfersOf(db: Db, orderNo: string) {
  return db('transfers').where('id', `donation:${orderNo}`).select('id', 'amount', 'state');
}

export async function countDonations(db: Db): Promise<number> {
  const [{ n }] = await db('donations').count({ n: '*' });
  return Number(n);
}

/** The all-time ranking row of a donor in a category ('*' for all). */
export async function rankingRow(db: Db, donorKey: string, category = '*') {
  return db('donor_totals').where({ category_id: category, donor_key: donorKey }).first();
}
