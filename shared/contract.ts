// The one contract between the renderer and the main process, whatever carries
// it (Electron IPC or the browser bridge's WebSocket): every command with the
// schema of its input and output, and every event the main process pushes.
// Both sides derive their TypeScript types from these schemas; the main
// process validates every incoming payload against them.
import { z } from 'zod';
import {
  ConnectionDraft,
  ConnectionProfile,
  ConnectionTestDraft,
  ConnectionTestResult,
  ServiceEntry,
} from './connection.js';
import { TableDetail, TableSummary } from './catalog.js';
import { MAX_WORKERS, MigrationPlan, MigrationTarget } from './plan.js';
import { RunEvent } from './progress.js';
import { RunActionResult, RunSummary } from './runs.js';
import { LeafSizes, MaintenanceReport, ManagedTable, PartitionTree, SizesReport, TrackerRow } from './explorer.js';
import { WorkloadReport } from './workload.js';
import { KeyActionEntry, KeyActionKind, KeyActionOptions, KeyActionResult, KeyPlan, KeyProgressEvent } from './keys.js';
import { Throttle } from './throttle.js';
import { ErrorInfo } from './errors.js';

const connectionId = z.string().min(1).max(200);
const identifier = z.string().min(1).max(63);
const configId = z.number().int().positive();
const runId = z.number().int().positive();
const keyValues = z.array(z.string().min(1).max(1000)).min(1).max(100);
const empty = z.object({}).strict();

export const AppInfo = z.object({
  version: z.string(),
  /** electron: the desktop app; browser: the local bridge (`npm run web`). */
  shell: z.enum(['electron', 'browser']),
  /** How saved passwords are protected: the OS keychain, Electron's plain-text fallback, or not saved at all. */
  secretStorage: z.enum(['keychain', 'basic_text', 'session_only']),
});
export type AppInfo = z.infer<typeof AppInfo>;

