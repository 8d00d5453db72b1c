// Every command of the contract as a typed react-query hook: queries for
// reads, mutations for writes. Query keys nest under the connection
// (['conn', id, ...]) so that whatever a write changes can be invalidated by
// prefix, and everything of a deleted connection dropped at once.
import { useMutation, useQuery, useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { CommandInput, CommandName, CommandOutput } from '../../shared/contract';
import type { ConnectionDraft } from '../../shared/connection';
import type { MigrationTarget } from '../../shared/plan';
import type { RunActionResult } from '../../shared/runs';
import type { KeyActionKind, KeyActionOptions } from '../../shared/keys';
import { useApi } from './api-context';

export const queryKeys = {
  appInfo: ['app.info'] as const,
  connections: ['connections'] as const,
  connection: (connectionId: string) => ['conn', connectionId] as const,
  ping: (connectionId: string) => ['conn', connectionId, 'ping'] as const,
  tables: (connectionId: string, schema?: string) => ['conn', connectionId, 'tables', schema ?? '*'] as const,
  tableDetail: (connectionId: string, schema: string, table: string) =>
    ['conn', connectionId, 'table', schema, table] as const,
  plan: (connectionId: string, targets: readonly MigrationTarget[], exact: boolean) =>
    ['conn', connectionId, 'plan', targets, exact] as const,
  runs: (connectionId: string) => ['conn', connectionId, 'runs'] as const,
  managedAll: (connectionId: string) => ['conn', connectionId, 'managed'] as const,
  managed: (connectionId: string) => ['conn', connectionId, 'managed', 'list'] as const,
  tree: (connectionId: string, configId: number, exact: boolean) =>
    ['conn', connectionId, 'managed', configId, 'tree', exact] as const,
  leafSizes: (connectionId: string, configId: number) =>
    ['conn', connectionId, 'managed', configId, 'leafSizes'] as const,
  sizes: (connectionId: string, configId: number) => ['conn', connectionId, 'managed', configId, 'sizes'] as const,
  tracker: (connectionId: string, configId: number) => ['conn', connectionId, 'managed', configId, 'tracker'] as const,
  workload: (connectionId: string, configId: number) =>
    ['conn', connectionId, 'managed', configId, 'workload'] as const,
  /** Under `managed`: an action on keys invalidates it with the tree. */
  keyHistory: (connectionId: string) => ['conn', connectionId, 'managed', 'keyHistory'] as const,
  keyPlan: (
    connectionId: string,
    configId: number,
    action: KeyActionKind,
    keyValues: readonly string[],
    options: KeyActionOptions,
  ) => ['conn', connectionId, 'managed', configId, 'keyPlan', action, keyValues, options] as const,
};

/** One call of the contract, typed by command name. */
function useInvoke() {
  const api = useApi();
  return <C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandOutput<C>> =>
    api.invoke(command, input);
}

/** After a migration, rollback or finalize: runs, managed tables and the catalog all change. */
export function invalidateAfterRun(client: QueryClient, connectionId?: string): Promise<void> {
  return client.invalidateQueries({
    predicate: (query) => {
      const [scope, id, area] = query.queryKey as unknown[];
      if (scope !== 'conn' || (connectionId !== undefined && id !== connectionId)) return false;
      return area === 'runs' || area === 'managed' || area === 'tables' || area === 'table' || area === 'plan';
    },
  });
}

/** The run history of a connection (of every one, when the events named none). */
export function invalidateRuns(client: QueryClient, connectionId?: string): Promise<void> {
  return client.invalidateQueries({
    predicate: (query) => {
      const [scope, id, area] = query.queryKey as unknown[];
      return scope === 'conn' && area === 'runs' && (connectionId === undefined || id === connectionId);
    },
  });
}

// --- app and connections -------------------------------------------------

export function useAppInfo() {
  const invoke = useInvoke();
  return useQuery({ queryKey: queryKeys.appInfo, queryFn: () => invoke('app.info', {}), staleTime: Infinity });
}

export function useConnections() {
  const invoke = useInvoke();
  return useQuery({ queryKey: queryKeys.connections, queryFn: () => invoke('connections.list', {}) });
}

export function useSaveConnection() {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (draft: ConnectionDraft) => invoke('connections.save', draft),
    onSuccess: async (profile) => {
      // Host, database or user may have changed: nothing cached for it is valid any more.
      client.removeQueries({ queryKey: queryKeys.connection(profile.id) });
      await client.invalidateQueries({ queryKey: queryKeys.connections });
    },
  });
}

