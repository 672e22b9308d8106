// How an emulated provider misbehaves: latency with jitter, slow spells, a capacity, transient failures and lost
// responses, drawn from a seeded generator so that a run can be repeated. Any emulator in the sandbox can use it.
import { z } from 'zod';

export const BehaviourSettings = z.object({
  /** Mean time a request takes to be handled. */
  latencyMs: z.number().int().min(0).max(60_000),
  /** Latency varies uniformly within ± this. */
  jitterMs: z.number().int().min(0).max(60_000),
  /** Requests in flight beyond this are answered 429 at once. */
  capacity: z.number().int().min(1).max(100_000),
  /** Share of requests answered with a transient 5xx, without being executed. */
  failureRate: z.number().min(0).max(1),
  /** Share of requests executed whose response is then lost. */
  lostResponseRate: z.number().min(0).max(1),
  /** `drop`: the connection is destroyed instead of answered; `delay`: the answer comes after lostResponseDelayMs (past the client's timeout). */
  lostResponseMode: z.enum(['drop', 'delay']),
  lostResponseDelayMs: z.number().int().min(0).max(600_000),
  /** For durationMs of every everyMs (counted from when it is set), every request takes extraLatencyMs more. */
  slowSpell: z
    .object({
      everyMs: z.number().int().min(1),
      durationMs: z.number().int().min(0),
      extraLatencyMs: z.number().int().min(0).max(600_000),
    })
    .nullable(),
  /** Seeds the draws (failures, lost responses, jitter); null draws a fresh seed. */
  seed: z.number().int().nullable(),
});
export type BehaviourSettings = z.infer<typeof BehaviourSettings>;

/** A provider that answers in 50 ± 20 ms and holds 64 requests at a time, and never fails until told to. */
export const DEFAULT_BEHAVIOUR: BehaviourSettings = {
  latencyMs: 50,
  jitterMs: 20,
  capacity: 64,
  failureRate: 0,
  lostResponseRate: 0,
  lostResponseMode: 'drop',
  lostResponseDelayMs: 60_000,
  slowSpell: null,
  seed: null,
};

/** mulberry32: a tiny, fast, seedable generator of floats in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ProviderBehaviour {
  private settings: BehaviourSettings = DEFAULT_BEHAVIOUR;
  private random: () => number = Math.random;
  private spellEpoch = Date.now();
  private inFlight = 0;
  private peakInFlight = 0;

  constructor() {
    this.apply(DEFAULT_BEHAVIOUR);
  }

  get current(): BehaviourSettings {
    return this.settings;
  }

  /** Replaces the settings; the draws restart from the seed and a slow spell's schedule from now. */
  apply(settings: BehaviourSettings): void {
    this.settings = settings;
    this.random = seededRandom(settings.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.spellEpoch = Date.now();
    this.peakInFlight = this.inFlight;
  }

  /** Takes a place within the capacity; false when it is full (the caller answers 429 and must not call leave). */
  enter(): boolean {
    if (this.inFlight >= this.settings.capacity) return false;
    this.inFlight++;
    if (this.inFlight > this.peakInFlight) this.peakInFlight = this.inFlight;
    return true;
  }

  leave(): void {
    this.inFlight--;
  }

  load(): { inFlight: number; peakInFlight: number } {
    return { inFlight: this.inFlight, peakInFlight: this.peakInFlight };
  }

  /** How long the request about to be handled takes. */
  latency(): number {
    const { latencyMs, jitterMs, slowSpell } = this.settings;
    let ms = latencyMs + (jitterMs ? (this.random() * 2 - 1) * jitterMs : 0);
    if (slowSpell && (Date.now() - this.spellEpoch) % slowSpell.everyMs < slowSpell.durationMs) ms += slowSpell.extraLatencyMs;
    return Math.max(0, Math.round(ms));
  }

  failsTransiently(): boolean {
    return this.settings.failureRate > 0 && this.random() < this.settings.failureRate;
  }

  losesResponse(): boolean {
    return this.settings.lostResponseRate > 0 && this.random() < this.settings.lostResponseRate;
  }
}
