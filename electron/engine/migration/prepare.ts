// Phase 1, prepare: refuse a table with blockers (changing nothing), create the
// empty partitioned table beside the original and record it as managed, and
// (online) start logging which rows the application changes from now on.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { blockers, type MigrationPlan } from '../../../shared/plan.js';
import { inspectTable, serverInfo, type TableInfo } from '../catalog.js';
import { inLockingTransaction } from '../locks.js';
import { planMigration, UNCERTAIN_COUNT_BLOCKERS } from '../plan.js';
import type { TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';
import { acceptedIssues, recordAcceptedWorkload } from './acceptance.js';

export function identityColumns(info: TableInfo): string[] {
  const primary = info.indexes.find((i) => i.isPrimary && i.isValid);
  if (primary) return primary.keyColumns as string[];
  const unique = info.indexes.find(
    (i) =>
      i.isUnique &&
      i.isValid &&
      i.keyColumns.every((c) => c !== null && info.columns.find((col) => col.name === c)?.notNull) &&
      !/ WHERE /.test(i.definition),
  );
  return unique ? (unique.keyColumns as string[]) : [];
}

export function changeLogName(runId: number, targetNo: number, after = false): string {
  return `changes_${runId}_${targetNo}${after ? '_after' : ''}`;
}

/**
 * Throws when the plan of a table has a blocker (offline, a table without a
 * row identity may go: its writers wait instead of being logged). Run before
 * a run is recorded, and again when it prepares (things may have changed).
 */
export async function refuseBlocked(
  client: pg.ClientBase,
  target: {
    schema: string;
    table: string;
    keyColumn: string;
    bucketLimit: number;
    bucketColumn: string;
    acceptKeylessQueries?: boolean;
  },
  options: Pick<TargetContext['options'], 'installSchema' | 'mode'>,
  { ignoreRunId, except = [] }: { ignoreRunId?: number; except?: string[] } = {},
): Promise<MigrationPlan> {
  const plan = await planMigration(
    client,
    {
      schema: target.schema,
      table: target.table,
      keyColumn: target.keyColumn,
      bucketLimit: target.bucketLimit,
      acceptKeylessQueries: target.acceptKeylessQueries,
    },
    { counting: 'auto', installSchema: options.installSchema, bucketColumn: target.bucketColumn, ignoreRunId },
  );
  // What only an exact count can settle is settled by the provision phase,
  // which counts every key before it creates any partition (copy.ts).
  const found = blockers(plan).filter(
    (b) =>
      !except.includes(b.code) &&
      !(options.mode === 'offline' && b.code === 'no_row_identity') &&
      !UNCERTAIN_COUNT_BLOCKERS.includes(b.code),
  );
  if (found.length > 0) {
    throw new PartwiseError(
      'blocked',
      `${target.schema}.${target.table} cannot be migrated: ${found.map((b) => b.message).join(' ')}`,
      {
        hint: found
          .map((b) => b.fix)
          .filter(Boolean)
          .join(' '),
      },
    );
  }
  return plan;
}

export async function prepare(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { target, journal, reporter, options, sql } = context;
  const table = { schema: target.schema, name: target.table };

  if (target.configId === null) {
    const accepted = await acceptedIssues(client, options.installSchema, target.runId, target.targetNo);
    const plan = await refuseBlocked(
      client,
      { ...target, acceptKeylessQueries: accepted.has('keyless_queries') },
      options,
      { ignoreRunId: target.runId },
    );
    await recordAcceptedWorkload(context, client, plan);
    const info = await inspectTable(client, table);
    const server = await serverInfo(client);
    const key = info.columns.find((c) => c.name === target.keyColumn)!;
    const including = [
      'DEFAULTS',
      'CONSTRAINTS',
      'GENERATED',
      'IDENTITY',
      'STORAGE',
      'COMMENTS',
      'STATISTICS',
      ...(server.versionNum >= 140000 ? ['COMPRESSION'] : []),
    ];
    await client.query('BEGIN');
    try {
      // Defaults come along unchanged: a serial column's default still draws
      // from the original sequence, so ids continue across the swap.
      await client.query(
        `CREATE TABLE ${sql.partitioned} (LIKE ${sql.source} ${including.map((i) => `INCLUDING ${i}`).join(' ')},
           ${ident(target.bucketColumn)} integer NOT NULL DEFAULT 0)
         PARTITION BY LIST (${ident(target.keyColumn)})`,
      );
      if (!key.notNull)
        await client.query(`ALTER TABLE ${sql.partitioned} ALTER COLUMN ${ident(key.name)} SET NOT NULL`);
      const { rows } = await client.query<{ config_id: number }>(
        `SELECT (${sql.install}.configure_table($1, $2, $3, $4, $5, $6, $7)).config_id`,
        [
          target.schema,
          target.table,
          target.partitionedTable,
          target.keyColumn,
          target.bucketLimit,
          target.bucketColumn,
          info.reloptions,
        ],
      );
      target.configId = rows[0]!.config_id;
      await journal.updateTarget(client, target.runId, target.targetNo, { configId: target.configId });
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    reporter.log('info', `created ${target.partitionedTable} (configuration ${target.configId})`, context.label);
  }

  if (options.mode === 'online' && !target.saved.changeLog) {
    const info = await inspectTable(client, table);
    const identity = identityColumns(info);
    const changeLog = changeLogName(target.runId, target.targetNo);
    const trigger = `partwise_capture_${target.runId}`;
    // Creating the trigger takes SHARE ROW EXCLUSIVE on the table: briefly
    // blocks writers, so it waits at most lock_timeout and retries.
    await inLockingTransaction(
      client,
      {
        ...options.lock,
        signal: options.signal,
        onRetry: (attempt) =>
          reporter.log(
            'warn',
            `waiting for a lock on ${context.label} to add change capture (attempt ${attempt})`,
            context.label,
          ),
      },
      async () => {
        await client.query(`SELECT ${sql.install}.start_change_capture($1, $2::regclass, $3, $4, $5)`, [
          changeLog,
          sql.source,
          identity,
          target.keyColumn,
          trigger,
        ]);
        await client.query(`SELECT ${sql.install}.create_replay($1, $2::regclass, $3::regclass, $4, $5, $6, $7)`, [
          changeLog,
          sql.source,
          sql.partitioned,
          identity,
          target.keyColumn,
          target.configId,
          target.bucketColumn,
        ]);
        target.saved = { ...target.saved, identity, changeLog, captureTrigger: trigger };
        await journal.updateTarget(client, target.runId, target.targetNo, { saved: target.saved });
      },
    );
    reporter.log('info', `capturing changes to ${context.label} by ${identity.join(', ')}`, context.label);
    await crashPoint('prepare:after-capture');
  }
}
