// The journal's rows are data from the past: written by this version, by an
// earlier one, or (on a shared database) by a later one. Every row is read
// through these schemas, the same zod as the IPC contract, so that a rollback
// never acts on a definition it only assumed was there.
//
// A target's saved definitions carry the format they were written in:
//   1  written before the journal had a format (Partwise 0.1.0 up to this
//      change): no `format` field. The fields are those of format 2; rows of
//      still earlier runs may hold serialSequences and identityColumns.
//   2  the same fields, with `format: 2`.
// A format this version does not know is refused with the version that wrote
// it, never guessed at.
import { z } from 'zod';
import { UniqueEnforcement } from '../../shared/plan.js';
import { Phase } from '../../shared/progress.js';
import { RunStatus, TargetState } from '../../shared/runs.js';
import { PartwiseError } from '../db/errors.js';

export const JOURNAL_FORMAT = 2;

/** A sequence of the original table, and the names the migration gives it and its replacement. */
export const SavedSequence = z.object({
  column: z.string(),
  kind: z.enum(['serial', 'identity']),
  schema: z.string(),
  /** The name the application uses. */
  name: z.string(),
  /** Identity: the new table's sequence's name until the swap (and again after a rollback). */
  replacement: z.string().nullable(),
  /** Identity: the name the original's sequence has from the swap until finalize or rollback. */
  backup: z.string().optional(),
});
export type SavedSequence = z.infer<typeof SavedSequence>;

/** What the swap moved from the original table, kept to undo it. */
export const SavedDefinitions = z.looseObject({
  /** The format these definitions were written in (absent: format 1). */
  format: z.number().int().positive().optional(),
  identity: z.array(z.string()).optional(),
  changeLog: z.string().optional(),
  afterLog: z.string().optional(),
  captureTrigger: z.string().optional(),
  /** Index and constraint renames done at the swap: original name -> name given to the backup's. */
  renamed: z
    .array(
      z.object({
        kind: z.enum(['index', 'constraint']),
        original: z.string(),
        backup: z.string(),
        replacement: z.string(),
      }),
    )
    .optional(),
  views: z
    .array(
      z.object({
        schema: z.string(),
        name: z.string(),
        definition: z.string(),
        options: z.array(z.string()).nullable(),
      }),
    )
    .optional(),
  /** Materialized views to rebuild, with their definitions read before the rename (so they name the table). */
  materializedViews: z.array(z.object({ schema: z.string(), name: z.string(), definition: z.string() })).optional(),
  /** Set by a rollback: the routing view, renamed, to drop once nothing depends on it. */
  routingView: z.string().optional(),
  /** Written by versions before sequences kept their names; read by rollback only. */
  serialSequences: z.array(z.object({ column: z.string(), sequence: z.string() })).optional(),
  identityColumns: z.array(z.string()).optional(),
  userTriggers: z.array(z.string()).optional(),
  /** The table's sequences: recorded at prepare, and with the names given to the originals at the swap. */
  sequences: z.array(SavedSequence).optional(),
  /** The target's choices of how unique keys stay enforced, as the run was started with. */
  uniqueness: z.record(z.string(), UniqueEnforcement).optional(),
  /** Shared placement as the run was started with: keys under this many rows go to the pool of small keys. */
  shareBelow: z.number().int().positive().optional(),
  /**
   * With shareBelow: the keys given a level-1 partition of their own, decided
   * as provisioning starts; a resumed copy keeps them so (their partitions exist).
   */
  ownKeys: z.array(z.string()).optional(),
  /** The unique keys kept across the table by a registry, decided at prepare (migration/unique-registry.ts). */
  registries: z.array(z.string()).optional(),
  /** The log of rows changed while the registries are filled and synced, until the swap. */
  registryLog: z.string().optional(),
  /**
   * The registries' fill, range by range (migration/unique-registry.ts): the
   * original's storage and size in blocks when it started, the blocks per
   * range, and the ranges filled, each recorded in the transaction that filled it.
   */
  registryFill: z
    .object({
      filenode: z.string(),
      blocks: z.number().int().nonnegative(),
      rangeBlocks: z.number().int().positive(),
      filled: z.array(z.number().int().nonnegative()),
    })
    .optional(),
});
export type SavedDefinitions = z.infer<typeof SavedDefinitions>;

const count = z.union([z.number(), z.string()]).transform(Number);
const timestamp = z.date().transform((date) => date.toISOString());

