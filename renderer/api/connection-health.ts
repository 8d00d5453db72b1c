// Whether the active connection's server answers, as one state for the whole
// app: every query of a connection (keys under ['conn', id]) reports in, a
// heartbeat asks the server every few seconds (so an idle screen notices the
// server going away too), and when the server answers again after failing,
// everything shown for the connection is fetched again: the screens recover by
// themselves.
import { useQuery, useQueryClient, type Query, type QueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { create } from 'zustand';
import { useApi } from './api-context';
import { errorKind, toShownError, type ShownError } from './errors';
import { queryKeys } from './queries';

export type HealthState = 'unknown' | 'ok' | 'unreachable';

export interface ConnectionHealth {
  state: HealthState;
  /** The failure that made the server unreachable (kind `connection` or `auth`), in the backend's words. */
  error: ShownError | null;
  /** When a request of this connection last succeeded (ms since the epoch). */
  lastSuccessAt: number | null;
  /** When the current outage was first seen. */
  failingSince: number | null;
}

const UNKNOWN: ConnectionHealth = { state: 'unknown', error: null, lastSuccessAt: null, failingSince: null };

/** How often the heartbeat asks: often while the server is away (to recover quickly), calmly otherwise. */
export const HEARTBEAT_MS = { ok: 5_000, unreachable: 2_000 };

interface HealthStore {
  byConnection: Record<string, ConnectionHealth>;
  succeeded(connectionId: string, at: number): boolean;
  failed(connectionId: string, error: ShownError, at: number): void;
}

export const useHealthStore = create<HealthStore>()((set, get) => ({
  byConnection: {},
  /** Returns whether this success ends an outage. */
  succeeded(connectionId, at) {
    const before = get().byConnection[connectionId] ?? UNKNOWN;
    set((state) => ({
      byConnection: {
        ...state.byConnection,
        [connectionId]: { state: 'ok', error: null, lastSuccessAt: at, failingSince: null },
      },
    }));
    return before.state === 'unreachable';
  },
  failed(connectionId, error, at) {
    set((state) => {
      const before = state.byConnection[connectionId] ?? UNKNOWN;
      return {
        byConnection: {
          ...state.byConnection,
          [connectionId]: { ...before, state: 'unreachable', error, failingSince: before.failingSince ?? at },
        },
      };
    });
  },
}));

export function useConnectionHealth(connectionId: string | null): ConnectionHealth {
  return useHealthStore((state) => (connectionId ? (state.byConnection[connectionId] ?? UNKNOWN) : UNKNOWN));
}

/**
 * Only the state (and whether the login was refused): every answer updates the
 * last success time, and the shell must not render again for each of them.
 */
export function useHealthState(connectionId: string | null): { state: HealthState; refused: boolean } {
  const state = useHealthStore((store) => (connectionId ? store.byConnection[connectionId]?.state : undefined));
  const refused = useHealthStore((store) =>
    connectionId ? store.byConnection[connectionId]?.error?.kind === 'auth' : false,
  );
  return { state: state ?? 'unknown', refused };
}

/** The connection a query belongs to, from its key (['conn', id, ...]). */
function connectionOf(query: Query): string | null {
  const [scope, id] = query.queryKey as unknown[];
  return scope === 'conn' && typeof id === 'string' && id !== '' ? id : null;
}

/** Kinds that say the server is not there (or refuses the login), as opposed to a failed query. */
const isOutage = (error: unknown) => {
  const kind = errorKind(error);
  return kind === 'connection' || kind === 'auth';
};

/** Feeds the health store from every query's outcome; refetches a connection's data when its server is back. */
export function watchConnectionHealth(client: QueryClient, now: () => number = Date.now): () => void {
  return client.getQueryCache().subscribe((event) => {
    if (event.type !== 'updated') return;
    const connectionId = connectionOf(event.query);
    if (!connectionId) return;
    const store = useHealthStore.getState();
    if (event.action.type === 'success') {
      if (store.succeeded(connectionId, now())) {
        void client.invalidateQueries({
          predicate: (query) => connectionOf(query) === connectionId && query.queryKey[2] !== 'ping',
        });
      }
    } else if (event.action.type === 'error' && isOutage(event.action.error)) {
      store.failed(connectionId, toShownError(event.action.error), now());
    }
  });
}

/** Subscribes the health store to the query cache for as long as the app runs. */
export function useWatchConnectionHealth(): void {
  const client = useQueryClient();
  useEffect(() => watchConnectionHealth(client), [client]);
}

/** The heartbeat of the active connection. */
export function useHeartbeat(connectionId: string | null) {
  const api = useApi();
  const health = useHealthState(connectionId);
  return useQuery({
    queryKey: queryKeys.ping(connectionId ?? ''),
    queryFn: () => api.invoke('connections.ping', { connectionId: connectionId! }),
    enabled: connectionId !== null,
    retry: false,
    staleTime: 0,
    gcTime: 0,
    refetchInterval: health.state === 'unreachable' ? HEARTBEAT_MS.unreachable : HEARTBEAT_MS.ok,
    refetchIntervalInBackground: true,
  });
}
