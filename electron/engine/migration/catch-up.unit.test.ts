import { describe, expect, it } from 'vitest';
import { convergesSoon, endAppliersInPause, registryFitsSwap, registryPauseBatch, stalled } from './catch-up.js';
import { registryLogAnalyzeDue } from './unique-registry.js';

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

describe("the pause logic's judgment of the unique registries' log", () => {
  /** Samples every 250 ms from 0, a change log that fits, and the registries' backlogs given (undefined: not built). */
  const registry = (...backlogs: (number | undefined)[]) =>
    backlogs.map((registryBacklog, i) => ({ at: i * 250, applied: 0, backlog: 0, registryBacklog }));

  it('finds it stalled half a second in when it has not fallen, as the change log', () => {
    expect(stalled(registry(40_000, 41_000))).toBe(false);
    expect(stalled(registry(40_000, 41_000, 42_000), 'registryBacklog')).toBe(true);
    expect(stalled(registry(40_000, 20_000, 10_000), 'registryBacklog')).toBe(false);
  });

  it('has no trend before the registries were built', () => {
    expect(stalled(registry(undefined, undefined, 42_000), 'registryBacklog')).toBe(false);
    expect(stalled(registry(undefined, 41_000, 42_000, 43_000), 'registryBacklog')).toBe(true);
  });

  it('shortens the gap while it would not be gone within 3 s at the pace of the last pause and gap', () => {
    const [before, after] = registry(30_000, 29_000);
    expect(convergesSoon(before!, after!, 'registryBacklog')).toBe(false);
    const [from, to] = registry(30_000, 10_000);
    expect(convergesSoon(from!, to!, 'registryBacklog')).toBe(true);
    expect(convergesSoon(registry(undefined)[0]!, to!, 'registryBacklog')).toBe(false);
  });
});

describe("the unique registries' sync in a pause of the writers", () => {
  const context = { options: { registrySyncBatch: 10_000 } } as Parameters<typeof registryPauseBatch>[0];
  const at = (registryBacklog?: number) => ({ at: 0, applied: 0, backlog: 0, registryBacklog });

  it('syncs nothing while the log is empty or the registries are not built', () => {
    expect(registryPauseBatch(context, at(0), { perMs: 50, analyzed: null }, 400)).toBe(0);
    expect(registryPauseBatch(context, at(undefined), { perMs: 50, analyzed: null }, 400)).toBe(0);
  });

  it('takes what half the time left syncs at the last pace, at most the whole log', () => {
    // 50 entries per ms, 400 ms left: 10,000.
    expect(registryPauseBatch(context, at(80_000), { perMs: 50, analyzed: null }, 400)).toBe(10_000);
    expect(registryPauseBatch(context, at(80_000), { perMs: 50, analyzed: null }, 40)).toBe(1_000);
    expect(registryPauseBatch(context, at(3_000), { perMs: 50, analyzed: null }, 400)).toBe(3_000);
    // Below the log's size too, the rest of a pause still syncs an entry at a time.
    expect(registryPauseBatch(context, at(3_000), { perMs: 0.001, analyzed: null }, 10)).toBe(1);
  });

  it('takes a tenth of a batch of the sync outside pauses while no pace was measured, to measure it', () => {
    expect(registryPauseBatch(context, at(80_000), { perMs: null, analyzed: null }, 400)).toBe(1_000);
    expect(registryPauseBatch(context, at(500), { perMs: null, analyzed: null }, 400)).toBe(500);
    const one = { options: { registrySyncBatch: 1 } } as Parameters<typeof registryPauseBatch>[0];
    expect(registryPauseBatch(one, at(80_000), { perMs: null, analyzed: null }, 400)).toBe(1);
  });
});

describe("the steering's ANALYZE of the unique registries' log", () => {
  it('is done first, then when the log doubled or halved by more than 1,000 entries', () => {
    expect(registryLogAnalyzeDue(null, 0)).toBe(true);
    expect(registryLogAnalyzeDue(700_000, 3_000)).toBe(true);
    expect(registryLogAnalyzeDue(3_000, 7_000)).toBe(true);
    expect(registryLogAnalyzeDue(3_000, 5_000)).toBe(false);
    expect(registryLogAnalyzeDue(40_000, 25_000)).toBe(false);
    // A few hundred entries either way plan alike.
    expect(registryLogAnalyzeDue(0, 900)).toBe(false);
    expect(registryLogAnalyzeDue(900, 0)).toBe(false);
  });
});

describe('the appliers ended inside the pause the catch-up hands over from', () => {
  it('are told to stop and waited for while the pause lasts', async () => {
    const appliers = { stop: false, ended: Promise.resolve() };
    await expect(endAppliersInPause(appliers, 400)).resolves.toBe(true);
    expect(appliers.stop).toBe(true);
  });

  it('are waited for no longer than the pause has left: one stuck behind a session waiting for the pause does not hold it', async () => {
    const appliers = { stop: false, ended: new Promise<void>(() => undefined) };
    await expect(endAppliersInPause(appliers, 20)).resolves.toBe(false);
    expect(appliers.stop).toBe(true);
    // Nothing left of the pause: not waited for at all.
    await expect(endAppliersInPause({ stop: false, ended: new Promise<void>(() => undefined) }, 0)).resolves.toBe(
      false,
    );
  });
});
