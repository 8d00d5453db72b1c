import { describe, expect, it } from 'vitest';
import { convergesSoon, registryFitsSwap, stalled } from './catch-up.js';

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

describe('the gap the catch-up leaves the writers between pauses', () => {
  it('shrinks while, at the pace of the last pause and gap, the backlog would take more than 3 s to go', () => {
    // 100,000 -> 90,000 in 0.6 s: the rest would take 5.4 s.
    expect(convergesSoon({ at: 0, applied: 0, backlog: 100_000 }, { at: 600, applied: 0, backlog: 90_000 })).toBe(
      false,
    );
    // Not falling, or rising.
    expect(convergesSoon({ at: 0, applied: 0, backlog: 50_000 }, { at: 600, applied: 0, backlog: 50_000 })).toBe(false);
    expect(convergesSoon({ at: 0, applied: 0, backlog: 50_000 }, { at: 600, applied: 0, backlog: 55_000 })).toBe(false);
  });

  it('stays once the rest would be gone within 3 s at that pace', () => {
    // 40,000 -> 20,000 in 0.6 s: the rest in 0.6 s.
    expect(convergesSoon({ at: 0, applied: 0, backlog: 40_000 }, { at: 600, applied: 0, backlog: 20_000 })).toBe(true);
  });
});

describe("the hand-over's judgment of the unique registries' log", () => {
  const at = (registryBacklog?: number) => ({ at: 0, applied: 0, backlog: 0, registryBacklog });

  it('leaves the swap at most one batch of their sync', () => {
    expect(registryFitsSwap(at(0), 10_000)).toBe(true);
    expect(registryFitsSwap(at(10_000), 10_000)).toBe(true);
    // The first sync of a large table, still going on.
    expect(registryFitsSwap(at(700_000), 10_000)).toBe(false);
    expect(registryFitsSwap(at(10_001), 10_000)).toBe(false);
  });

  it('does not hand over on a sample taken before the registries were built', () => {
    expect(registryFitsSwap(at(undefined), 10_000)).toBe(false);
  });
});
