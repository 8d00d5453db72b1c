// A PartwiseApi that answers from fixtures (or per-test handlers), records
// every call, and emits events on demand: the fake transport of component
// tests. Never imported by the app itself.
import type {
  CommandInput,
  CommandName,
  CommandOutput,
  EventName,
  EventPayload,
  PartwiseApi,
  PreloadApi,
  ResponseEnvelope,
} from '../../shared/contract';
import type { ErrorInfo } from '../../shared/errors';
import { ApiError } from '../api/transport';
import * as fixtures from './fixtures';
import { liveWorkload } from './workload-fixtures';

export type Handler<C extends CommandName> = (input: CommandInput<C>) => CommandOutput<C> | Promise<CommandOutput<C>>;
export type Handlers = { [C in CommandName]?: Handler<C> };

export interface FakeApi extends PartwiseApi {
  calls: Array<{ command: CommandName; input: unknown }>;
  handlers: Handlers;
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void;
  /** How many listeners an event has (the app must subscribe once). */
  listenerCount(event: EventName): number;
  callsOf(command: CommandName): unknown[];
}

export function notAvailable(service: string): ApiError {
  return new ApiError({ kind: 'blocked', message: `This build does not include the ${service} service yet.` });
}

export function defaultHandlers(): Handlers {
  const managed = fixtures.managedTables();
  const byConfig = (configId: number) => {
    const table = managed.find((candidate) => candidate.configId === configId);
    if (!table) throw new ApiError({ kind: 'not_found', message: `No managed table has the id ${configId}.` });
    return table;
  };
  // A 12,000-key tree takes a while to build: once per fake, whoever asks.
  const trees = new Map<string, ReturnType<typeof fixtures.partitionTree>>();
  const tree = (configId: number, exact: boolean) => {
    const key = `${configId}:${exact}`;
    if (!trees.has(key)) trees.set(key, fixtures.partitionTree(byConfig(configId), 12_000, exact));
    return trees.get(key)!;
  };
  return {
    'app.info': () => ({ version: '0.1.0', shell: 'browser', secretStorage: 'session_only' }),
    'connections.list': () => [fixtures.sandboxProfile, ...fixtures.serverProfiles],
    'connections.save': (draft) => ({
      id: draft.id ?? 'c-new',
      name: draft.name,
      kind: 'server',
      host: draft.host,
      port: draft.port,
      database: draft.database,
      user: draft.user,
      sslMode: draft.sslMode,
      hasPassword: draft.password !== undefined && draft.password !== '',
    }),
    'connections.delete': () => ({}),
    'connections.test': () => ({ ok: true, message: 'Connected to PostgreSQL 17.2 (TLS).', serverVersion: '17.2' }),
    'connections.ping': () => ({}),
    'connections.services': () => ({ files: ['/home/dba/.pg_service.conf'], services: [] }),
    'connections.importServices': () => [],
    'sandbox.start': () => fixtures.sandboxProfile,
    'tables.list': () => fixtures.tableSummaries(),
    'tables.detail': ({ schema, table }) => fixtures.tableDetail(schema, table),
    'plan.create': ({ targets, exact }) => targets.map((target) => fixtures.plan(target, exact)),
    'runs.start': () => ({ runId: 4 }),
    'runs.cancel': () => ({}),
    'runs.pause': () => ({}),
    'runs.continue': () => ({}),
    'runs.list': () => fixtures.runs(),
    'keys.history': () => fixtures.keyActions(),
    'runs.resume': ({ runId }) => ({ runId }),
    'runs.rollback': ({ runId }) => ({ runId }),
    'runs.finalize': ({ runId }) => ({ runId }),
    'managed.list': () => managed,
    'explorer.tree': ({ configId, exactCounts }) => tree(configId, exactCounts ?? false),
    'explorer.leafSizes': ({ configId }) => fixtures.leafSizes(tree(configId, false)),
    'explorer.sizes': ({ configId }) => fixtures.sizes(byConfig(configId)),
    'tracker.list': ({ configId }) => ({ table: byConfig(configId), rows: fixtures.trackerRows(byConfig(configId)) }),
    'tracker.setBucketLimit': ({ configId, bucketLimit }) => {
      const table = byConfig(configId);
      table.bucketLimit = bucketLimit;
      return { ...table };
    },
    'maintenance.run': ({ configId, ahead }) => fixtures.maintenanceReport(byConfig(configId), ahead),
    'workload.live': ({ configId }) => liveWorkload(byConfig(configId)),
  };
}

export function createFakeApi(overrides: Handlers = {}): FakeApi {
  const handlers: Handlers = { ...defaultHandlers(), ...overrides };
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const calls: FakeApi['calls'] = [];
  return {
    calls,
    handlers,
    async invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandOutput<C>> {
      calls.push({ command, input });
      const handler = handlers[command] as Handler<C> | undefined;
      if (!handler) throw new ApiError({ kind: 'internal', message: `No fake handler for ${command}` });
      return handler(input);
    },
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      const set = listeners.get(event) ?? new Set();
      set.add(listener as (payload: unknown) => void);
      listeners.set(event, set);
      return () => set.delete(listener as (payload: unknown) => void);
    },
    emit(event, payload) {
      for (const listener of listeners.get(event) ?? []) listener(payload);
    },
    listenerCount: (event) => listeners.get(event)?.size ?? 0,
    callsOf: (command) => calls.filter((call) => call.command === command).map((call) => call.input),
  };
}

/** The fake as the Electron preload would expose it: envelopes instead of exceptions. */
export function asPreload(api: FakeApi): PreloadApi {
  return {
    async invoke(command, input): Promise<ResponseEnvelope> {
      try {
        return { ok: true, result: await api.invoke(command, input as never) };
      } catch (error) {
        const info: ErrorInfo = error instanceof ApiError ? error.info : { kind: 'internal', message: String(error) };
        return { ok: false, error: info };
      }
    },
    on: (event, listener) => api.on(event, listener),
  };
}
