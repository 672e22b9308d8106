// Adaptive concurrency for payouts (seed 001: "根据成功率动态调整并发数"): grow while the provider keeps up,
// back off on failures, and harder on 429s, always within [min, max]. Pure: usable in activities and tests.
import type { ConcurrencyLimits } from './batch-payout';

export type Observation = 'ok' | 'failed' | 'rate_limited';

export class AdaptiveConcurrency {
  private ok = 0;
  private failed = 0;
  private limited = 0;

  constructor(
    private value: number,
    private limits: ConcurrencyLimits,
    /** Results per decision: small enough to react within a second at full speed. */
    private readonly window = 100,
  ) {
    this.value = clamp(value, limits);
  }

  get current(): number {
    return this.value;
  }

  setLimits(limits: ConcurrencyLimits): void {
    this.limits = limits;
    this.value = clamp(this.value, limits);
  }

  observe(what: Observation): void {
    if (what === 'ok') this.ok++;
    else if (what === 'failed') this.failed++;
    else this.limited++;
    if (this.ok + this.failed + this.limited >= this.window) this.decide();
  }

  private decide(): void {
    const total = this.ok + this.failed + this.limited;
    const successRate = this.ok / total;
    if (this.limited > 0) this.value = clamp(Math.floor(this.value * 0.75), this.limits);
    else if (successRate >= 0.9) this.value = clamp(this.value + 4, this.limits);
    else if (successRate < 0.75) this.value = clamp(Math.floor(this.value * 0.8), this.limits);
    this.ok = this.failed = this.limited = 0;
  }
}

const clamp = (n: number, { min, max }: ConcurrencyLimits) => Math.max(min, Math.min(max, n));
