// Reading and writing the migration journal (sql/migrations/0003_journal.sql).
// A run is "running" in the journal while a process works on it, and that
// process holds a session advisory lock on the run; a running run whose lock
// nobody holds was interrupted (kill -9, power loss) and can be resumed or
// rolled back.
import type pg from 'pg';
import { ProgressUnit, type Phase } from '../../shared/progress.js';
import type { RunStatus, RunStep, RunSummary, TargetState } from '../../shared/runs.js';
import type { UniqueEnforcement } from '../../shared/plan.js';
import { ident } from '../db/sql.js';
import { PartwiseError } from '../db/errors.js';
import { PARTWISE_VERSION } from '../version.js';

/** First key of the advisory locks Partwise takes on runs ("pwru" as an integer). */
const RUN_LOCK_CLASS = 0x70777275;

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

/** What the swap moved from the original table, kept to undo it. */
export interface SavedDefinitions {
  identity?: string[];
  changeLog?: string;
  afterLog?: string;
  captureTrigger?: string;
  /** Index and constraint renames done at the swap: original name -> name given to the backup's. */
  renamed?: { kind: 'index' | 'constraint'; original: string; backup: string; replacement: string }[];
  views?: { schema: string; name: string; definition: string; options: string[] | null }[];
  /** Materialized views to rebuild, with their definitions read before the rename (so they name the table). */
  materializedViews?: { schema: string; name: string; definition: string }[];
  /** Set by a rollback: the routing view, renamed, to drop once nothing depends on it. */
  routingView?: string;
  /** Written by versions before sequences kept their names; read by rollback only. */
  serialSequences?: { column: string; sequence: string }[];
  identityColumns?: string[];
  userTriggers?: string[];
  /** The table's sequences: recorded at prepare, and with the names given to the originals at the swap. */
  sequences?: SavedSequence[];
  /** The target's choices of how unique keys stay enforced, as the run was started with. */
  uniqueness?: Record<string, UniqueEnforcement>;
  /** The unique keys kept across the table by a registry, decided at prepare (migration/unique-registry.ts). */
  registries?: string[];
  /** The log of rows changed while the registries are filled and synced, until the swap. */
  registryLog?: string;
}

/** A sequence of the original table, and the names the migration gives it and its replacement. */
export interface SavedSequence {
  column: string;
  kind: 'serial' | 'identity';
  schema: string;
  /** The name the application uses. */
  name: string;
  /** Identity: the new table's sequence's name until the swap (and again after a rollback). */
  replacement: string | null;
  /** Identity: the name the original's sequence has from the swap until finalize or rollback. */
  backup?: string;
}

export interface NewTarget {
  schema: string;
  table: string;
  keyColumn: string;
  bucketColumn: string;
  bucketLimit: number;
  partitionedTable: string;
  backupTable: string;
  /** Recorded with the target (in its saved definitions) so that a resumed run keeps them. */
  uniqueness?: Record<string, UniqueEnforcement>;
}

export class Journal {
  readonly schema: string;
  private readonly q: string;

  constructor(schema: string) {
    this.schema = schema;
    this.q = ident(schema);
  }

  /**
   * Records a new run, refusing it if any of its tables is already being
   * migrated by another run (running, or interrupted and not yet resolved).
   */
  async createRun(client: pg.ClientBase, targets: NewTarget[], options: Record<string, unknown>): Promise<number> {
    await client.query('BEGIN');
    try {
      for (const target of targets) {
        // Serializes two processes starting a migration of the same table.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('partwise.migrate'), hashtext($1))`, [
          `${target.schema}.${target.table}`,
        ]);
        const { rows } = await client.query<{ run_id: string }>(
          `SELECT t.run_id FROM ${this.q}.migration_target t JOIN ${this.q}.migration_run r USING (run_id)
            WHERE t.table_schema = $1 AND t.table_name = $2 AND r.status = 'running'`,
          [target.schema, target.table],
        );
        if (rows[0]) {
          const runId = Number(rows[0].run_id);
          const active = await this.isRunActive(client, runId);
          throw new PartwiseError(
            'conflict',
            active
              ? `${target.schema}.${target.table} is being migrated by run ${runId}; wait for it to finish`
              : `${target.schema}.${target.table} belongs to run ${runId}, which was interrupted`,
            { hint: active ? undefined : `partwise resume --run ${runId}, or partwise rollback --run ${runId}` },
          );
        }
      }
      const { rows } = await client.query<{ run_id: string }>(
        `INSERT INTO ${this.q}.migration_run (options, partwise_version) VALUES ($1, $2) RETURNING run_id`,
        [JSON.stringify(options), PARTWISE_VERSION],
      );
      const runId = Number(rows[0]!.run_id);
      for (const [index, target] of targets.entries()) {
        await client.query(
          `INSERT INTO ${this.q}.migration_target
             (run_id, target_no, table_schema, table_name, key_column, bucket_column, bucket_limit, partitioned_table, backup_table, saved)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            runId,
            index + 1,
            target.schema,
            target.table,
            target.keyColumn,
            target.bucketColumn,
            target.bucketLimit,
            target.partitionedTable,
            target.backupTable,
            JSON.stringify(target.uniqueness ? { uniqueness: target.uniqueness } : {}),
          ],
        );
      }
      await client.query('COMMIT');
      return runId;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** Takes the run's lock on this session; false when another process holds it. */
  async lockRun(client: pg.ClientBase, runId: number): Promise<boolean> {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS locked', [
      RUN_LOCK_CLASS,
      runId,
    ]);
    return rows[0]!.locked;
  }

  async unlockRun(client: pg.ClientBase, runId: number): Promise<void> {
    await client.query('SELECT pg_advisory_unlock($1, $2)', [RUN_LOCK_CLASS, runId]);
  }

  /** Whether some session holds the run's lock (a process is working on it). */
  async isRunActive(db: pg.ClientBase | pg.Pool, runId: number): Promise<boolean> {
    const { rows } = await db.query<{ held: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 2) AS held`,
      [RUN_LOCK_CLASS, runId],
    );
    return rows[0]!.held;
  }

