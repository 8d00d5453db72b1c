import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../shared/progress';
import {
  applyRunEvents,
  liveRunIdsOf,
  liveRunKey,
  LOG_LIMIT,
  RUN_LEVEL,
  selectLiveRun,
  useRunProgress,
  type RunProgressState,
} from './run-progress';

const at = '2025-11-24T09:00:00Z';
const empty: RunProgressState = { runs: {} };
const progress = (runId: number, done: number, table = 'public.orders'): RunEvent => ({
  type: 'progress',
  runId,
  table,
  at,
  phase: 'copy',
  done,
  total: 1000,
  unit: 'rows',
  perSecond: 100,
  etaSeconds: (1000 - done) / 100,
  currentKey: String(done),
});

describe('applyRunEvents', () => {
  it('tracks phase, latest progress and log per target', () => {
    const state = applyRunEvents(empty, [
      { type: 'phase', runId: 1, table: 'public.orders', at, phase: 'prepare', message: 'Checking' },
      { type: 'phase', runId: 1, table: 'public.orders', at, phase: 'copy', message: 'Copying' },
      progress(1, 100),
      progress(1, 250),
      { type: 'log', runId: 1, table: 'public.orders', at, level: 'warn', message: 'Key 7 is big' },
    ]);
    const run = state.runs[1]!;
    expect(run.targetOrder).toEqual(['public.orders']);
    const target = run.targets['public.orders']!;
    expect(target.phase).toBe('copy');
    expect(target.phaseMessage).toBe('Copying');
    expect(target.progress?.done).toBe(250);
    expect(run.log.map((line) => [line.seq, line.level, line.message])).toEqual([
      [1, 'info', 'Checking'],
      [2, 'info', 'Copying'],
      [3, 'warn', 'Key 7 is big'],
    ]);
    expect(run.finished).toBeNull();
  });

  it('drops stale progress when the phase changes', () => {
    let state = applyRunEvents(empty, [progress(1, 1000)]);
    state = applyRunEvents(state, [
      { type: 'phase', runId: 1, table: 'public.orders', at, phase: 'indexes', message: 'Indexes' },
    ]);
    expect(state.runs[1]!.targets['public.orders']!.progress).toBeNull();
  });

  it('keeps several targets and runs apart, in order of appearance', () => {
    const state = applyRunEvents(empty, [progress(1, 10, 'public.b'), progress(1, 20, 'public.a'), progress(2, 30)]);
    expect(state.runs[1]!.targetOrder).toEqual(['public.b', 'public.a']);
    expect(state.runs[2]!.targets['public.orders']!.progress?.done).toBe(30);
  });

  it('files events without a table under the run itself', () => {
    const state = applyRunEvents(empty, [{ type: 'phase', runId: 5, at, phase: 'maintain', message: 'Checking keys' }]);
    expect(state.runs[5]!.targets[RUN_LEVEL]!.phase).toBe('maintain');
  });

  it('records how the run finished, with an error line for failures', () => {
    const state = applyRunEvents(empty, [
      { type: 'finished', runId: 1, at, status: 'failed', message: 'Lock timeout' },
    ]);
    expect(state.runs[1]!.finished).toEqual({ status: 'failed', message: 'Lock timeout', at });
    expect(state.runs[1]!.log.at(-1)).toMatchObject({ level: 'error', message: 'Lock timeout' });
  });

  it('bounds the log and counts what it dropped', () => {
    const events: RunEvent[] = Array.from({ length: LOG_LIMIT + 150 }, (_, i) => ({
      type: 'log',
      runId: 1,
      at,
      level: 'info',
      message: `line ${i}`,
    }));
    const state = applyRunEvents(empty, events);
    const run = state.runs[1]!;
    expect(run.log).toHaveLength(LOG_LIMIT);
    expect(run.droppedLines).toBe(150);
    expect(run.log[0]!.message).toBe('line 150');
    expect(run.log.at(-1)!.seq).toBe(LOG_LIMIT + 150);
  });

  it('leaves untouched runs (and an empty batch) as they were', () => {
    const first = applyRunEvents(empty, [progress(1, 10), progress(2, 10)]);
    const second = applyRunEvents(first, [progress(2, 20)]);
    expect(second.runs[1]).toBe(first.runs[1]);
    expect(second.runs[2]).not.toBe(first.runs[2]);
    expect(applyRunEvents(second, [])).toBe(second);
  });
});

describe('runs of several connections', () => {
  const of = (connectionId: string | undefined, event: RunEvent): RunEvent => ({ ...event, connectionId });

  it('keeps run 1 of one database apart from run 1 of another', () => {
    const state = applyRunEvents(empty, [
      of('a', progress(1, 100)),
      of('b', progress(1, 900)),
      of('a', progress(2, 5)),
    ]);
    expect(selectLiveRun(state, 'a', 1)!.targets['public.orders']!.progress?.done).toBe(100);
    expect(selectLiveRun(state, 'b', 1)!.targets['public.orders']!.progress?.done).toBe(900);
    expect(selectLiveRun(state, 'b', 2)).toBeUndefined();
    expect(liveRunIdsOf(state, 'a')).toEqual([1, 2]);
    expect(liveRunIdsOf(state, 'b')).toEqual([1]);
    expect(liveRunIdsOf(state, 'c')).toEqual([]);
  });

  it('shows runs of events that name no connection to every connection', () => {
    const state = applyRunEvents(empty, [progress(7, 10)]);
    expect(state.runs[liveRunKey(undefined, 7)]!.connectionId).toBeNull();
    expect(selectLiveRun(state, 'a', 7)?.runId).toBe(7);
    expect(liveRunIdsOf(state, 'b')).toEqual([7]);
  });
});

describe('a finished run that runs again', () => {
  it('is running again once a rollback (or resume, or finalize) of it reports a phase', () => {
    let state = applyRunEvents(empty, [{ type: 'finished', runId: 3, at, status: 'succeeded', message: 'Migrated' }]);
    expect(state.runs[3]!.finished?.status).toBe('succeeded');
    state = applyRunEvents(state, [{ type: 'phase', runId: 3, at, phase: 'rollback', message: 'Rolling back' }]);
    expect(state.runs[3]!.finished).toBeNull();
    state = applyRunEvents(state, [{ type: 'finished', runId: 3, at, status: 'rolled_back', message: 'Rolled back' }]);
    expect(state.runs[3]!.finished?.status).toBe('rolled_back');
  });
});

describe('useRunProgress store', () => {
  it('ingests batches and forgets runs', () => {
    useRunProgress.setState({ runs: {} });
    useRunProgress.getState().ingest([progress(9, 500)]);
    expect(useRunProgress.getState().runs[9]!.targets['public.orders']!.progress?.done).toBe(500);
    useRunProgress.getState().forget(9);
    expect(useRunProgress.getState().runs[9]).toBeUndefined();
    useRunProgress.getState().ingest([{ ...progress(9, 500), connectionId: 'a' }]);
    useRunProgress.getState().forget(9, 'a');
    expect(useRunProgress.getState().runs).toEqual({});
  });
});
