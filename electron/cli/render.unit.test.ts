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
});
