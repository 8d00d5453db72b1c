// Phase 1, prepare: refuse a table with blockers (changing nothing), create the
// empty partitioned table beside the original and record it as managed, and
// start logging which rows the application changes from now on (online, and
// for the unique registries).
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { blockers, type MigrationPlan, type UniqueEnforcement } from '../../../shared/plan.js';
import { inspectTable, rowIdentity, serverInfo } from '../catalog.js';
import { checksBeforeCopy } from '../constraint-ddl.js';
import { inLockingTransaction } from '../locks.js';
import { planMigration, UNCERTAIN_COUNT_BLOCKERS } from '../plan.js';
import { partitionedTableStatements } from '../table-ddl.js';
import type { TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';
import { acceptedIssues, recordAcceptedWorkload } from './acceptance.js';
import { planSequences } from './sequences.js';
import { startRegistryLog } from './unique-registry.js';
import { createReplay } from './catch-up.js';

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
    uniqueness?: Record<string, UniqueEnforcement>;
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
      uniqueness: target.uniqueness,
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
      { ...target, acceptKeylessQueries: accepted.has('keyless_queries'), uniqueness: target.saved.uniqueness },
      options,
      { ignoreRunId: target.runId },
    );
    await recordAcceptedWorkload(context, client, plan);
    const info = await inspectTable(client, table);
    const server = await serverInfo(client);
    const key = info.columns.find((c) => c.name === target.keyColumn)!;
    await client.query('BEGIN');
    try {
      const sequences = await planSequences(client, info);
      const statements = partitionedTableStatements(info, {
        partitioned: sql.partitioned,
        key,
        bucketColumn: target.bucketColumn,
        serverVersionNum: server.versionNum,
        identitySequenceNames: new Map(sequences.filter((s) => s.replacement).map((s) => [s.column, s.replacement!])),
      });
      for (const statement of statements) await client.query(statement);
      // The original's owner owns the new tree (and its identity sequences)
      // when a member of that role runs the migration.
      await client.query(`SELECT ${sql.install}.take_owner_of($1::regclass, $2, $3)`, [
        sql.source,
        target.schema,
        target.partitionedTable,
      ]);
      for (const check of checksBeforeCopy(info.constraints)) {
        await client.query(
          `SELECT ${sql.install}.copy_object_comment('constraint', $1::regclass, $2, $3::regclass, $2)`,
          [sql.source, check.name, sql.partitioned],
        );
      }
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
      // Finds no partition to guard on a new table: each level-1 partition gets
      // the key guard as it is created, its leaves the guard's clones, so the
      // swap has none to lock and uninstall drops them a group of keys at a
      // time (11_install_routing.sql).
      await client.query(`SELECT ${sql.install}.install_key_guard($1)`, [target.configId]);
      target.saved = { ...target.saved, sequences };
      await journal.updateTarget(client, target.runId, target.targetNo, {
        configId: target.configId,
        saved: target.saved,
      });
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    reporter.log('info', `created ${target.partitionedTable} (configuration ${target.configId})`, context.label);
  }

  const capture = options.mode === 'online' && !target.saved.changeLog;
  if (capture || !target.saved.registries) {
    const info = await inspectTable(client, table);
    const identity = rowIdentity(info);
    const changeLog = changeLogName(target.runId, target.targetNo);
    const trigger = `partwise_capture_${target.runId}`;
    // Creating the triggers takes SHARE ROW EXCLUSIVE on the table: briefly
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
        const before = target.saved;
        try {
          if (capture) {
            await client.query(`SELECT ${sql.install}.start_change_capture($1, $2::regclass, $3, $4, $5)`, [
              changeLog,
              sql.source,
              identity,
              target.keyColumn,
              trigger,
            ]);
            target.saved = { ...target.saved, identity, changeLog, captureTrigger: trigger };
            await createReplay(context, client);
          }
          // In the same transaction: no change between the two logs' starts goes unseen.
          await startRegistryLog(context, client, info);
          await journal.updateTarget(client, target.runId, target.targetNo, { saved: target.saved });
        } catch (error) {
          target.saved = before;
          throw error;
        }
      },
    );
    if (capture) reporter.log('info', `capturing changes to ${context.label} by ${identity.join(', ')}`, context.label);
    await crashPoint('prepare:after-capture');
  }
}
