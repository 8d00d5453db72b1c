import { describe, expect, it } from 'vitest';
import { migrationSteps, outcomeOf, targetView } from './phases';
import type { TargetProgress } from '../state/run-progress';

const states = (steps: ReturnType<typeof migrationSteps>) => steps.map((step) => step.state).join(' ');

describe('migrationSteps', () => {
  it('marks earlier phases done and the current one current', () => {
    expect(states(migrationSteps('copy', null))).toBe('done done current pending pending pending pending pending');
  });
  it('marks everything pending before the first phase', () => {
    expect(states(migrationSteps(null, null))).toBe('pending pending pending pending pending pending pending pending');
  });
  it('marks the phase a run failed in', () => {
    expect(states(migrationSteps('cutover', 'failed'))).toBe('done done done done done failed pending pending');
  });
  it('marks everything done on success or at done', () => {
    expect(states(migrationSteps('verify', 'succeeded'))).toBe('done done done done done done done done');
    expect(states(migrationSteps('done', null))).toBe('done done done done done done done done');
  });
});

describe('outcomeOf', () => {
  it('maps run statuses', () => {
    expect(outcomeOf('running')).toBeNull();
    expect(outcomeOf('succeeded')).toBe('succeeded');
    expect(outcomeOf('finalized')).toBe('succeeded');
    expect(outcomeOf('failed')).toBe('failed');
    expect(outcomeOf('interrupted')).toBe('stopped');
  });
});

describe('targetView', () => {
  const journal = {
    targetNo: 1,
    schema: 'public',
    table: 'orders',
    keyColumn: 'customer_id',
    bucketLimit: 1000,
    phase: 'copy' as const,
    status: 'running' as const,
    rowsTotal: 1000,
    rowsCopied: 400,
    keysTotal: 10,
    keysCopied: 4,
    cutoverAt: null,
    error: null,
  };
  it('prefers live progress over the journal', () => {
    const live: TargetProgress = {
      table: 'public.orders',
      phase: 'copy',
      phaseMessage: 'Copying',
      overall: 0.3,
      updatedAt: 'x',
      progress: {
        type: 'progress',
        runId: 1,
        at: 'x',
        phase: 'copy',
        done: 700,
        total: 1000,
        unit: 'rows',
        perSecond: 50,
        etaSeconds: 6,
        currentKey: '42',
      },
    };
    expect(targetView('public.orders', live, journal)).toMatchObject({
      done: 700,
      perSecond: 50,
      currentKey: '42',
      message: 'Copying',
    });
  });
  it('falls back to the journal after a reload', () => {
    expect(targetView('public.orders', undefined, journal)).toMatchObject({
      phase: 'copy',
      done: 400,
      total: 1000,
      perSecond: null,
    });
  });
});
