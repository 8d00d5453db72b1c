// Reading and writing the migration journal (sql/migrations/0003_journal.sql);
// every row read is validated by journal-format.ts, and what a run allows is
// decided by run-rules.ts.
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
import {
  JOURNAL_FORMAT,
  readRun,
  readStep,
  readTarget,
  type JournalTarget,
  type RunRow,
  type SavedDefinitions,
} from './journal-format.js';
import { needsLiveness, runActions } from './run-rules.js';

/** First key of the advisory locks Partwise takes on runs ("pwru" as an integer). */
const RUN_LOCK_CLASS = 0x70777275;

export type { JournalTarget, SavedDefinitions, SavedSequence } from './journal-format.js';

/** A table of a run about to be recorded: the journal's fields it starts with. */
export type NewTarget = Pick<
  JournalTarget,
  'schema' | 'table' | 'keyColumn' | 'bucketColumn' | 'bucketLimit' | 'partitionedTable' | 'backupTable'
> & {
  /** Recorded with the target (in its saved definitions) so that a resumed run keeps them. */
  uniqueness?: Record<string, UniqueEnforcement>;
  shareBelow?: number;
};

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
            JSON.stringify({
              format: JOURNAL_FORMAT,
              ...(target.uniqueness ? { uniqueness: target.uniqueness } : {}),
              ...(target.shareBelow ? { shareBelow: target.shareBelow } : {}),
            }),
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
    // A run that ends is held by nobody any more.
    const unheld = status === 'running' ? '' : ', paused_at = NULL, paused_by = NULL';
    await db.query(
      `UPDATE ${this.q}.migration_run SET status = $2, error = $3, updated_at = now(), finished_at = ${finished ?? 'NULL'}${unheld} WHERE run_id = $1`,
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
        values.push(
          field === 'saved' ? JSON.stringify({ ...(value as SavedDefinitions), format: JOURNAL_FORMAT }) : value,
        );
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
    const { rows } = await db.query(
      `SELECT t.*, r.partwise_version AS written_by
         FROM ${this.q}.migration_target t JOIN ${this.q}.migration_run r USING (run_id)
        WHERE run_id = $1 ORDER BY target_no`,
      [runId],
    );
    return rows.map(({ written_by, ...row }) => readTarget(row, written_by as string));
  }

  /** Holds (or lets go of) a run's copy and index work; the engine looks before each unit (throttle.ts). */
  async setPaused(db: pg.ClientBase | pg.Pool, runId: number, paused: boolean): Promise<void> {
    await db.query(
      `UPDATE ${this.q}.migration_run SET paused_at = CASE WHEN $2 THEN coalesce(paused_at, now()) END,
              paused_by = CASE WHEN $2 THEN coalesce(paused_by, current_user) END WHERE run_id = $1`,
      [runId, paused],
    );
  }

  /** Who holds the run and since when, or null when nobody does. */
  async pausedBy(db: pg.ClientBase | pg.Pool, runId: number): Promise<{ at: string; by: string } | null> {
    const { rows } = await db.query<{ at: string; by: string }>(
      `SELECT to_char(paused_at, 'HH24:MI:SS') AS at, paused_by AS by FROM ${this.q}.migration_run
        WHERE run_id = $1 AND paused_at IS NOT NULL`,
      [runId],
    );
    return rows[0] ?? null;
  }

  async run(db: pg.ClientBase | pg.Pool, runId: number): Promise<{ status: RunStatus; error: string | null } | null> {
    const { rows } = await db.query(`SELECT * FROM ${this.q}.migration_run WHERE run_id = $1`, [runId]);
    if (!rows[0]) return null;
    const { status, error } = readRun(rows[0]);
    return { status, error };
  }

  async listRuns(db: pg.ClientBase | pg.Pool, limit = 50): Promise<RunSummary[]> {
    const { rows } = await db.query(`SELECT * FROM ${this.q}.migration_run ORDER BY run_id DESC LIMIT $1`, [limit]);
    const runs: RunRow[] = rows.map(readRun);
    const steps = await this.steps(
      db,
      runs.map((run) => run.run_id),
    );
    const summaries: RunSummary[] = [];
    for (const run of runs) {
      const runId = run.run_id;
      const targets = await this.targets(db, runId);
      const active = needsLiveness(run.status, targets) && (await this.isRunActive(db, runId));
      summaries.push({
        runId,
        ...runActions(run.status, targets, active),
        startedAt: run.started_at,
        finishedAt: run.finished_at,
        error: run.error,
        paused: run.paused_at ? { at: run.paused_at, by: run.paused_by ?? '' } : null,
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
    const { rows } = await db.query(
      `SELECT run_id, target_no, phase, started_at, finished_at, detail,
              (extract(epoch FROM finished_at - started_at) * 1000)::float8 AS duration_ms
         FROM ${this.q}.migration_step WHERE run_id = ANY($1::bigint[]) ORDER BY step_id`,
      [runIds],
    );
    const numberOrNull = (value: unknown): number | null =>
      typeof value === 'number' && Number.isFinite(value) ? value : null;
    for (const row of rows.map(readStep)) {
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
      const runId = row.run_id;
      byRun.set(runId, [...(byRun.get(runId) ?? []), step]);
    }
    return byRun;
  }
}
