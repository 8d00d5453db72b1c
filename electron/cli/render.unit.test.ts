import { describe, expect, it } from 'vitest';
import { progressLine } from './render.js';

const at = '2026-01-01T00:00:00.000Z';

describe('progressLine', () => {
  it('shows the catch-up apply rate and the changes still pending', () => {
    const line = progressLine({
      type: 'progress',
      runId: 1,
      table: 'public.orders',
      at,
      phase: 'catch_up',
      done: 120_000,
      total: 132_500,
      unit: 'changes',
      perSecond: 21_000,
      etaSeconds: 1,
      pending: 12_500,
    });
    expect(line).toContain('120,000/132,500 changes 21,000 changes/s 12,500 pending ETA 1s');
  });

  it('says nothing of pending changes where a phase reports none', () => {
    const line = progressLine({
      type: 'progress',
      runId: 1,
      table: 'public.orders',
      at,
      phase: 'copy',
      done: 10,
      total: 20,
      unit: 'rows',
      perSecond: 5,
      etaSeconds: 2,
    });
    expect(line).not.toContain('pending');
  });

  it('shows rate and ETA while the work goes on, and why it waits while paused', () => {
    const figures = {
      type: 'progress' as const,
      runId: 1,
      table: 'public.orders',
      at,
      phase: 'copy' as const,
      done: 250,
      total: 1000,
      unit: 'rows' as const,
      perSecond: 50,
      etaSeconds: 15,
    };
    expect(progressLine(figures, 4)).toBe('[copy] public.orders █░░░ 25% 250/1,000 rows 50 rows/s ETA 15s');
    expect(progressLine({ ...figures, paused: 'standby replica1 lag 12 MB > 8 MB' }, 4)).toBe(
      '[copy] public.orders █░░░ 25% 250/1,000 rows paused: standby replica1 lag 12 MB > 8 MB',
    );
  });
});
