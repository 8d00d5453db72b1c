import { describe, expect, it } from 'vitest';
import { stalled } from './catch-up.js';

describe("the catch-up's judgment that the writes outrun the appliers", () => {
  /** Samples every 250 ms from 0, with the backlogs given. */
  const every250 = (...backlogs: number[]) => backlogs.map((backlog, i) => ({ at: i * 250, applied: 0, backlog }));

  it('is made half a second in when the backlog has not fallen', () => {
    expect(stalled(every250(60_000))).toBe(false);
    expect(stalled(every250(60_000, 61_000))).toBe(false);
    expect(stalled(every250(60_000, 61_000, 62_000))).toBe(true);
    expect(stalled(every250(60_000, 60_000, 60_000))).toBe(true);
  });

  it('waits while the backlog falls fast enough to be gone within the convergence horizon', () => {
    // 60,000 -> 40,000 in 0.5 s: the rest, 40,000, gone in 1 s.
    expect(stalled(every250(60_000, 50_000, 40_000))).toBe(false);
    // 60,000 -> 55,000 in 0.5 s: the rest would take 5.5 s.
    expect(stalled(every250(60_000, 57_500, 55_000))).toBe(true);
  });
});
