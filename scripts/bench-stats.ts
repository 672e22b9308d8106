// Figures for the benches' JSON lines.

/** The q-quantile of ascending `sorted` (nearest rank). */
export const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** `n` to `places` decimals, as a number (one by default). */
export const round = (n: number, places = 1): number => Number(n.toFixed(places));
