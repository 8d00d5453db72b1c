import { describe, expect, it } from 'vitest';
import { runs } from '../../testing/fixtures';
import { applyRunEvents } from '../../state/run-progress';
import { monitorStatus } from './RunMonitor';
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

describe('monitorStatus', () => {
  const at = '2025-11-24T09:00:00Z';
  it('prefers how the run finished live over the journal', () => {
    const live = applyRunEvents({ runs: {} }, [
      { type: 'finished', runId: 3, at, status: 'cancelled', message: 'Cancelled' },
    ]).runs[3];
    expect(monitorStatus(live, runs()[0])).toBe('cancelled');
  });
  it('uses the journal, and assumes running for a run known only from events', () => {
    expect(monitorStatus(undefined, runs()[1])).toBe('succeeded');
    const live = applyRunEvents({ runs: {} }, [{ type: 'log', runId: 5, at, level: 'info', message: 'x' }]).runs[5];
    expect(monitorStatus(live, undefined)).toBe('running');
  });
});
