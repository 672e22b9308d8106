import { SlidingWindowLimiter } from '../../domain/sliding-window';

describe('sliding-window rate limit', () => {
  it('allows the limit within a second and refuses the next', () => {
    const limiter = new SlidingWindowLimiter(3);
    const answers = [0, 100, 200, 300].map((t) => limiter.allow('ip', 10_000 + t));
    expect(answers).toEqual([true, true, true, false]);
  });

  it('keeps counting the previous window while it overlaps, unlike a fixed window', () => {
    const limiter = new SlidingWindowLimiter(4);
    for (const t of [900, 910, 920, 930]) expect(limiter.allow('ip', 10_000 + t)).toBe(true);
    // 100 ms into the next window, 90% of the previous 4 still count (3.6): one more fits, where a fixed window would let 4 through.
    expect([11_100, 11_100].map((t) => limiter.allow('ip', t))).toEqual([true, false]);
    // Three quarters through, a quarter of them count (1), plus the 1 just allowed: two more fit.
    expect([11_750, 11_750, 11_750].map((t) => limiter.allow('ip', t))).toEqual([true, true, false]);
  });

  it('counts each client on its own and forgets idle ones', () => {
    const limiter = new SlidingWindowLimiter(1);
    expect(limiter.allow('a', 5000)).toBe(true);
    expect(limiter.allow('b', 5000)).toBe(true);
    expect(limiter.allow('a', 5001)).toBe(false);
    limiter.sweep(7000);
    expect(limiter.size).toBe(0);
    expect(limiter.allow('a', 7000)).toBe(true);
  });
});
