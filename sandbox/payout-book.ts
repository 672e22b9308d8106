// The payout provider's own records: batches, every request id it decided on, and how many times each (batchPayId, uid) was paid.
import { randomUUID } from 'node:crypto';
import { money, sumAmounts } from '../domain/money';

export interface PayoutInstruction {
  batchPayId: string;
  requestId: string;
  uid: number;
  /** Canonical text at the currency's scale, so "1.5" and "1.50" are the same instruction. */
  amount: string;
  currency: string;
}

export type PayoutRecord = PayoutInstruction &
  ({ status: 'paid'; providerRef: string; executedAt: number } | { status: 'rejected'; code: number; reason: string; decidedAt: number });

interface Batch {
  batchPayId: string;
  total: number;
  beganAt: number;
  finish?: { paid: number; failed: number; amount: string; finishedAt: number };
  /** Payouts executed in this batch, per uid: more than one for a uid is a duplicate, whatever the request ids. */
  executionsPerUid: Map<number, number>;
  executed: Extract<PayoutRecord, { status: 'paid' }>[];
}

export type PayDecision =
  | { kind: 'paid'; record: PayoutRecord & { status: 'paid' }; replayed: boolean }
  | { kind: 'rejected'; record: PayoutRecord & { status: 'rejected' }; replayed: boolean }
  /** The request id is known with another batch, uid, amount or currency. */
  | { kind: 'conflict'; existing: PayoutRecord }
  | { kind: 'batch_not_found' }
  | { kind: 'batch_finished' };

export type BatchDecision =
  | { kind: 'ok'; batch: BatchView }
  | { kind: 'conflict'; batch: BatchView }
  | { kind: 'batch_not_found' };

export interface BatchView {
  batchPayId: string;
  total: number;
  status: 'open' | 'finished';
  beganAt: number;
  /** What the provider itself executed in this batch. */
  executed: { count: number; amount: string; firstAt?: number; lastAt?: number };
  /** What the client declared at batchPayFinish. */
  declared?: { paid: number; failed: number; amount: string; finishedAt: number };
}

export interface ExecutionCount {
  /** Payouts executed. */
  total: number;
  /** Distinct (batchPayId, uid) among them. */
  distinctItems: number;
  /** Executions beyond the first of each (batchPayId, uid): 0 unless someone paid an item twice. */
  duplicates: number;
  amount: string;
  /** Up to 20 items paid more than once. */
  duplicateItems: { batchPayId: string; uid: number; executions: number }[];
  /** Every item, only when there are at most PER_ITEM_LIMIT of them. */
  perItem?: { batchPayId: string; uid: number; executions: number }[];
}

const PER_ITEM_LIMIT = 100;

export class PayoutBook {
  private batches = new Map<string, Batch>();
  private payouts = new Map<string, PayoutRecord>();

  clear(): void {
    this.batches.clear();
    this.payouts.clear();
  }

  /** Idempotent by batchPayId: the same total again is the same batch; another total is a conflict. */
  begin(batchPayId: string, total: number): BatchDecision {
    let batch = this.batches.get(batchPayId);
    if (batch) return { kind: batch.total === total ? 'ok' : 'conflict', batch: view(batch) };
    batch = { batchPayId, total, beganAt: Date.now(), executionsPerUid: new Map(), executed: [] };
    this.batches.set(batchPayId, batch);
    return { kind: 'ok', batch: view(batch) };
  }

  /** A request id is decided once: later requests with it get that decision, never a second execution. */
  pay(instruction: PayoutInstruction, refuseAccount: (uid: number) => boolean): PayDecision {
    const known = this.payouts.get(instruction.requestId);
    if (known) {
      if (!sameInstruction(known, instruction)) return { kind: 'conflict', existing: known };
      return known.status === 'paid' ? { kind: 'paid', record: known, replayed: true } : { kind: 'rejected', record: known, replayed: true };
    }
    const batch = this.batches.get(instruction.batchPayId);
    if (!batch) return { kind: 'batch_not_found' };
    if (batch.finish) return { kind: 'batch_finished' };
    if (refuseAccount(instruction.uid)) {
      const record = { ...instruction, status: 'rejected' as const, code: 4001, reason: 'account invalid', decidedAt: Date.now() };
      this.payouts.set(instruction.requestId, record);
      return { kind: 'rejected', record, replayed: false };
    }
    const record = { ...instruction, status: 'paid' as const, providerRef: `opr_${randomUUID().replaceAll('-', '')}`, executedAt: Date.now() };
    this.payouts.set(instruction.requestId, record);
    batch.executed.push(record);
    batch.executionsPerUid.set(instruction.uid, (batch.executionsPerUid.get(instruction.uid) ?? 0) + 1);
    return { kind: 'paid', record, replayed: false };
  }

  /** Idempotent by batchPayId: the same summary again is accepted; another summary after the first is a conflict. */
  finish(batchPayId: string, summary: { paid: number; failed: number; amount: string }): BatchDecision {
    const batch = this.batches.get(batchPayId);
    if (!batch) return { kind: 'batch_not_found' };
    if (batch.finish) {
      const same = batch.finish.paid === summary.paid && batch.finish.failed === summary.failed && money(batch.finish.amount).eq(summary.amount);
      return { kind: same ? 'ok' : 'conflict', batch: view(batch) };
    }
    batch.finish = { ...summary, finishedAt: Date.now() };
    return { kind: 'ok', batch: view(batch) };
  }

  payout(requestId: string): PayoutRecord | undefined {
    return this.payouts.get(requestId);
  }

  batch(batchPayId: string): BatchView | undefined {
    const batch = this.batches.get(batchPayId);
    return batch && view(batch);
  }

  /** Executions of one batch, or of all of them. */
  executions(batchPayId?: string): ExecutionCount {
    const batches = batchPayId === undefined ? [...this.batches.values()] : [this.batches.get(batchPayId)].filter((b): b is Batch => !!b);
    const items: { batchPayId: string; uid: number; executions: number }[] = [];
    let total = 0;
    for (const batch of batches) {
      total += batch.executed.length;
      for (const [uid, executions] of batch.executionsPerUid) items.push({ batchPayId: batch.batchPayId, uid, executions });
    }
    const duplicated = items.filter((item) => item.executions > 1);
    return {
      total,
      distinctItems: items.length,
      duplicates: total - items.length,
      amount: sumAmounts(batches.flatMap((b) => b.executed.map((r) => r.amount))).toFixed(),
      duplicateItems: duplicated.slice(0, 20),
      ...(items.length <= PER_ITEM_LIMIT ? { perItem: items } : {}),
    };
  }
}

function sameInstruction(a: PayoutInstruction, b: PayoutInstruction): boolean {
  return a.batchPayId === b.batchPayId && a.uid === b.uid && a.amount === b.amount && a.currency === b.currency;
}

function view(batch: Batch): BatchView {
  return {
    batchPayId: batch.batchPayId,
    total: batch.total,
    status: batch.finish ? 'finished' : 'open',
    beganAt: batch.beganAt,
    executed: {
      count: batch.executed.length,
      amount: sumAmounts(batch.executed.map((r) => r.amount)).toFixed(),
      ...(batch.executed.length > 0 ? { firstAt: batch.executed[0].executedAt, lastAt: batch.executed[batch.executed.length - 1].executedAt } : {}),
    },
    ...(batch.finish ? { declared: batch.finish } : {}),
  };
}
