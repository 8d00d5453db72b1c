import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RunEvent } from '../../shared/progress';
import { createFakeApi } from '../testing/fake-api';
import { connectRunEvents } from './run-events';

const at = '2025-11-24T09:00:00Z';
const progress = (done: number): RunEvent => ({
  type: 'progress',
  runId: 1,
  at,
  phase: 'copy',
  done,
  total: 100,
  unit: 'rows',
  perSecond: 1,
  etaSeconds: null,
});

describe('connectRunEvents', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('subscribes once and delivers a burst of events as one batch', () => {
    const api = createFakeApi();
    const ingest = vi.fn();
    const stop = connectRunEvents(api, { ingest, flushEveryMs: 100 });
    expect(api.listenerCount('run.event')).toBe(1);
    for (let i = 1; i <= 50; i++) api.emit('run.event', progress(i));
    expect(ingest).not.toHaveBeenCalled();
    vi.advanceTimersByTime(100);
    expect(ingest).toHaveBeenCalledTimes(1);
    expect(ingest.mock.calls[0]![0]).toHaveLength(50);
    stop();
    expect(api.listenerCount('run.event')).toBe(0);
  });

  it('flushes at once when a run finishes, and reports it', () => {
    const api = createFakeApi();
    const ingest = vi.fn();
    const onFinished = vi.fn();
    connectRunEvents(api, { ingest, onFinished });
    api.emit('run.event', progress(10));
    api.emit('run.event', { type: 'finished', runId: 1, at, status: 'succeeded', message: 'Done' });
    expect(ingest).toHaveBeenCalledTimes(1);
    expect(ingest.mock.calls[0]![0].map((event: RunEvent) => event.type)).toEqual(['progress', 'finished']);
    expect(onFinished).toHaveBeenCalledWith(expect.objectContaining({ status: 'succeeded' }));
  });

  it('reports once per flush each connection whose runs entered a new phase', () => {
    const api = createFakeApi();
    const onPhase = vi.fn();
    connectRunEvents(api, { ingest: vi.fn(), onPhase, flushEveryMs: 100 });
    const phase = (connectionId: string, runId: number): RunEvent => ({
      type: 'phase',
      runId,
      connectionId,
      at,
      phase: 'indexes',
      message: 'Building indexes',
    });
    api.emit('run.event', phase('a', 1));
    api.emit('run.event', progress(5));
    api.emit('run.event', phase('a', 2));
    api.emit('run.event', phase('b', 1));
    vi.advanceTimersByTime(100);
    expect(onPhase.mock.calls).toEqual([['a'], ['b']]);
  });

  it('drops payloads that do not match the contract', () => {
    const api = createFakeApi();
    const ingest = vi.fn();
    connectRunEvents(api, { ingest, flushEveryMs: 0 });
    api.emit('run.event', { type: 'progress', runId: 'x' } as unknown as RunEvent);
    api.emit('run.event', progress(5));
    expect(ingest).toHaveBeenCalledTimes(1);
    expect(ingest.mock.calls[0]![0]).toEqual([progress(5)]);
  });

  it('delivers what is buffered when it stops', () => {
    const api = createFakeApi();
    const ingest = vi.fn();
    const stop = connectRunEvents(api, { ingest, flushEveryMs: 1000 });
    api.emit('run.event', progress(1));
    stop();
    expect(ingest).toHaveBeenCalledWith([progress(1)]);
  });
});