/** The services of pg_service.conf, read when the import panel opens. */
export function useServices(enabled: boolean) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: ['connections', 'services'],
    queryFn: () => invoke('connections.services', {}),
    enabled,
    staleTime: 0,
  });
}

export function useImportServices() {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (names: string[]) => invoke('connections.importServices', { names }),
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: queryKeys.connections });
    },
  });
}

export function useDeleteConnection() {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => invoke('connections.delete', { id }),
    onSuccess: async (_result, id) => {
      client.removeQueries({ queryKey: queryKeys.connection(id) });
      await client.invalidateQueries({ queryKey: queryKeys.connections });
    },
  });
}

export function useTestConnection() {
  const invoke = useInvoke();
  return useMutation({
    mutationFn: (input: CommandInput<'connections.test'>) => invoke('connections.test', input),
  });
}

export function useStartSandbox() {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => invoke('sandbox.start', {}),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.connections }),
  });
}

// --- tables and plans ----------------------------------------------------

export function useTables(connectionId: string | null, schema?: string) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.tables(connectionId ?? '', schema),
    queryFn: () => invoke('tables.list', { connectionId: connectionId!, ...(schema ? { schema } : {}) }),
    enabled: connectionId !== null,
  });
}

export function useTableDetail(connectionId: string | null, table: { schema: string; name: string } | null) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.tableDetail(connectionId ?? '', table?.schema ?? '', table?.name ?? ''),
    queryFn: () => invoke('tables.detail', { connectionId: connectionId!, schema: table!.schema, table: table!.name }),
    enabled: connectionId !== null && table !== null,
  });
}

/** The dry run. A query (it changes nothing), fetched only while the Plan screen shows it. */
export function usePlan(connectionId: string | null, targets: readonly MigrationTarget[], exact: boolean) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.plan(connectionId ?? '', targets, exact),
    queryFn: () => invoke('plan.create', { connectionId: connectionId!, targets: [...targets], exact }),
    enabled: connectionId !== null && targets.length > 0,
    // Exact counts scan the tables: never again behind the user's back.
    staleTime: exact ? Infinity : 60_000,
  });
}

// --- runs ----------------------------------------------------------------

export function useRuns(connectionId: string | null) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.runs(connectionId ?? ''),
    queryFn: () => invoke('runs.list', { connectionId: connectionId! }),
    enabled: connectionId !== null,
    // Events carry the live detail; the journal is polled only to catch what events cannot (another client's runs).
    refetchInterval: (query) => (query.state.data?.some((run) => run.status === 'running') ? 5000 : false),
  });
}

export function useStartRun(connectionId: string) {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { targets: MigrationTarget[]; workers?: number }) =>
      invoke('runs.start', {
        connectionId,
        targets: input.targets,
        ...(input.workers ? { workers: input.workers } : {}),
      }),
    onSuccess: () => invalidateAfterRun(client, connectionId),
  });
}

export type RunAction = 'cancel' | 'resume' | 'rollback' | 'finalize';

export function useRunAction(connectionId: string) {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ action, runId }: { action: RunAction; runId: number }): Promise<RunActionResult> => {
      if (action === 'cancel') {
        await invoke('runs.cancel', { connectionId, runId });
        return { runId };
      }
      const command = action === 'resume' ? 'runs.resume' : action === 'rollback' ? 'runs.rollback' : 'runs.finalize';
      return invoke(command, { connectionId, runId });
    },
    onSettled: () => invalidateAfterRun(client, connectionId),
  });
}

/** Holds a running migration's copy and index work, or lets it go on; no confirmation: either is undone by the other. */
export function usePauseRun(connectionId: string) {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: async ({ runId, paused }: { runId: number; paused: boolean }): Promise<void> => {
      await invoke(paused ? 'runs.pause' : 'runs.continue', { connectionId, runId });
    },
    onSettled: () => invalidateAfterRun(client, connectionId),
  });
}

// --- managed tables ------------------------------------------------------

export function useManagedTables(connectionId: string | null) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.managed(connectionId ?? ''),
    queryFn: () => invoke('managed.list', { connectionId: connectionId! }),
    enabled: connectionId !== null,
  });
}