export const commands = {
  'app.info': { input: empty, output: AppInfo },

  'connections.list': { input: empty, output: z.array(ConnectionProfile) },
  'connections.save': { input: ConnectionDraft, output: ConnectionProfile },
  'connections.delete': { input: z.object({ id: connectionId }).strict(), output: empty },
  /** Test a saved profile (by id) or an unsaved draft. */
  'connections.test': {
    input: z.union([z.object({ id: connectionId }).strict(), z.object({ draft: ConnectionTestDraft }).strict()]),
    output: ConnectionTestResult,
  },
  /** Whether a connection's server answers now (one `SELECT 1` on its pool): the app's heartbeat. */
  'connections.ping': { input: z.object({ connectionId }).strict(), output: z.object({}).strict() },
  /** The services of pg_service.conf (PGSERVICEFILE or ~/.pg_service.conf, then the system's), for import. */
  'connections.services': {
    input: z.object({ file: z.string().min(1).max(4096).optional() }).strict(),
    output: z.object({ files: z.array(z.string()), services: z.array(ServiceEntry) }),
  },
  /** Saves the named services as profiles, with their ~/.pgpass passwords in the keychain; all or nothing. */
  'connections.importServices': {
    input: z
      .object({
        file: z.string().min(1).max(4096).optional(),
        names: z.array(z.string().min(1).max(200)).min(1).max(200),
      })
      .strict(),
    output: z.array(ConnectionProfile),
  },
  /** Start (and on first use create and seed) the embedded Sandbox database; returns its profile. */
  'sandbox.start': { input: empty, output: ConnectionProfile },

  'tables.list': {
    input: z.object({ connectionId, schema: identifier.optional() }).strict(),
    output: z.array(TableSummary),
  },
  'tables.detail': {
    input: z.object({ connectionId, schema: identifier, table: identifier }).strict(),
    output: TableDetail,
  },

  'plan.create': {
    input: z.object({ connectionId, targets: z.array(MigrationTarget).min(1).max(50), exact: z.boolean() }).strict(),
    output: z.array(MigrationPlan),
  },

  'runs.start': {
    input: z
      .object({
        connectionId,
        targets: z.array(MigrationTarget).min(1).max(50),
        workers: z.number().int().min(1).max(MAX_WORKERS).optional(),
        throttle: Throttle.optional(),
      })
      .strict(),
    output: RunActionResult,
  },
  'runs.cancel': { input: z.object({ connectionId, runId }).strict(), output: empty },
  /** Hold a running migration's copy and index work (any process's), or let it go on. */
  'runs.pause': { input: z.object({ connectionId, runId }).strict(), output: empty },
  'runs.continue': { input: z.object({ connectionId, runId }).strict(), output: empty },
  'runs.list': { input: z.object({ connectionId }).strict(), output: z.array(RunSummary) },
  'runs.resume': {
    input: z.object({ connectionId, runId, throttle: Throttle.optional() }).strict(),
    output: RunActionResult,
  },
  'runs.rollback': { input: z.object({ connectionId, runId }).strict(), output: RunActionResult },
  /** Drop the backup of a migrated table: the end of the road back. */
  'runs.finalize': { input: z.object({ connectionId, runId }).strict(), output: RunActionResult },

  'managed.list': { input: z.object({ connectionId }).strict(), output: z.array(ManagedTable) },
  'explorer.tree': {
    input: z.object({ connectionId, configId, exactCounts: z.boolean().optional() }).strict(),
    output: PartitionTree,
  },
  'explorer.leafSizes': { input: z.object({ connectionId, configId }).strict(), output: LeafSizes },
  'explorer.sizes': { input: z.object({ connectionId, configId }).strict(), output: SizesReport },
  'tracker.list': {
    input: z.object({ connectionId, configId }).strict(),
    output: z.object({ table: ManagedTable, rows: z.array(TrackerRow) }),
  },
  'tracker.setBucketLimit': {
    input: z.object({ connectionId, configId, bucketLimit: z.number().int().positive().max(2_000_000_000) }).strict(),
    output: ManagedTable,
  },
  /** Check every key: create buckets ahead (when `ahead` is set), repair drift, report over-full and empty buckets. */
  'maintenance.run': {
    input: z.object({ connectionId, configId, ahead: z.number().min(0).max(1).nullable() }).strict(),
    output: MaintenanceReport,
  },
  /** What an action on keys of a managed table would do: steps, DDL, locks, rows and bytes (read-only). */
  'keys.plan': {
    input: z.object({ connectionId, configId, action: KeyActionKind, keyValues, options: KeyActionOptions }).strict(),
    output: z.array(KeyPlan),
  },
  /** Runs an action on keys, one after the other (export: to `out`, an absolute file path, one key). */
  'keys.run': {
    input: z
      .object({
        connectionId,
        configId,
        action: KeyActionKind,
        keyValues,
        options: KeyActionOptions,
        out: z.string().min(1).max(4096).optional(),
      })
      .strict(),
    output: z.array(KeyActionResult),
  },
  /** The newest actions on keys of every managed table of the database (partwise.key_action), newest first. */
  'keys.history': { input: z.object({ connectionId }).strict(), output: z.array(KeyActionEntry) },
  /**
   * The desktop app's save dialog: the path the user chose, or null when they
   * cancelled. The browser bridge has none (its page cannot hand a path to the
   * machine it runs on): it answers with an error and the path is typed.
   */
  'files.chooseSavePath': {
    input: z.object({ suggestedName: z.string().min(1).max(255) }).strict(),
    output: z.object({ path: z.string().nullable() }),
  },
  /** The statements run on a managed table (pg_stat_statements) and which of them read every leaf. */
  'workload.live': { input: z.object({ connectionId, configId }).strict(), output: WorkloadReport },
} as const;

export type CommandName = keyof typeof commands;

/** Commands that write to the database: a read-only profile refuses them in the main process. */
export const writingCommands = [
  'runs.start',
  'runs.cancel',
  'runs.pause',
  'runs.continue',
  'runs.resume',
  'runs.rollback',
  'runs.finalize',
  'tracker.setBucketLimit',
  'maintenance.run',
  'keys.run',
] as const satisfies readonly CommandName[];
export type CommandInput<C extends CommandName> = z.input<(typeof commands)[C]['input']>;
export type CommandOutput<C extends CommandName> = z.output<(typeof commands)[C]['output']>;

export const events = {
  /** Progress of migrations, rollbacks, finalizations and maintenance jobs. */
  'run.event': RunEvent,
  /** Progress of an action on keys (`keys.run`), at most a few times a second. */
  'keys.progress': KeyProgressEvent,
} as const;

export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.output<(typeof events)[E]>;

/** Every response crossing the boundary: a result, or an error of one of the kinds of shared/errors.ts. */
export const ResponseEnvelope = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: ErrorInfo }),
]);
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;

/**
 * What the preload exposes as `window.partwise`. It returns envelopes rather
 * than throwing, because an Error crossing Electron's contextBridge keeps only
 * its message; the renderer's transport turns `ok: false` into an ApiError.
 */
export interface PreloadApi {
  invoke(command: CommandName, input: unknown): Promise<ResponseEnvelope>;
  /** Subscribe to an event; returns the unsubscribe function. */
  on(event: EventName, listener: (payload: unknown) => void): () => void;
}

/** The typed API the renderer uses, over either transport. */
export interface PartwiseApi {
  invoke<C extends CommandName>(command: C, input: CommandInput<C>): Promise<CommandOutput<C>>;
  /** Subscribe to an event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}
