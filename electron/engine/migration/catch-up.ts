// Phase 5, catch up: apply the changes the application made during the copy,
// in batches, until few enough remain to apply them during the swap itself.
// Applied log entries are consumed (deleted) in the same transaction that
// applies them, so an entry whose transaction committed late is still applied
// by a later batch (see create_replay in sql/functions/20_change_capture.sql).
import type pg from 'pg';
import { ident } from '../../db/sql.js';
import { throwIfCancelled, type TargetContext } from './context.js';
import { syncRegistries } from './unique-registry.js';

const BATCH = 5000;
const MAX_ROUNDS = 50;

export async function pendingChanges(client: pg.ClientBase | pg.Pool, context: TargetContext): Promise<number> {
  const { rows } = await client.query<{ pending: string }>(
    `SELECT count(*) AS pending FROM ${context.sql.install}.${ident(context.target.saved.changeLog!)}`,
  );
  return Number(rows[0]!.pending);
}

/**
 * Applies the log entries visible now, in batches: each batch in its own
 * transaction when ownTransactions, else in the caller's (the swap's, where no
 * writer can be in flight because the table is locked).
 */
export async function applyChanges(
  context: TargetContext,
  client: pg.ClientBase,
  ownTransactions: boolean,
): Promise<number> {
  const { target, journal, sql } = context;
  const replay = `${sql.install}.${ident(`${target.saved.changeLog!}_replay`)}`;
  const total = await pendingChanges(client, context);
  let applied = 0;
  for (;;) {
    throwIfCancelled(context);
    if (ownTransactions) await client.query('BEGIN');
    let entries: number;
    try {
      const { rows } = await client.query<{ n: string }>(`SELECT ${replay}(0, $1, true) AS n`, [BATCH]);
      entries = Number(rows[0]!.n);
      target.changesApplied += entries;
      await journal.updateTarget(client, target.runId, target.targetNo, { changesApplied: target.changesApplied });
      if (ownTransactions) await client.query('COMMIT');
    } catch (error) {
      if (ownTransactions) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    applied += entries;
    context.reporter.progress('catch_up', Math.min(applied, total), Math.max(total, applied), 'changes', {
      table: context.label,
    });
    if (entries < BATCH) return applied;
  }
}

export async function catchUp(context: TargetContext, client: pg.ClientBase): Promise<void> {
  await catchUpRows(context, client);
  // The unique registries follow a log of their own: applying it now leaves
  // the swap only what changes while it waits for its lock.
  await syncRegistries(context, client);
}

async function catchUpRows(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { reporter, options } = context;
  let previousBacklog = Infinity;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const backlog = await pendingChanges(client, context);
    if (backlog <= options.catchUpThreshold) return;
    if (round > 5 && backlog >= previousBacklog) {
      reporter.log(
        'warn',
        `the application writes as fast as changes are applied (${backlog} pending); swapping anyway, which applies the rest under the lock`,
        context.label,
      );
      return;
    }
    previousBacklog = backlog;
    const applied = await applyChanges(context, client, true);
    reporter.log('debug', `round ${round}: applied ${applied} logged changes`, context.label);
  }
}
