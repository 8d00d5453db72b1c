// The run targets being configured on the Tables screen and planned on the
// Plan screen, per connection. One target per table: adding a table again
// replaces its key column and bucket limit.
import { create } from 'zustand';
import type { MigrationTarget } from '../../shared/plan';

interface TargetsState {
  byConnection: Record<string, MigrationTarget[]>;
  add(connectionId: string, target: MigrationTarget): void;
  remove(connectionId: string, schema: string, table: string): void;
  clear(connectionId: string): void;
}

const sameTable = (a: Pick<MigrationTarget, 'schema' | 'table'>, b: Pick<MigrationTarget, 'schema' | 'table'>) =>
  a.schema === b.schema && a.table === b.table;

/** Adds or replaces the target of a table, keeping queue order. */
export function addTarget(queue: readonly MigrationTarget[], target: MigrationTarget): MigrationTarget[] {
  const index = queue.findIndex((queued) => sameTable(queued, target));
  if (index === -1) return [...queue, target];
  const next = queue.slice();
  next[index] = target;
  return next;
}

const EMPTY: MigrationTarget[] = [];

export const useTargets = create<TargetsState>((set) => ({
  byConnection: {},
  add: (connectionId, target) =>
    set((state) => ({
      byConnection: {
        ...state.byConnection,
        [connectionId]: addTarget(state.byConnection[connectionId] ?? [], target),
      },
    })),
  remove: (connectionId, schema, table) =>
    set((state) => ({
      byConnection: {
        ...state.byConnection,
        [connectionId]: (state.byConnection[connectionId] ?? []).filter((t) => !sameTable(t, { schema, table })),
      },
    })),
  clear: (connectionId) => set((state) => ({ byConnection: { ...state.byConnection, [connectionId]: [] } })),
}));

/** The queue of one connection (a stable empty array when there is none). */
export function useTargetQueue(connectionId: string | null): MigrationTarget[] {
  return useTargets((state) => (connectionId ? (state.byConnection[connectionId] ?? EMPTY) : EMPTY));
}