  async setRunStatus(
    db: pg.ClientBase | pg.Pool,
    runId: number,
    status: RunStatus,
    error: string | null = null,
  ): Promise<void> {
    const finished = status === 'running' ? null : 'now()';
    await db.query(
      `UPDATE ${this.q}.migration_run SET status = $2, error = $3, updated_at = now(), finished_at = ${finished ?? 'NULL'} WHERE run_id = $1`,
      [runId, status, error],
    );
  }

  async updateTarget(
    db: pg.ClientBase | pg.Pool,
    runId: number,
    targetNo: number,
    fields: Partial<{
      phase: Phase;
      status: TargetState['status'];
      configId: number;
      saved: SavedDefinitions;
      rowsTotal: number;
      rowsCopied: number;
      keysTotal: number;
      changesApplied: number;
      cutoverAt: 'now' | 'clear';
      error: string | null;
      startedAt: 'now';
      finishedAt: 'now';
    }>,
  ): Promise<void> {
    const columns: Record<string, string> = {
      phase: 'phase',
      status: 'status',
      configId: 'config_id',
      saved: 'saved',
      rowsTotal: 'rows_total',
      rowsCopied: 'rows_copied',
      keysTotal: 'keys_total',
      changesApplied: 'changes_applied',
      error: 'error',
    };
    const sets: string[] = [];
    const values: unknown[] = [runId, targetNo];
    for (const [field, value] of Object.entries(fields)) {
      if (field === 'cutoverAt') sets.push(value === 'clear' ? 'cutover_at = NULL' : 'cutover_at = now()');
      else if (field === 'startedAt') sets.push('started_at = coalesce(started_at, now())');
      else if (field === 'finishedAt') sets.push('finished_at = now()');
      else {
        values.push(field === 'saved' ? JSON.stringify(value) : value);
        sets.push(`${columns[field]} = $${values.length}`);
      }
    }
    if (sets.length === 0) return;
    await db.query(
      `UPDATE ${this.q}.migration_target SET ${sets.join(', ')} WHERE run_id = $1 AND target_no = $2`,
      values,
    );
    await db.query(`UPDATE ${this.q}.migration_run SET updated_at = now() WHERE run_id = $1`, [runId]);
  }

  async startStep(db: pg.ClientBase | pg.Pool, runId: number, targetNo: number, phase: Phase): Promise<number> {
    const { rows } = await db.query<{ step_id: string }>(
      `INSERT INTO ${this.q}.migration_step (run_id, target_no, phase) VALUES ($1, $2, $3) RETURNING step_id`,
      [runId, targetNo, phase],
    );
    return Number(rows[0]!.step_id);
  }

  async finishStep(db: pg.ClientBase | pg.Pool, stepId: number, detail: Record<string, unknown>): Promise<void> {
    await db.query(
      `UPDATE ${this.q}.migration_step SET finished_at = clock_timestamp(), detail = $2 WHERE step_id = $1`,
      [stepId, JSON.stringify(detail)],
    );
  }

  async targets(db: pg.ClientBase | pg.Pool, runId: number): Promise<JournalTarget[]> {
    const { rows } = await db.query(`SELECT * FROM ${this.q}.migration_target WHERE run_id = $1 ORDER BY target_no`, [
      runId,
    ]);
    return rows.map(toTarget);
  }

  async run(db: pg.ClientBase | pg.Pool, runId: number): Promise<{ status: RunStatus; error: string | null } | null> {
    const { rows } = await db.query<{ status: RunStatus; error: string | null }>(
      `SELECT status, error FROM ${this.q}.migration_run WHERE run_id = $1`,
      [runId],
    );
    return rows[0] ?? null;
  }

