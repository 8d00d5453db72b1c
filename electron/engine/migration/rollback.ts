// Undoing a migration, using only what the journal says this run created.
// Nothing is dropped with CASCADE, and no row the application wrote is lost:
// before the swap the original table was never changed (only watched); after
// the swap, every write to the new table was logged, and is carried back to
// the original before it takes its name again, with its sequences' names
// (values drawn since continue). The unique registries go with the
// partitioned table's metadata (forget_table).
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident, qualified } from '../../db/sql.js';
import { inspectTable, leavesPerTransaction, serverInfo } from '../catalog.js';
import { inLockingTransaction } from '../locks.js';
import { derivedName } from '../names.js';
import type { TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';
import { rebuildMaterializedView } from './cutover.js';
import { returnSequences } from './sequences.js';
import { stopRegistryLog } from './unique-registry.js';

export async function rollbackTarget(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const { target, journal, reporter } = context;
  if (target.status === 'rolled_back') return;
  if (target.status === 'finalized') {
    throw new PartwiseError(
      'conflict',
      `${context.label} was finalized: its original table is gone, so there is nothing to return to`,
    );
  }
  reporter.phase('rollback', `rolling back ${context.label}`, context.label);
  // Recorded before anything is undone: a rollback stopped part way (kill -9)
  // shows as one, and the next rollback continues it; it is never resumed as a migration.
  await journal.updateTarget(control, target.runId, target.targetNo, { phase: 'rollback' });
  target.phase = 'rollback';
  const stepId = await journal.startStep(control, target.runId, target.targetNo, 'rollback');
  const lockMs = target.cutoverAt ? await undoSwap(context, control) : null;
  await stopSourceCapture(context, control);
  await crashPoint('rollback:before-drop');
  await dropNewTable(context, control);
  await journal.updateTarget(control, target.runId, target.targetNo, {
    status: 'rolled_back',
    phase: 'rollback',
    finishedAt: 'now',
  });
  await journal.finishStep(control, stepId, lockMs === null ? {} : { lockMs });
  target.status = 'rolled_back';
  reporter.log('info', `${context.label} is back to its original table`, context.label);
}

/** Puts the original table back under its name; returns how long the tables were locked (ms). */
async function undoSwap(context: TargetContext, control: pg.ClientBase): Promise<number> {
  const { target, sql, options, reporter } = context;
  const saved = target.saved;
  let lockedAt = 0;
  await inLockingTransaction(
    control,
    {
      ...options.lock,
      onRetry: (attempt) =>
        reporter.log('warn', `rollback waiting for the lock on ${context.label} (attempt ${attempt})`, context.label),
    },
    async () => {
      // Locked without what lies below them: LOCK TABLE on a view also locks
      // every table its query reads, with all their partitions, and
      // thousands of partitions would not fit the lock table in one
      // transaction. So the routing view, and each view over it, is locked
      // by a change of owner to the one it has (which changes nothing and
      // locks the view alone), and the partitioned table ONLY (writers reach
      // the partitions through it), in the order the application's
      // statements lock them.
      const lockView = async (view: string): Promise<void> => {
        const { rows } = await control.query<{ owner: string }>(
          `SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = $1::regclass`,
          [view],
        );
        await control.query(`ALTER VIEW ${view} OWNER TO ${ident(rows[0]!.owner)}`);
      };
      await lockView(sql.source);
      await control.query(`LOCK TABLE ONLY ${sql.partitioned}, ${sql.backup} IN ACCESS EXCLUSIVE MODE`);
      lockedAt = Date.now();
      const view = await inspectTable(control, { schema: target.schema, name: target.table });
      for (const dependant of view.dependentViews.filter((v) => v.kind === 'v')) {
        await lockView(qualified(dependant.schema, dependant.name));
      }

      if (saved.afterLog) {
        // Every writer is done (the tables are locked): carry the whole log back.
        const { rows: applied } = await control.query<{ n: string }>(
          `SELECT ${sql.install}.carry_back_changes($1, $2::regclass, $3::regclass, $4, $5, $6) AS n`,
          [saved.afterLog, sql.partitioned, sql.backup, saved.identity, target.keyColumn, target.bucketColumn],
        );
        reporter.log(
          'info',
          `carried ${Number(applied[0]!.n).toLocaleString('en-US')} logged changes made since the swap back to the original table`,
          context.label,
        );
        await control.query(`SELECT ${sql.install}.stop_change_capture($1, $2::regclass, $3)`, [
          saved.afterLog,
          sql.partitioned,
          `partwise_capture_after_${target.runId}`,
        ]);
      }

      const routingName = derivedName(target.table, '_routing');
      await control.query(`ALTER VIEW ${sql.source} RENAME TO ${ident(routingName)}`);
      await control.query(`ALTER TABLE ${sql.backup} RENAME TO ${ident(target.table)}`);
      if (saved.userTriggers?.length) {
        await control.query(`ALTER TABLE ${sql.source} ENABLE TRIGGER USER`);
        const { rows: disabled } = await control.query<{ name: string }>(
          `SELECT tgname AS name FROM pg_trigger WHERE tgrelid = $1::regclass AND tgenabled = 'D' AND NOT tgisinternal`,
          [sql.partitioned],
        );
        for (const trigger of disabled)
          await control.query(`ALTER TABLE ${sql.source} DISABLE TRIGGER ${ident(trigger.name)}`);
      }
      for (const rename of saved.renamed ?? []) {
        await control.query(
          `ALTER INDEX ${qualified(target.schema, rename.original)} RENAME TO ${ident(rename.replacement)}`,
        );
        await control.query(
          `ALTER INDEX ${qualified(target.schema, rename.backup)} RENAME TO ${ident(rename.original)}`,
        );
      }
      await returnSequences(context, control, saved.sequences ?? []);
      // Runs swapped by versions before sequences kept their names.
      for (const { column, sequence } of saved.serialSequences ?? []) {
        await control.query(`ALTER SEQUENCE ${sequence} OWNED BY ${sql.source}.${ident(column)}`);
      }
      for (const column of saved.identityColumns ?? []) {
        await control.query(
          `SELECT ${sql.install}.continue_sequence(pg_get_serial_sequence($1, $3)::regclass, pg_get_serial_sequence($2, $3)::regclass)`,
          [sql.partitioned, sql.source, column],
        );
      }
      // Dependent views go back to the original table (their text names it).
      for (const dependant of view.dependentViews.filter((v) => v.kind === 'v')) {
        const withOptions = dependant.options?.length ? ` WITH (${dependant.options.join(', ')})` : '';
        await control.query(
          `CREATE OR REPLACE VIEW ${qualified(dependant.schema, dependant.name)}${withOptions} AS ${dependant.definition}`,
        );
      }
      // Materialized views over the routing view are rebuilt after this
      // transaction from these definitions, which name the table again.
      const materialized = view.dependentViews
        .filter((v) => v.kind === 'm')
        .map((v) => ({ schema: v.schema, name: v.name, definition: v.definition }));
      target.saved = { ...saved, materializedViews: materialized, routingView: routingName };
      // Recorded with the swap-back itself: a rollback interrupted after this point does not undo it twice.
      await context.journal.updateTarget(control, target.runId, target.targetNo, {
        phase: 'rollback',
        cutoverAt: 'clear',
        saved: target.saved,
      });
    },
  );
  const lockMs = Date.now() - lockedAt;
  target.cutoverAt = null;
  for (const view of target.saved.materializedViews ?? []) await rebuildMaterializedView(context, control, view);
  await control.query(`DROP VIEW IF EXISTS ${qualified(target.schema, target.saved.routingView!)}`);
  return lockMs;
}

/** Removes the triggers that watched the original table during the copy. */
async function stopSourceCapture(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const { target, sql, options } = context;
  if (target.saved.registryLog) {
    await inLockingTransaction(control, options.lock, () => stopRegistryLog(context, control));
  }
  if (!target.saved.changeLog) return;
  const onRetry = (attempt: number): void =>
    context.reporter.log(
      'warn',
      `rollback waiting for the lock on ${context.label} to remove its change capture (attempt ${attempt})`,
      context.label,
    );
  await inLockingTransaction(control, { ...options.lock, onRetry }, async () => {
    const { rows } = await control.query<{ kind: string | null }>(
      `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind`,
      [sql.source],
    );
    await control.query(`SELECT ${sql.install}.stop_change_capture($1, $2::regclass, $3)`, [
      target.saved.changeLog,
      rows[0]?.kind === 'r' ? sql.source : null,
      target.saved.captureTrigger,
    ]);
  });
}

/**
 * Drops the partitioned table this run created, one level-1 partition per
 * transaction, and the leaves of one with many buckets a group at a time
 * first (dropping a table locks it, its partitions and their indexes until
 * commit: thousands would not fit the lock table at once).
 */
async function dropNewTable(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const { target, sql } = context;
  if (target.saved.routingView)
    await control.query(`DROP VIEW IF EXISTS ${qualified(target.schema, target.saved.routingView)}`);
  if (target.configId !== null) {
    // The level-1 partitions and their leaves, from the catalog: an
    // interrupted provisioning may have made some that the tracker does not list yet.
    const { rows } = await control.query<{ level_one: string; leaves: string[] }>(
      `SELECT l.inhrelid::regclass::text AS level_one,
              ARRAY(SELECT b.inhrelid::regclass::text FROM pg_inherits b WHERE b.inhparent = l.inhrelid) AS leaves
         FROM pg_inherits l WHERE l.inhparent = to_regclass($1)`,
      [sql.partitioned],
    );
    // Dropping a leaf locks it, its TOAST table and that one's index, and its indexes.
    const { rows: indexes } = await control.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_index WHERE indrelid = to_regclass($1)`,
      [sql.partitioned],
    );
    const group = leavesPerTransaction(await serverInfo(control), context.options.workers, 2 + indexes[0]!.n);
    for (const row of rows) {
      if (row.leaves.length > group) {
        for (let first = 0; first < row.leaves.length; first += group)
          await control.query(`DROP TABLE IF EXISTS ${row.leaves.slice(first, first + group).join(', ')}`);
      }
      await control.query(`DROP TABLE IF EXISTS ${row.level_one}`);
    }
    await control.query(`SELECT ${sql.install}.forget_table($1)`, [target.configId]);
  }
  const { rows: exists } = await control.query<{ kind: string | null }>(
    `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind`,
    [sql.partitioned],
  );
  if (exists[0]?.kind === 'p') await control.query(`DROP TABLE ${sql.partitioned}`);
}