/** A row of migration_target as PostgreSQL returns it (bigints as text, timestamps as dates). */
const TargetRow = z.object({
  run_id: count,
  target_no: z.number().int(),
  table_schema: z.string(),
  table_name: z.string(),
  key_column: z.string(),
  bucket_column: z.string(),
  bucket_limit: count,
  partitioned_table: z.string(),
  backup_table: z.string(),
  config_id: z.number().int().nullable(),
  phase: Phase,
  status: TargetState.shape.status,
  saved: z.unknown(),
  rows_total: count.nullable(),
  rows_copied: count,
  keys_total: z.number().int().nullable(),
  changes_applied: count,
  cutover_at: timestamp.nullable(),
  error: z.string().nullable(),
});

export const RunRow = z.object({
  run_id: count,
  status: RunStatus.exclude(['interrupted']),
  started_at: timestamp,
  finished_at: timestamp.nullable(),
  error: z.string().nullable(),
  partwise_version: z.string(),
  paused_at: timestamp.nullable(),
  paused_by: z.string().nullable(),
});
export type RunRow = z.infer<typeof RunRow>;

/** A step as recorded; its detail is free-form figures, each read only when it has the expected type. */
const StepRow = z.object({
  run_id: count,
  target_no: z.number().int(),
  phase: Phase,
  started_at: z.date(),
  finished_at: z.date().nullable(),
  duration_ms: z.number().nullable(),
  detail: z.record(z.string(), z.unknown()),
});
export type StepRow = z.infer<typeof StepRow>;

export interface JournalTarget {
  runId: number;
  targetNo: number;
  schema: string;
  table: string;
  keyColumn: string;
  bucketColumn: string;
  bucketLimit: number;
  partitionedTable: string;
  backupTable: string;
  configId: number | null;
  phase: Phase;
  status: TargetState['status'];
  saved: SavedDefinitions;
  rowsTotal: number | null;
  rowsCopied: number;
  keysTotal: number | null;
  changesApplied: number;
  cutoverAt: string | null;
  error: string | null;
}

function unreadable(what: string, error: z.ZodError): PartwiseError {
  const problems = error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join('.') || 'row'}: ${issue.message}`)
    .join('; ');
  return new PartwiseError('internal', `The journal's ${what} cannot be read: ${problems}`, {
    hint: 'The row was changed by hand or written by a damaged installation; it is left as it is.',
  });
}

/** The saved definitions of a target, in this version's format. */
export function readSaved(value: unknown, where: string, writtenBy: string | null): SavedDefinitions {
  const parsed = SavedDefinitions.safeParse(value ?? {});
  if (!parsed.success) throw unreadable(`saved definitions of ${where}`, parsed.error);
  const format = parsed.data.format ?? 1;
  if (format > JOURNAL_FORMAT) {
    throw new PartwiseError(
      'blocked',
      `The journal of ${where} was written${writtenBy ? ` by Partwise ${writtenBy}` : ''} in format ${format}; this version reads formats 1 to ${JOURNAL_FORMAT}`,
      { hint: 'Resume, roll back or finalize it with the version that started it, or a later one.' },
    );
  }
  // Format 1 has the fields of format 2: reading it is marking it.
  return { ...parsed.data, format: JOURNAL_FORMAT };
}

export function readTarget(row: unknown, writtenBy: string | null): JournalTarget {
  const parsed = TargetRow.safeParse(row);
  if (!parsed.success) throw unreadable('record of a migration target', parsed.error);
  const r = parsed.data;
  return {
    runId: r.run_id,
    targetNo: r.target_no,
    schema: r.table_schema,
    table: r.table_name,
    keyColumn: r.key_column,
    bucketColumn: r.bucket_column,
    bucketLimit: r.bucket_limit,
    partitionedTable: r.partitioned_table,
    backupTable: r.backup_table,
    configId: r.config_id,
    phase: r.phase,
    status: r.status,
    saved: readSaved(r.saved, `run ${r.run_id}, table ${r.table_schema}.${r.table_name}`, writtenBy),
    rowsTotal: r.rows_total,
    rowsCopied: r.rows_copied,
    keysTotal: r.keys_total,
    changesApplied: r.changes_applied,
    cutoverAt: r.cutover_at,
    error: r.error,
  };
}

export function readRun(row: unknown): RunRow {
  const parsed = RunRow.safeParse(row);
  if (!parsed.success) throw unreadable('record of a run', parsed.error);
  return parsed.data;
}

export function readStep(row: unknown): StepRow {
  const parsed = StepRow.safeParse(row);
  if (!parsed.success) throw unreadable('record of a step', parsed.error);
  return parsed.data;
}
