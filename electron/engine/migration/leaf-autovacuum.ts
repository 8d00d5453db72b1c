// Autovacuum given back, right after the swap, to the leaves the migration
// provisioned and filled with it held off (sql/functions/14_leaf_autovacuum.sql
// says why it was held off), each leaf analyzed first: autovacuum did not
// analyze it meanwhile, and the run should end with planner statistics for
// the table the application now uses, as pg_repack's does. A group of leaves
// at a time, within the run's lock budget: each leaf's ANALYZE in a short
// transaction of its own on the run's workers (through analyze_leaf: one
// pg_stat_statements entry for them all), then the group given its setting
// back in one. One ANALYZE of the whole group in one transaction held its
// snapshot for the 51 s that 200 leaves of 10M rows took in the load bench.
import type pg from 'pg';
import { leavesPerTransaction, serverInfo } from '../catalog.js';
import { countOf } from '../../../shared/text.js';
import { throwIfCancelled, withWorkers, type TargetContext } from './context.js';

/** Analyzes every leaf that still holds autovacuum off, then gives it back; returns how many leaves that was. */
export async function restoreLeafAutovacuum(context: TargetContext, client: pg.ClientBase): Promise<number> {
  const { sql, target, reporter } = context;
  // Giving it back locks a leaf and its TOAST table.
  const budget = leavesPerTransaction(await serverInfo(client), context.options.workers, 1);
  const { rows } = await client.query<{ leaf: string }>(
    `SELECT leaf::text AS leaf FROM ${sql.install}.leaves_holding_autovacuum_off($1) leaf`,
    [target.configId],
  );
  const leaves = rows.map((r) => r.leaf);
  if (leaves.length === 0) return 0;
  reporter.log(
    'info',
    `analyzing the ${countOf(leaves.length, 'new leaf', 'new leaves')}, filled with autovacuum held off, and giving it back`,
    context.label,
  );
  reporter.progress('verify', 0, leaves.length, 'partitions', { table: context.label, force: true });
  const started = Date.now();
  let analyzed = 0;
  for (let first = 0; first < leaves.length; first += budget) {
    throwIfCancelled(context);
    const group = leaves.slice(first, first + budget);
    await withWorkers(context, group, async (worker, leaf) => {
      await worker.query(`SELECT ${sql.install}.analyze_leaf($1::regclass)`, [leaf]);
      reporter.progress('verify', ++analyzed, leaves.length, 'partitions', { table: context.label });
    });
    await client.query(`SELECT ${sql.install}.restore_leaf_autovacuum($1, $2::regclass[])`, [target.configId, group]);
  }
  reporter.log(
    'info',
    `the ${countOf(leaves.length, 'new leaf', 'new leaves')}, filled with autovacuum held off, analyzed and given it back in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    context.label,
  );
  return leaves.length;
}
