// A sliding-window rate counter (seed 001: "基于滑动窗口算法的请求频率控制"): the previous window's count,
// weighted by how much of it still overlaps the last second, plus the current window's. Pure: the clock is passed in.

export class SlidingWindowLimiter {
  private readonly windows = new Map<string, { start: number; current: number; previous: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs = 1000,
  ) {}

  /** Counts one request from `key` at `now`; false when it would exceed the limit (and then it is not counted). */
  allow(key: string, now: number): boolean {
    const start = now - (now % this.windowMs);
    let w = this.windows.get(key);
    if (!w || start - w.start >= 2 * this.windowMs) w = { start, current: 0, previous: 0 };
    else if (start !== w.start) w = { start, current: 0, previous: w.current };
    this.windows.set(key, w);
    const overlap = 1 - (now - start) / this.windowMs;
    if (w.previous * overlap + w.current >= this.limit) return false;
    w.current++;
    return true;
  }

  /** Forgets keys idle for two windows, so that memory follows the active clients only. */
  sweep(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= 2 * this.windowMs) this.windows.delete(key);
  }

  get size(): number {
    return this.windows.size;
  }
}
