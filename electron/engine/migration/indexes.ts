// Phase 4, indexes and foreign keys, built once the rows are in (building them
// first would make every copied row pay for index maintenance). Unique ones are
// widened with the partition columns, as the plan announced.
import type pg from 'pg';
import { ident } from '../../db/sql.js';
import { inspectTable, serverInfo } from '../catalog.js';
import { indexPlans } from '../index-ddl.js';
import { derivedName } from '../names.js';
import { throwIfCancelled, withWorkers, type TargetContext } from './context.js';

export async function buildIndexes(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const { target, reporter, sql } = context;
  const info = await inspectTable(control, { schema: target.schema, name: target.table });
  const plans = indexPlans(info, target.keyColumn, target.bucketColumn);
  const existing = await existingNames(control, target.schema, target.partitionedTable);

  // Each leaf's index is built by the workers, in parallel; the statement on
  // the partitioned table then finds them and attaches them (it builds only
  // the level-1 partitions' partitioned indexes, which hold no data).
  const pending = plans.filter((plan) => !existing.has(plan.newName));
  const { rows: leaves } = await control.query<{ leaf: string; name: string }>(
    `SELECT b.leaf_partition::text AS leaf, c.relname AS name FROM ${sql.install}.partition_bucket b
       JOIN pg_class c ON c.oid = b.leaf_partition WHERE b.config_id = $1`,
    [target.configId],
  );
  const work = pending.flatMap((plan) => {
    const suffix = plan.kind === 'primary' ? '_pkey' : `_${plans.indexOf(plan) + 1}_idx`;
    return leaves.map((leaf) => ({ plan, leaf: leaf.leaf, name: derivedName(leaf.name, suffix) }));
  });
  const total = work.length + pending.length;
  let done = 0;
  await withWorkers(context, work, async (client, item) => {
    if (!existing.has(item.name)) await client.query(item.plan.statement(item.leaf, item.name));
    done++;
    reporter.progress('indexes', done, total, 'indexes', { table: context.label });
  });
  for (const plan of pending) {
    throwIfCancelled(context);
    reporter.log(
      'info',
      `building ${plan.kind === 'plain' ? 'index' : plan.kind.replace('_', ' ')} ${plan.newName}`,
      context.label,
    );
    await control.query(plan.statement(sql.partitioned));
    done++;
    reporter.progress('indexes', done, total, 'indexes', { table: context.label, force: true });
  }

  const foreignKeys = info.constraints.filter((c) => c.type === 'f');
  if (foreignKeys.length === 0) return;
  const server = await serverInfo(control);
  for (const fk of foreignKeys) {
    throwIfCancelled(context);
    if (existing.has(`constraint:${fk.name}`)) continue;
    reporter.log('info', `adding foreign key ${fk.name}`, context.label);
    if (server.versionNum >= 180000) {
      // NOT VALID then VALIDATE: validation takes only SHARE UPDATE EXCLUSIVE
      // here and ROW SHARE on the referenced table, so its writers go on.
      await control.query(`ALTER TABLE ${sql.partitioned} ADD CONSTRAINT ${ident(fk.name)} ${fk.definition} NOT VALID`);
      await control.query(`ALTER TABLE ${sql.partitioned} VALIDATE CONSTRAINT ${ident(fk.name)}`);
    } else {
      // Before PostgreSQL 18 a partitioned table refuses NOT VALID foreign
      // keys: add and validate one per leaf (weak locks, in parallel), then on
      // the parent, which adopts the leaves' validated constraints.
      const { rows: leaves } = await control.query<{ leaf: string }>(
        `SELECT leaf_partition::text AS leaf FROM ${sql.install}.partition_bucket WHERE config_id = $1`,
        [target.configId],
      );
      await withWorkers(context, leaves, async (client, { leaf }) => {
        await client.query(`ALTER TABLE ${leaf} ADD CONSTRAINT ${ident(fk.name)} ${fk.definition} NOT VALID`);
        await client.query(`ALTER TABLE ${leaf} VALIDATE CONSTRAINT ${ident(fk.name)}`);
      });
      await control.query(`ALTER TABLE ${sql.partitioned} ADD CONSTRAINT ${ident(fk.name)} ${fk.definition}`);
    }
  }
}

async function existingNames(client: pg.ClientBase, schema: string, table: string): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('i', 'I')
     UNION ALL
     SELECT 'constraint:' || con.conname FROM pg_constraint con
      WHERE con.conrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)`,
    [schema, table],
  );
  return new Set(rows.map((r) => r.name));
}