export function usePartitionTree(connectionId: string | null, configId: number | null, exactCounts: boolean) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.tree(connectionId ?? '', configId ?? 0, exactCounts),
    queryFn: () => invoke('explorer.tree', { connectionId: connectionId!, configId: configId!, exactCounts }),
    enabled: connectionId !== null && configId !== null,
    staleTime: exactCounts ? Infinity : 30_000,
  });
}

/** Bytes of every leaf, measured apart from the tree; `after` holds the request back (until the tree shows). */
export function useLeafSizes(connectionId: string | null, configId: number | null, after: boolean) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.leafSizes(connectionId ?? '', configId ?? 0),
    queryFn: () => invoke('explorer.leafSizes', { connectionId: connectionId!, configId: configId! }),
    enabled: connectionId !== null && configId !== null && after,
    staleTime: 30_000,
  });
}

export function useSizes(connectionId: string | null, configId: number | null) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.sizes(connectionId ?? '', configId ?? 0),
    queryFn: () => invoke('explorer.sizes', { connectionId: connectionId!, configId: configId! }),
    enabled: connectionId !== null && configId !== null,
  });
}

export function useTracker(connectionId: string | null, configId: number | null) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.tracker(connectionId ?? '', configId ?? 0),
    queryFn: () => invoke('tracker.list', { connectionId: connectionId!, configId: configId! }),
    enabled: connectionId !== null && configId !== null,
  });
}

export function useSetBucketLimit(connectionId: string, configId: number) {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (bucketLimit: number) => invoke('tracker.setBucketLimit', { connectionId, configId, bucketLimit }),
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.managedAll(connectionId) }),
  });
}

export function useMaintenance(connectionId: string, configId: number) {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (ahead: number | null) => invoke('maintenance.run', { connectionId, configId, ahead }),
    // Buckets may have been created or repaired: the tree, sizes and tracker change.
    onSuccess: () => client.invalidateQueries({ queryKey: queryKeys.managedAll(connectionId) }),
  });
}

/** The statements run on a managed table; asked for on demand (it plans each one, a moment on large trees). */
export function useLiveWorkload(connectionId: string, configId: number, enabled: boolean) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.workload(connectionId, configId),
    queryFn: () => invoke('workload.live', { connectionId, configId }),
    enabled,
    staleTime: 60_000,
  });
}

/** What an action on some keys would do; asked for when its confirmation opens. */
export function useKeyPlan(
  connectionId: string,
  configId: number,
  action: KeyActionKind,
  keyValues: readonly string[],
  options: KeyActionOptions,
  /** false once the action ran: the plan stays as it was confirmed. */
  enabled: boolean,
) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.keyPlan(connectionId, configId, action, keyValues, options),
    queryFn: () => invoke('keys.plan', { connectionId, configId, action, keyValues: [...keyValues], options }),
    enabled,
    staleTime: 0,
    gcTime: 0,
  });
}

/** The journal of actions on keys (keys.history), polled while one runs (maybe from the CLI or another window). */
export function useKeyActionHistory(connectionId: string) {
  const invoke = useInvoke();
  return useQuery({
    queryKey: queryKeys.keyHistory(connectionId),
    queryFn: () => invoke('keys.history', { connectionId }),
    refetchInterval: (query) => (query.state.data?.some((entry) => entry.status === 'running') ? 2000 : false),
  });
}

/** The desktop app's save dialog (files.chooseSavePath): the chosen path, or null when cancelled. */
export function useChooseSavePath() {
  const invoke = useInvoke();
  return useMutation({
    mutationFn: async (suggestedName: string) => (await invoke('files.chooseSavePath', { suggestedName })).path,
  });
}

export function useKeyAction(connectionId: string, configId: number) {
  const invoke = useInvoke();
  const client = useQueryClient();
  return useMutation({
    mutationFn: (input: { action: KeyActionKind; keyValues: string[]; options: KeyActionOptions; out?: string }) =>
      invoke('keys.run', { connectionId, configId, ...input }),
    // Keys detached, attached or dropped: the tree, sizes and tracker change (even when the action failed half way).
    onSettled: () => client.invalidateQueries({ queryKey: queryKeys.managedAll(connectionId) }),
  });
}