  async listRuns(db: pg.ClientBase | pg.Pool, limit = 50): Promise<RunSummary[]> {
    const { rows: runs } = await db.query<{
      run_id: string;
      status: RunStatus;
      started_at: Date;
      finished_at: Date | null;
      error: string | null;
    }>(
      `SELECT run_id, status, started_at, finished_at, error FROM ${this.q}.migration_run ORDER BY run_id DESC LIMIT $1`,
      [limit],
    );
    const steps = await this.steps(
      db,
      runs.map((run) => Number(run.run_id)),
    );
    const summaries: RunSummary[] = [];
    for (const run of runs) {
      const runId = Number(run.run_id);
      const targets = await this.targets(db, runId);
      const rollingBack = targets.some((t) => t.phase === 'rollback' && t.status !== 'rolled_back');
      let status: RunStatus = run.status;
      // A rollback marks its run running; journals of older versions left the
      // run "succeeded" during one. Either way, no process holding the run's
      // lock means the process died: interrupted, where a rollback continues it.
      if (status === 'running' || (status === 'succeeded' && rollingBack)) {
        status = (await this.isRunActive(db, runId)) ? 'running' : 'interrupted';
      }
      const anyCutover = targets.some(
        (t) => t.cutoverAt !== null && t.status !== 'rolled_back' && t.status !== 'finalized',
      );
      summaries.push({
        runId,
        status,
        startedAt: run.started_at.toISOString(),
        finishedAt: run.finished_at?.toISOString() ?? null,
        canResume: status === 'interrupted' && !rollingBack,
        canRollback:
          status === 'interrupted' ||
          ((status === 'succeeded' || status === 'failed') &&
            targets.some((t) => t.status === 'done' || t.status === 'failed')),
        canFinalize: status === 'succeeded' && anyCutover,
        rollingBack: rollingBack && status !== 'rolled_back',
        error: run.error,
        targets: targets.map((t) => ({
          targetNo: t.targetNo,
          schema: t.schema,
          table: t.table,
          keyColumn: t.keyColumn,
          bucketLimit: t.bucketLimit,
          phase: t.phase,
          status: t.status,
          rowsTotal: t.rowsTotal,
          rowsCopied: t.rowsCopied,
          keysTotal: t.keysTotal,
          keysCopied: t.status === 'done' || t.cutoverAt ? (t.keysTotal ?? 0) : 0,
          cutoverAt: t.cutoverAt,
          error: t.error,
        })),
        steps: steps.get(runId) ?? [],
      });
    }
    return summaries;
  }

  /** The recorded steps of some runs, in the order they started. */
  async steps(db: pg.ClientBase | pg.Pool, runIds: number[]): Promise<Map<number, RunStep[]>> {
    const byRun = new Map<number, RunStep[]>();
    if (runIds.length === 0) return byRun;
    const { rows } = await db.query<{
      run_id: string;
      target_no: number;
      phase: Phase;
      started_at: Date;
      finished_at: Date | null;
      duration_ms: number | null;
      detail: Record<string, unknown>;
    }>(
      `SELECT run_id, target_no, phase, started_at, finished_at, detail,
              (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS duration_ms
         FROM ${this.q}.migration_step WHERE run_id = ANY($1::bigint[]) ORDER BY step_id`,
      [runIds],
    );
    const numberOrNull = (value: unknown): number | null =>
      typeof value === 'number' && Number.isFinite(value) ? value : null;
    for (const row of rows) {
      const unit = ProgressUnit.safeParse(row.detail.unit);
      const step: RunStep = {
        targetNo: row.target_no,
        phase: row.phase,
        startedAt: row.started_at.toISOString(),
        finishedAt: row.finished_at?.toISOString() ?? null,
        durationMs: row.duration_ms === null ? null : Math.round(row.duration_ms),
        count: numberOrNull(row.detail.count),
        unit: unit.success ? unit.data : null,
        lockMs: numberOrNull(row.detail.lockMs),
      };
      const runId = Number(row.run_id);
      byRun.set(runId, [...(byRun.get(runId) ?? []), step]);
    }
    return byRun;
  }
}

function toTarget(row: Record<string, unknown>): JournalTarget {
  return {
    runId: Number(row.run_id),
    targetNo: row.target_no as number,
    schema: row.table_schema as string,
    table: row.table_name as string,
    keyColumn: row.key_column as string,
    bucketColumn: row.bucket_column as string,
    bucketLimit: Number(row.bucket_limit),
    partitionedTable: row.partitioned_table as string,
    backupTable: row.backup_table as string,
    configId: (row.config_id as number | null) ?? null,
    phase: row.phase as Phase,
    status: row.status as TargetState['status'],
    saved: (row.saved as SavedDefinitions) ?? {},
    rowsTotal: row.rows_total === null ? null : Number(row.rows_total),
    rowsCopied: Number(row.rows_copied),
    keysTotal: (row.keys_total as number | null) ?? null,
    changesApplied: Number(row.changes_applied),
    cutoverAt: row.cutover_at ? (row.cutover_at as Date).toISOString() : null,
    error: (row.error as string | null) ?? null,
  };
}
