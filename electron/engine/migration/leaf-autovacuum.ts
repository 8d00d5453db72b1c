// Autovacuum given back, right after the swap, to the leaves the migration
// provisioned and filled with it held off (sql/functions/14_leaf_autovacuum.sql
// says why it was held off): a group of leaves per transaction, within the
// run's lock budget, so that no transaction locks a whole tree of thousands.
import type pg from 'pg';
import { leavesPerTransaction, serverInfo } from '../catalog.js';
import { countOf } from '../../../shared/text.js';
import { throwIfCancelled, type TargetContext } from './context.js';

/** Gives autovacuum back to every leaf that still holds it off; returns how many leaves that was. */
export async function restoreLeafAutovacuum(context: TargetContext, client: pg.ClientBase): Promise<number> {
  const { sql, target, reporter } = context;
  // Each leaf changed locks itself and its TOAST table.
  const budget = leavesPerTransaction(await serverInfo(client), context.options.workers, 1);
  const started = Date.now();
  let restored = 0;
  for (;;) {
    throwIfCancelled(context);
    const { rows } = await client.query<{ changed: number }>(
      `SELECT ${sql.install}.restore_leaf_autovacuum($1, $2) AS changed`,
      [target.configId, budget],
    );
    if (rows[0]!.changed === 0) break;
    restored += rows[0]!.changed;
  }
  if (restored > 0) {
    reporter.log(
      'info',
      `autovacuum, held off the new leaves while they were filled, given back to ${countOf(restored, 'leaf', 'leaves')} in ${((Date.now() - started) / 1000).toFixed(1)} s`,
      context.label,
    );
  }
  return restored;
}
