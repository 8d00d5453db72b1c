// Phase 5, catch up: apply the changes the application made during the copy,
// in batches, until few enough remain to apply them during the swap itself.
import type pg from 'pg';
import { ident } from '../../db/sql.js';
import { throwIfCancelled, type TargetContext } from './context.js';

const BATCH = 5000;
const MAX_ROUNDS = 50;

export async function pendingChanges(
  client: pg.ClientBase | pg.Pool,
  context: TargetContext,
): Promise<{ latest: number }> {
  const { rows } = await client.query<{ latest: string }>(
    `SELECT coalesce(max(change_id), 0) AS latest FROM ${context.sql.install}.${ident(context.target.saved.changeLog!)}`,
  );
  return { latest: Number(rows[0]!.latest) };
}

/** Applies logged changes up to `upTo` in batches, each with its journal update, in the caller's transaction if any. */
export async function applyChanges(
  context: TargetContext,
  client: pg.ClientBase,
  upTo: number,
  ownTransactions: boolean,
): Promise<number> {
  const { target, journal, sql } = context;
  const replay = `${sql.install}.${ident(`${target.saved.changeLog!}_replay`)}`;
  let applied = 0;
  while (target.changesApplied < upTo) {
    throwIfCancelled(context);
    const to = Math.min(target.changesApplied + BATCH, upTo);
    if (ownTransactions) await client.query('BEGIN');
    try {
      const { rows } = await client.query<{ n: string }>(`SELECT ${replay}($1, $2) AS n`, [target.changesApplied, to]);
      applied += Number(rows[0]!.n);
      await journal.updateTarget(client, target.runId, target.targetNo, { changesApplied: to });
      if (ownTransactions) await client.query('COMMIT');
    } catch (error) {
      if (ownTransactions) await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    target.changesApplied = to;
    context.reporter.progress('catch_up', target.changesApplied, upTo, 'changes', { table: context.label });
  }
  return applied;
}

export async function catchUp(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { reporter, options } = context;
  let previousBacklog = Infinity;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const { latest } = await pendingChanges(client, context);
    const backlog = latest - context.target.changesApplied;
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
    const applied = await applyChanges(context, client, latest, true);
    reporter.log('debug', `round ${round}: applied ${applied} changed rows`, context.label);
  }
}
