import { describe, expect, it } from 'vitest';
import { formatMs, runDurations, type RunStep } from './runs.js';

const step = (phase: RunStep['phase'], startedAt: string, durationMs: number | null): RunStep => ({
  targetNo: 1,
  phase,
  startedAt,
  finishedAt: durationMs === null ? null : new Date(Date.parse(startedAt) + durationMs).toISOString(),
  durationMs,
  count: null,
  unit: null,
  lockMs: null,
});

describe('runDurations', () => {
  const migration = [step('prepare', '2026-11-25T20:39:15Z', 200), step('copy', '2026-11-25T20:39:16Z', 5_800)];

  it('adds up the recorded steps of each part, not the time between the parts', () => {
    const rolledBack = [...migration, step('rollback', '2026-11-25T20:45:31Z', 3_000)];
    expect(runDurations({ steps: rolledBack, status: 'rolled_back' })).toEqual({
      migrationMs: 6_000,
      rollbackMs: 3_000,
      finalizeMs: null,
    });
  });

  it('counts a step under way until now while the run runs, and not at all once its process died', () => {
    const running = [...migration, step('indexes', '2026-11-25T20:39:22Z', null)];
    const now = Date.parse('2026-11-25T20:39:25Z');
    expect(runDurations({ steps: running, status: 'running' }, now).migrationMs).toBe(9_000);
    expect(runDurations({ steps: running, status: 'interrupted' }, now).migrationMs).toBe(6_000);
  });
});

describe('formatMs', () => {
  it('keeps milliseconds under a second, one decimal under ten seconds', () => {
    expect(formatMs(42)).toBe('42 ms');
    expect(formatMs(999.6)).toBe('1.0 s');
    expect(formatMs(2_345)).toBe('2.3 s');
    expect(formatMs(12_400)).toBe('12 s');
    expect(formatMs(200_000)).toBe('3 min 20 s');
    expect(formatMs(7_260_000)).toBe('2 h 1 min');
  });
});
