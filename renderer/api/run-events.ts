// The one subscription to `run.event`: validates each payload, batches them
// (one store update per flush, however many events arrived) and tells the
// caller when a run moved to another phase or finished, so that lists of runs
// and tables can refresh.
import type { PartwiseApi } from '../../shared/contract';
import { RunEvent } from '../../shared/progress';

export interface RunEventFeedOptions {
  ingest: (events: RunEvent[]) => void;
  onFinished?: (event: Extract<RunEvent, { type: 'finished' }>) => void;
  /** Once per flush and connection whose runs entered a new phase (the journal changed). */
  onPhase?: (connectionId: string | undefined) => void;
  /** Milliseconds between flushes; events arriving meanwhile are applied together. */
  flushEveryMs?: number;
}

export function connectRunEvents(api: PartwiseApi, options: RunEventFeedOptions): () => void {
  const flushEveryMs = options.flushEveryMs ?? 100;
  let buffer: RunEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  const flush = () => {
    timer = undefined;
    const events = buffer;
    buffer = [];
    if (events.length === 0) return;
    options.ingest(events);
    const moved = new Set(events.filter((event) => event.type === 'phase').map((event) => event.connectionId));
    for (const connectionId of moved) options.onPhase?.(connectionId);
    for (const event of events) if (event.type === 'finished') options.onFinished?.(event);
  };

  const unsubscribe = api.on('run.event', (payload) => {
    const parsed = RunEvent.safeParse(payload);
    if (!parsed.success) return; // a newer backend's event this build does not know
    buffer.push(parsed.data);
    if (parsed.data.type === 'finished' || flushEveryMs <= 0) {
      if (timer !== undefined) clearTimeout(timer);
      flush();
    } else {
      timer ??= setTimeout(flush, flushEveryMs);
    }
  });

  return () => {
    unsubscribe();
    if (timer !== undefined) clearTimeout(timer);
    flush();
  };
}
