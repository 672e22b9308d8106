import { AdaptiveConcurrency, type Observation } from '../../domain/adaptive-concurrency';

const feed = (c: AdaptiveConcurrency, what: Observation, n: number) => {
  for (let i = 0; i < n; i++) c.observe(what);
};

describe('adaptive concurrency', () => {
  it('grows while the provider succeeds, up to the maximum', () => {
    const c = new AdaptiveConcurrency(10, { min: 10, max: 60 });
    feed(c, 'ok', 100);
    expect(c.current).toBe(14);
    feed(c, 'ok', 4000);
    expect(c.current).toBe(60);
  });

  it('backs off when the success rate falls, never below the minimum', () => {
    const c = new AdaptiveConcurrency(60, { min: 10, max: 60 });
    for (let i = 0; i < 100; i++) c.observe(i % 2 ? 'ok' : 'failed');
    expect(c.current).toBe(48);
    feed(c, 'failed', 4000);
    expect(c.current).toBe(10);
  });

  it('backs off harder on any 429, and holds steady on a middling success rate', () => {
    const c = new AdaptiveConcurrency(40, { min: 10, max: 60 });
    feed(c, 'ok', 99);
    c.observe('rate_limited');
    expect(c.current).toBe(30);
    for (let i = 0; i < 100; i++) c.observe(i % 5 === 0 ? 'failed' : 'ok');
    expect(c.current).toBe(30);
  });

  it('obeys new limits at once', () => {
    const c = new AdaptiveConcurrency(60, { min: 10, max: 60 });
    c.setLimits({ min: 5, max: 20 });
    expect(c.current).toBe(20);
    c.setLimits({ min: 30, max: 50 });
    expect(c.current).toBe(30);
  });
});
