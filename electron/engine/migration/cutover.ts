// The swap (phase cutover). Under one ACCESS EXCLUSIVE lock on the original
// table (requested with a short lock_timeout and retried, so the application
// never queues long behind the request), in one transaction:
//   apply the last changes (to the new table and its unique registries);
//   rename the original to its backup name; give the new table the original's
//   index names, triggers, policies, grants and comments, rebuilt from the
//   catalog; create the routing view under the original name; give the
//   sequences' names to the ones the application now uses; re-point dependent
//   views; start logging writes to the new table (so a rollback can carry
//   them back); record it all in the journal.
// Either all of it happens or none. Materialized views are rebuilt after the
// transaction, each swapped in under a short lock of its own.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident, qualified } from '../../db/sql.js';
import { inspectTable, rowIdentity, type TableInfo } from '../catalog.js';
import { indexPlans } from '../index-ddl.js';
import { isPartwiseTrigger } from '../rebuild-check.js';
import { triggerStateStatement, triggerStatement } from '../trigger-ddl.js';
import { DEADLOCK_ATTEMPTS, describeBlockers, inLockingTransaction, retryOnDeadlock } from '../locks.js';
import { derivedName } from '../names.js';
import { displayIdentifier } from '../../../shared/identifiers.js';
import type { SavedDefinitions } from '../journal.js';
import { applyRemainingChanges } from './catch-up.js';
import { changeLogName } from './prepare.js';
import { adoptSequences, planSequences } from './sequences.js';
import { enforceRegistries } from './unique-registry.js';
import { ResumableStop, type TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';

/** Swaps the tables; returns how long the table was under the exclusive lock (ms), for the step timings. */
export async function cutover(context: TargetContext, control: pg.ClientBase): Promise<{ lockMs: number }> {
  const { target, reporter, options } = context;
  // Once more just before the lock, while the application still writes: what
  // it wrote since catch-up handed over, so that less is left for the lock.
  // Not when the catch-up had to pause the writes: they outran every applier
  // then, so one connection applying alone while they write falls further
  // behind, and its time is the lock's delay (under 4 unthrottled writers it
  // took 1.1 s and left the lock 3 times what the catch-up handed over).
  // A batch chosen as a deadlock victim here was rolled back whole, its
  // entries kept: the swap applies them.
  if (target.saved.changeLog && !context.writesOutranCatchUp) {
    await applyRemainingChanges(context, control, { whileWriting: true }).then(
      ({ entries, ms }) =>
        reporter.log(
          'debug',
          `applied ${entries.toLocaleString('en-US')} logged changes in ${ms} ms before the lock`,
          context.label,
        ),
      (error: unknown) => {
        if (PartwiseError.from(error).sqlstate !== '40P01') throw error;
        reporter.log('debug', 'applying changes before the swap met a deadlock; the swap applies them', context.label);
      },
    );
  }
  // The swap's transaction may be chosen as a deadlock victim: its replay
  // updates rows of the new table and its lock on the original is one that
  // the application's sessions wait for, so a session holding such a row and
  // then reading the table closes a cycle. PostgreSQL then rolls the whole
  // transaction back (nothing swapped, nothing applied or consumed), so it is
  // taken again after a pause, as the catch-up's appliers take a batch again;
  // after DEADLOCK_ATTEMPTS in a row the run stops where it stands, to be
  // resumed, rather than roll back a finished copy (retryOnDeadlock). (A lock
  // timeout is retried by inLockingTransaction itself.)
  return retryOnDeadlock(
    async () => {
      const before = { saved: target.saved, changesApplied: target.changesApplied };
      try {
        const swapped = await swapTransaction(context, control);
        await rebuildMaterializedViews(context, control);
        return swapped;
      } catch (error) {
        // Past the commit (a materialized view's rebuild) nothing is undone here.
        if (target.cutoverAt) throw error;
        // What the rolled-back transaction recorded in memory goes with it.
        target.saved = before.saved;
        target.changesApplied = before.changesApplied;
        // Sessions held the table through every attempt: the run stops where it
        // stands (the copy done, writes still logged) and the error names them.
        // Once they are gone, resume swaps; a rollback would throw a finished
        // copy away for a lock that a DBA can free in a moment.
        const failure = PartwiseError.from(error);
        if (failure.kind === 'lock_timeout')
          throw new ResumableStop('lock_timeout', failure.message, { hint: failure.hint, cause: error });
        throw error;
      }
    },
    {
      signal: options.signal,
      // Past the commit nothing is retried.
      retryable: () => !target.cutoverAt,
      onRetry: (deadlocks, pause) =>
        reporter.log(
          'warn',
          `swap chosen as a deadlock victim (${deadlocks} of ${DEADLOCK_ATTEMPTS}) and rolled back whole; trying again in ${Math.round(pause)} ms`,
          context.label,
        ),
      giveUp: (deadlocks, error) =>
        new ResumableStop(
          'conflict',
          `the swap was chosen as a deadlock victim ${deadlocks} times in a row; each time its transaction was rolled back whole, so ${context.label} is still the original table and the changes not yet applied are kept in the log`,
          {
            hint: 'Look for sessions that hold rows of the new table and then wait for the original table (pg_locks, pg_stat_activity), then resume.',
            cause: error,
          },
        ),
    },
  );
}

/** One attempt at the swap, in one locking transaction; returns how long the table was under the exclusive lock (ms). */
async function swapTransaction(context: TargetContext, control: pg.ClientBase): Promise<{ lockMs: number }> {
  const { target, reporter, options, sql } = context;
  const started = Date.now();
  let lockedAt = started;
  await inLockingTransaction(
    control,
    {
      ...options.lock,
      signal: options.signal,
      // Who is in the way, while the swap waits: in the log, the app and --json.
      watch: {
        pool: context.pool,
        onBlocked: (wait) =>
          reporter.log(
            'warn',
            `swap waiting for the lock on ${wait.relation ?? context.label} (attempt ${wait.attempt} of ${wait.attempts}, each waiting up to ${wait.lockTimeoutMs} ms); in the way: ${describeBlockers(wait)}`,
            context.label,
            { blockers: wait.blockers },
          ),
      },
      onRetry: (attempt, _error, wait) =>
        reporter.log(
          'warn',
          `swap gave up waiting for the lock on ${wait.relation ?? context.label} after ${wait.lockTimeoutMs} ms (attempt ${attempt} of ${wait.attempts}); retrying`,
          context.label,
          wait.blockers.length > 0 ? { blockers: wait.blockers } : {},
        ),
    },
    async () => {
      await control.query(`LOCK TABLE ${sql.source} IN ACCESS EXCLUSIVE MODE`);
      lockedAt = Date.now();
      const info = await inspectTable(control, { schema: target.schema, name: target.table });
      // The plan refuses a subscription's target (subscription_target); one
      // made since would break at the swap (its apply worker cannot write to
      // the view the name becomes): stopped here, nothing swapped, until it
      // is taken out of the subscription.
      if (info.subscriptions.length > 0) {
        const names = info.subscriptions.map((s) => displayIdentifier(s.name)).join(', ');
        throw new ResumableStop(
          'conflict',
          `subscription ${names} began replicating into ${context.label} during the run; after the swap its name would be a view, which logical replication cannot write to, so nothing was swapped`,
          {
            hint: `Take the table out of the subscription (on the publisher, drop it from the publication; here, ALTER SUBSCRIPTION ... REFRESH PUBLICATION), then resume.`,
          },
        );
      }
      // Views are replaced in this transaction: lock them now, under the same
      // timeout. (Materialized views are rebuilt afterwards and cannot be locked.)
      for (const view of info.dependentViews.filter((v) => v.kind === 'v')) {
        await control.query(`LOCK TABLE ${qualified(view.schema, view.name)} IN ACCESS EXCLUSIVE MODE`);
      }

      if (target.saved.changeLog) {
        // Catch-up left no more than one connection applies in a short budget: the measured pause.
        const applied = await applyRemainingChanges(context, control, { whileWriting: false });
        reporter.log(
          'info',
          `applied the last ${applied.entries.toLocaleString('en-US')} logged changes in ${applied.ms} ms under the lock`,
          context.label,
        );
        await control.query(`SELECT ${sql.install}.stop_change_capture($1, $2::regclass, $3)`, [
          target.saved.changeLog,
          sql.source,
          target.saved.captureTrigger,
        ]);
      }
      const saved = await swap(context, control, info);
      await crashPoint('cutover:inside-transaction');
      target.saved = saved;
      await context.journal.updateTarget(control, target.runId, target.targetNo, {
        phase: 'verify',
        cutoverAt: 'now',
        saved,
      });
      // From the catch-up's hand-over to the lock, the application writes
      // unpaused: what it writes meanwhile is applied under the lock.
      const sinceHandOver =
        context.handedOverAt === undefined
          ? ''
          : `, the lock taken ${lockedAt - context.handedOverAt} ms after the catch-up handed over`;
      reporter.log(
        'info',
        `swapped in ${Date.now() - lockedAt} ms under the lock (${Date.now() - started} ms with waiting${sinceHandOver})`,
        context.label,
      );
    },
  );
  target.cutoverAt = new Date().toISOString();
  return { lockMs: Date.now() - lockedAt };
}

async function swap(context: TargetContext, client: pg.ClientBase, info: TableInfo): Promise<SavedDefinitions> {
  const { target, sql } = context;
  const saved: SavedDefinitions = {
    ...target.saved,
    renamed: [],
    views: [],
    materializedViews: [],
    userTriggers: [],
  };
  const q = (name: string): string => qualified(target.schema, name);
  const copyComment = (kind: string, fromName: string, toName: string): Promise<unknown> =>
    client.query(`SELECT ${sql.install}.copy_object_comment($1, $2::regclass, $3, $4::regclass, $5)`, [
      kind,
      sql.backup,
      fromName,
      sql.partitioned,
      toName,
    ]);

  // The registries take the last changes while the original still has its
  // name, then the partitioned table's triggers keep them.
  await enforceRegistries(context, client);

  // The new table takes the original's index and constraint names (renaming
  // an index renames the constraint it backs).
  const renames = indexPlans(info, target.keyColumn, target.bucketColumn).map((plan) => ({
    plan,
    backupName: derivedName(plan.index.name, '_backup'),
  }));
  for (const { plan, backupName } of renames) {
    await client.query(`ALTER INDEX ${q(plan.index.name)} RENAME TO ${ident(backupName)}`);
    await client.query(`ALTER INDEX ${q(plan.newName)} RENAME TO ${ident(plan.index.name)}`);
    saved.renamed!.push({ kind: 'index', original: plan.index.name, backup: backupName, replacement: plan.newName });
  }

  await client.query(`ALTER TABLE ${sql.source} RENAME TO ${ident(target.backupTable)}`);
  for (const { plan, backupName } of renames) {
    await copyComment('index', backupName, plan.index.name);
    if (plan.index.constraintName) await copyComment('constraint', backupName, plan.index.name);
  }

  // Triggers move to the new table, rebuilt from their catalog fields; on the
  // backup they stay, disabled.
  for (const trigger of info.triggers.filter((t) => !isPartwiseTrigger(t.name))) {
    await client.query(triggerStatement(trigger, sql.partitioned));
    const state = triggerStateStatement(trigger, sql.partitioned);
    if (state) await client.query(state);
    await copyComment('trigger', trigger.name, trigger.name);
    saved.userTriggers!.push(trigger.name);
  }
  if (saved.userTriggers!.length > 0) await client.query(`ALTER TABLE ${sql.backup} DISABLE TRIGGER USER`);

  if (info.rowSecurity) {
    await client.query(`ALTER TABLE ${sql.partitioned} ENABLE ROW LEVEL SECURITY`);
    if (info.forceRowSecurity) await client.query(`ALTER TABLE ${sql.partitioned} FORCE ROW LEVEL SECURITY`);
    for (const policy of info.policies) {
      await client.query(
        `CREATE POLICY ${ident(policy.name)} ON ${sql.partitioned} AS ${policy.permissive} FOR ${policy.command} TO ${policy.roles.join(', ')}` +
          (policy.using ? ` USING (${policy.using})` : '') +
          (policy.withCheck ? ` WITH CHECK (${policy.withCheck})` : ''),
      );
      await copyComment('policy', policy.name, policy.name);
    }
  }

  // The routing view takes the original's name. The partitioned table gets
  // the original's grants first: routed inserts run with the inserting role's
  // rights, and install_routing lets the roles that may insert take buckets.
  await client.query(`SELECT ${sql.install}.copy_grants($1::regclass, $2::regclass)`, [sql.backup, sql.partitioned]);
  await client.query(`SELECT ${sql.install}.install_routing($1)`, [target.configId]);
  await client.query(`SELECT ${sql.install}.copy_grants($1::regclass, $2::regclass)`, [sql.backup, sql.source]);
  await client.query(`SELECT ${sql.install}.copy_comments($1::regclass, $2::regclass)`, [sql.backup, sql.source]);
  await client.query(`SELECT ${sql.install}.copy_comments($1::regclass, $2::regclass)`, [sql.backup, sql.partitioned]);

  // Sequences keep their names, values and owners where the application looks (the view now exists).
  saved.sequences = await adoptSequences(
    context,
    client,
    target.saved.sequences ?? (await planSequences(client, info, sql.partitioned)),
  );

  // Views bind to a table, not to its name: re-create them so that they read
  // the routing view instead of the backup.
  for (const view of info.dependentViews) {
    if (view.kind === 'm') {
      saved.materializedViews!.push({ schema: view.schema, name: view.name, definition: view.definition });
      continue;
    }
    const options = view.options?.length ? ` WITH (${view.options.join(', ')})` : '';
    await client.query(`CREATE OR REPLACE VIEW ${qualified(view.schema, view.name)}${options} AS ${view.definition}`);
    saved.views!.push({ schema: view.schema, name: view.name, definition: view.definition, options: view.options });
  }

  // From now until finalize, log writes to the new table: a rollback carries
  // them back, finding each row by its key and bucket (both logged) in one leaf.
  const identity = saved.identity?.length ? saved.identity : rowIdentity(info);
  if (identity.length > 0) {
    const afterLog = changeLogName(target.runId, target.targetNo, true);
    await client.query(`SELECT ${sql.install}.start_change_capture($1, $2::regclass, $3, $4, $5, $6)`, [
      afterLog,
      sql.partitioned,
      identity,
      target.keyColumn,
      `partwise_capture_after_${target.runId}`,
      target.bucketColumn,
    ]);
    saved.afterLog = afterLog;
    saved.identity = identity;
  }
  return saved;
}

async function rebuildMaterializedViews(context: TargetContext, client: pg.ClientBase): Promise<void> {
  for (const view of context.target.saved.materializedViews ?? []) {
    await rebuildMaterializedView(context, client, view);
  }
}

/**
 * A materialized view cannot be re-pointed in place: build a new one from the
 * definition saved before the swap (which names the table by its name, so it
 * now reads the routing view, or the original again after a rollback) under a
 * temporary name, while the old one keeps serving, then swap the two in a
 * short transaction.
 */
export async function rebuildMaterializedView(
  context: TargetContext,
  client: pg.ClientBase,
  view: { schema: string; name: string; definition: string },
): Promise<void> {
  const { sql } = context;
  const old = qualified(view.schema, view.name);
  const { rows } = await client.query<{ indexes: string[] }>(
    `SELECT ARRAY(SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = $1::regclass) AS indexes`,
    [old],
  );
  const rebuilt = qualified(view.schema, derivedName(view.name, '_rebuild'));
  context.reporter.log('info', `rebuilding materialized view ${view.schema}.${view.name}`, context.label);
  await client.query(`DROP MATERIALIZED VIEW IF EXISTS ${rebuilt}`);
  await client.query(`CREATE MATERIALIZED VIEW ${rebuilt} AS ${view.definition}`);
  await client.query(`SELECT ${sql.install}.copy_grants($1::regclass, $2::regclass)`, [old, rebuilt]);
  await client.query(`SELECT ${sql.install}.copy_comments($1::regclass, $2::regclass)`, [old, rebuilt]);
  await inLockingTransaction(client, { ...context.options.lock, signal: context.options.signal }, async () => {
    await client.query(`DROP MATERIALIZED VIEW ${old}`);
    await client.query(`ALTER MATERIALIZED VIEW ${rebuilt} RENAME TO ${ident(view.name)}`);
    // Index names are free again once the old view is gone.
    for (const index of rows[0]!.indexes) await client.query(index);
  });
}
