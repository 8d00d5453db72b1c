import { describe, expect, it } from 'vitest';
import { runs } from '../../testing/fixtures';
import { applyRunEvents } from '../../state/run-progress';
import { nextActions, runStatus } from './run-state';
import { pickMonitoredRun } from './RunsScreen';

describe('pickMonitoredRun', () => {
  const history = runs();
  it('follows the run the user chose', () => {
    expect(pickMonitoredRun(2, history, [7])).toBe(2);
  });
  it('otherwise follows a running run of this database', () => {
    const running = [{ ...history[0]!, runId: 9, status: 'running' as const }, ...history];
    expect(pickMonitoredRun(null, running, [])).toBe(9);
  });
  it('otherwise the newest run that sent events, if the journal knows it', () => {
    expect(pickMonitoredRun(null, history, [2, 3])).toBe(3);
    // Run 7 is another database's: events do not say where they come from.
    expect(pickMonitoredRun(null, history, [7])).toBeNull();
    // Without a readable journal, live runs are all there is.
    expect(pickMonitoredRun(null, undefined, [7])).toBe(7);
  });
  it('follows nothing when nothing runs', () => {
    expect(pickMonitoredRun(null, history, [])).toBeNull();
  });
});

describe('runStatus', () => {
  const at = '2025-11-24T09:00:00Z';
  const event = (runId: number, receivedAt: number, type: 'log' | 'rollback' = 'log') =>
    applyRunEvents(
      { runs: {} },
      [
        type === 'log'
          ? { type: 'log', runId, at, level: 'info', message: 'x' }
          : { type: 'phase', runId, at, phase: 'rollback', message: 'rolling back' },
      ],
      receivedAt,
    ).runs[runId];
  it('prefers how the run finished live over an older read of the journal', () => {
    const live = applyRunEvents(
      { runs: {} },
      [{ type: 'finished', runId: 3, at, status: 'cancelled', message: 'Cancelled' }],
      2000,
    ).runs[3];
    expect(runStatus(live, runs()[0], 1000)).toBe('cancelled');
  });
  it('says running while a finished run sends events again (a rollback), until the journal is read again', () => {
    const live = event(2, 2000, 'rollback');
    expect(runStatus(live, runs()[1], 1000)).toBe('running');
    expect(runStatus(live, { ...runs()[1]!, status: 'rolled_back' }, 3000)).toBe('rolled_back');
  });
  it('uses the journal, and assumes running for a run known only from events', () => {
    expect(runStatus(undefined, runs()[1])).toBe('succeeded');
    expect(runStatus(event(5, 1000), undefined)).toBe('running');
  });
});

describe('nextActions', () => {
  it('offers to continue a rollback that stopped part way, and nothing else', () => {
    const run = {
      ...runs()[1]!,
      status: 'interrupted' as const,
      rollingBack: true,
      canResume: false,
      canFinalize: false,
    };
    expect(nextActions(run, 'interrupted').map((b) => [b.action, b.label])).toEqual([
      ['rollback', 'Continue rollback'],
    ]);
  });
  it('offers nothing while the run runs, whatever the journal read before said', () => {
    expect(nextActions(runs()[1]!, 'running')).toEqual([]);
  });
});
