// Phase 4, indexes and foreign keys, built once the rows are in (building them
// first would make every copied row pay for index maintenance). Unique ones are
// widened with the partition columns, as the plan announced. The registries
// that keep chosen ones unique across the table are filled by the catch-up,
// beside its appliers (here only without a change log).
//
// A statement on the partitioned table would lock every partition and every
// index in one transaction, which a large tree cannot fit in the server's lock
// table. So the tree is indexed the way pg_dump restores one, a few relations
// per transaction: an index created ON ONLY the root (invalid while empty),
// each leaf's index (in parallel), then per level-1 partition an index ON ONLY
// it with its leaves' indexes attached, itself attached to the root's. The
// root's index becomes valid when the last one is attached.
import type pg from 'pg';
import { ident, qualified } from '../../db/sql.js';
import { inspectTable, leavesPerTransaction, lockBudget, serverInfo, type TableInfo } from '../catalog.js';
import { checkClause, checksAfterCopy, foreignKeyClause } from '../constraint-ddl.js';
import { indexPlans, type IndexPlan } from '../index-ddl.js';
import { derivedName } from '../names.js';
import { throwIfCancelled, withWorkers, type TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';
import { buildRegistries } from './unique-registry.js';

/**
 * Leaf indexes sent in one string: at most this many statements, over at most
 * this much heap (the leaves as the copy left them: a bucket's capacity says
 * nothing of the rows a key's last, or only, bucket holds).
 */
const STATEMENTS_PER_GROUP = 20;
const BYTES_PER_GROUP = 16 * 1024 * 1024;

interface Partition {
  /** As regclass prints it: quoted, qualified when not on the search path. */
  relation: string;
  name: string;
}

interface Leaf extends Partition {
  /** The leaf's heap, in bytes. */
  bytes: number;
}

interface LevelOne extends Partition {
  leaves: Leaf[];
}

interface Existing {
  /** Index names in the schema, valid or not, and `constraint:<name>` for the partitioned table's constraints. */
  names: Set<string>;
  /** The partitioned table's valid indexes: the finished ones. */
  valid: Set<string>;
  /** Indexes attached to an index of a partitioned table. */
  attached: Set<string>;
}

/**
 * Builds the indexes and foreign keys of the new table; returns how many leaf
 * and level-1 indexes it built, and the time each part took (leaves, level-1
 * partitions, the rest: foreign keys, checks, registries).
 */
export async function buildIndexes(
  context: TargetContext,
  control: pg.ClientBase,
): Promise<{ count: number } & Record<`${string}Ms`, number>> {
  const { target, reporter, sql } = context;
  const timings: Record<`${string}Ms`, number> = {};
  let mark = Date.now();
  const lap = (name: string): void => {
    timings[`${name}Ms`] = Date.now() - mark;
    mark = Date.now();
  };
  const info = await inspectTable(control, { schema: target.schema, name: target.table });
  const plans = indexPlans(info, target.keyColumn, target.bucketColumn);
  const existing = await existingNames(control, target.schema, target.partitionedTable);
  const pending = plans.filter((plan) => !existing.valid.has(plan.newName));
  const tree = pending.length > 0 ? await partitionTree(context, control) : [];
  const nameFor = (plan: IndexPlan, partition: string): string =>
    derivedName(partition, plan.kind === 'primary' ? '_pkey' : `_${plans.indexOf(plan) + 1}_idx`);
  const index = (name: string): string => qualified(target.schema, name);

  const leafWork = pending.flatMap((plan) =>
    tree.flatMap((one) => one.leaves.map((leaf) => ({ plan, leaf, name: nameFor(plan, leaf.name) }))),
  );
  const total = leafWork.length + tree.length;
  let done = 0;
  const step = (): void => reporter.progress('indexes', done, total, 'indexes', { table: context.label });
  reporter.progress('indexes', 0, total, 'indexes', { table: context.label, force: true });

  for (const plan of pending) {
    throwIfCancelled(context);
    reporter.log(
      'info',
      `building ${plan.kind === 'plain' ? 'index' : plan.kind.replace('_', ' ')} ${plan.newName}`,
      context.label,
    );
    if (!existing.names.has(plan.newName)) await control.query(plan.statement(`ONLY ${sql.partitioned}`));
  }
  lap('tree');

  // Small leaves in groups of statements sent as one string (round trips
  // and commits cost more than indexing a few thousand rows); a large leaf
  // on its own, so that the workers stay evenly busy.
  const leafGroups: { statements: string[]; bytes: number }[] = [];
  const groupBytes = Math.min(BYTES_PER_GROUP, context.throttle.largestUnitBytes());
  for (const item of leafWork.filter((w) => !existing.names.has(w.name))) {
    const last = leafGroups.at(-1);
    if (!last || last.bytes + item.leaf.bytes > groupBytes || last.statements.length >= STATEMENTS_PER_GROUP) {
      leafGroups.push({ statements: [], bytes: 0 });
    }
    leafGroups.at(-1)!.statements.push(item.plan.statement(item.leaf.relation, item.name).replace(/;$/, ''));
    leafGroups.at(-1)!.bytes += item.leaf.bytes;
  }
  done = leafWork.length - leafGroups.reduce((sum, g) => sum + g.statements.length, 0);
  await withWorkers(context, leafGroups, async (client, { statements, bytes }) => {
    // An index build reads its leaf and writes about as much WAL as the index's size.
    await context.throttle.admit(bytes);
    await inOneTransaction(client, statements);
    done += statements.length;
    step();
  });
  lap('leaves');
  // Here the root's indexes exist, invalid: a resume must finish them.
  await crashPoint('indexes:after-leaves');

  // Level-1 partitions in groups, each group in one transaction sent as one
  // string (thousands of tiny statements cost more in round trips and commits
  // than in work), and within the lock budget. A level-1 index is attached to
  // the root's only with all of its leaves' attached to it, in the same
  // transaction: after a crash, an existing level-1 index means that
  // partition is done.
  const server = await serverInfo(control);
  const budget = lockBudget(server, context.options.workers);
  // Attaching to the root's index locks it until commit, so each group does
  // that last: the workers wait on each other only for the group's tail.
  const groups: { statements: string[]; attachToRoot: string[]; partitions: number }[] = [];
  let group: (typeof groups)[number] | undefined;
  let locks = 0;
  const large: LevelOne[] = [];
  for (const one of tree) {
    const todo = pending.filter((plan) => !existing.names.has(nameFor(plan, one.name)));
    // By every pending index, not those left to do: a resume must find the same partitions large.
    if (1 + one.leaves.length > leavesPerTransaction(server, context.options.workers, pending.length)) {
      large.push(one);
      continue;
    }
    const needed = (1 + one.leaves.length) * (1 + todo.length);
    if (!group || locks + needed > budget) {
      group = { statements: [], attachToRoot: [], partitions: 0 };
      groups.push(group);
      locks = pending.length;
    }
    for (const plan of todo) {
      const name = nameFor(plan, one.name);
      group.statements.push(plan.statement(`ONLY ${one.relation}`, name).replace(/;$/, ''));
      for (const leaf of one.leaves) {
        group.statements.push(`ALTER INDEX ${index(name)} ATTACH PARTITION ${index(nameFor(plan, leaf.name))}`);
      }
      group.attachToRoot.push(`ALTER INDEX ${index(plan.newName)} ATTACH PARTITION ${index(name)}`);
    }
    group.partitions++;
    locks += needed;
  }
  await withWorkers(context, groups, async (client, { statements, attachToRoot, partitions }) => {
    // Attaching writes little: only the lag bound applies.
    await context.throttle.admit(0);
    if (statements.length > 0) await inOneTransaction(client, [...statements, ...attachToRoot]);
    done += partitions;
    step();
  });
  for (const one of large) {
    throwIfCancelled(context);
    await context.throttle.admit(0);
    await indexLargeLevelOne(context, control, one, pending, existing, nameFor);
    done++;
    step();
  }
  reporter.progress('indexes', total, total, 'indexes', { table: context.label, force: true });
  lap('levelOne');

  await addForeignKeys(context, control, info, existing);
  await addUnvalidatedChecks(context, control, info, existing);
  // Online, the catch-up builds the registries while its appliers apply the
  // log (catch-up.ts): a registry reads the original table, not this one.
  if (!target.saved.changeLog) await buildRegistries(context, control);
  lap('constraints');
  return { ...timings, count: total };
}

/**
 * A level-1 partition with more leaves than one transaction may lock with
 * their indexes: per index, the level-1 one ON ONLY it, then its leaves'
 * attached a range per transaction, then it attached to the root's. It turns
 * valid with its last leaf's (and the root's with its last level-1's,
 * whatever the order). Done when it is attached to the root's: a resume
 * attaches again what is not (attaching an attached index changes nothing).
 */
async function indexLargeLevelOne(
  context: TargetContext,
  control: pg.ClientBase,
  one: LevelOne,
  pending: IndexPlan[],
  existing: Existing,
  nameFor: (plan: IndexPlan, partition: string) => string,
): Promise<void> {
  const { target } = context;
  const index = (name: string): string => qualified(target.schema, name);
  // A leaf and its index per attachment, beside the level-1 partition and its index.
  const range = leavesPerTransaction(await serverInfo(control), context.options.workers, 1);
  for (const plan of pending) {
    const name = nameFor(plan, one.name);
    if (existing.attached.has(name)) continue;
    if (!existing.names.has(name))
      await inOneTransaction(control, [plan.statement(`ONLY ${one.relation}`, name).replace(/;$/, '')]);
    for (let first = 0; first < one.leaves.length; first += range) {
      throwIfCancelled(context);
      await inOneTransaction(
        control,
        one.leaves
          .slice(first, first + range)
          .map((leaf) => `ALTER INDEX ${index(name)} ATTACH PARTITION ${index(nameFor(plan, leaf.name))}`),
      );
    }
    await inOneTransaction(control, [`ALTER INDEX ${index(plan.newName)} ATTACH PARTITION ${index(name)}`]);
  }
}

/**
 * Runs statements as one transaction in one round trip. A crash loses
 * nothing that the resume would not redo, so the commit need not wait for
 * the disk.
 */
async function inOneTransaction(client: pg.ClientBase, statements: string[]): Promise<void> {
  try {
    await client.query(['BEGIN', 'SET LOCAL synchronous_commit = off', ...statements, 'COMMIT', ''].join(';\n'));
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * The tree as the metadata lists it: every level-1 partition with its leaves.
 * (pg_relation_size releases each leaf's lock at once: the lock table does not fill.)
 * Two scans of the metadata, each name looked up by pg_class's oid index, and
 * the leaves grouped here: no join for the planner to get wrong. Right after
 * a run fills the metadata, the statistics can still describe it as nearly
 * empty (or as another table's), and the join planned from them took 36 to
 * 46 s for the second 2,000-key table of a database (0.3 s planned right).
 */
async function partitionTree(context: TargetContext, client: pg.ClientBase): Promise<LevelOne[]> {
  const { install } = context.sql;
  // The pool of small keys (shared placement) is one more level-1 partition,
  // its buckets its leaves: listed under a key value no key has (NULL).
  const { rows: levelOnes } = await client.query<{ key_value: string | null; relation: string; name: string }>(
    `SELECT t.key_value, t.level_one_partition::text AS relation,
            (SELECT c.relname FROM pg_class c WHERE c.oid = t.level_one_partition) AS name
       FROM ${install}.partition_tracker t WHERE t.config_id = $1 AND NOT t.in_pool
     UNION ALL
     SELECT NULL, p.pool_partition::text, (SELECT c.relname FROM pg_class c WHERE c.oid = p.pool_partition)
       FROM ${install}.key_pool p WHERE p.config_id = $1`,
    [context.target.configId],
  );
  const { rows: leaves } = await client.query<{
    key_value: string | null;
    relation: string;
    name: string;
    bytes: string;
  }>(
    `SELECT b.key_value, b.leaf_partition::text AS relation,
            (SELECT c.relname FROM pg_class c WHERE c.oid = b.leaf_partition) AS name,
            pg_relation_size(b.leaf_partition) AS bytes
       FROM ${install}.partition_bucket b WHERE b.config_id = $1
     UNION ALL
     SELECT NULL, b.leaf_partition::text, (SELECT c.relname FROM pg_class c WHERE c.oid = b.leaf_partition),
            pg_relation_size(b.leaf_partition)
       FROM ${install}.pool_bucket b WHERE b.config_id = $1`,
    [context.target.configId],
  );
  const leavesOf = new Map<string | null, Leaf[]>();
  for (const { key_value, relation, name, bytes } of leaves) {
    const its = leavesOf.get(key_value) ?? [];
    its.push({ relation, name, bytes: Number(bytes) });
    leavesOf.set(key_value, its);
  }
  return levelOnes.flatMap(({ key_value, relation, name }) => {
    const its = leavesOf.get(key_value);
    return its ? [{ relation, name, leaves: its }] : [];
  });
}

async function addForeignKeys(
  context: TargetContext,
  control: pg.ClientBase,
  info: TableInfo,
  existing: Existing,
): Promise<void> {
  const { target, reporter, sql } = context;
  const foreignKeys = info.constraints.filter((c) => c.type === 'f');
  if (foreignKeys.length === 0) return;
  const server = await serverInfo(control);
  for (const fk of foreignKeys) {
    throwIfCancelled(context);
    if (existing.names.has(`constraint:${fk.name}`)) continue;
    reporter.log('info', `adding foreign key ${fk.name}`, context.label);
    const clause = foreignKeyClause(fk);
    if (!fk.enforced) {
      // PostgreSQL 18's NOT ENFORCED: nothing to check, now or later.
      await control.query(`ALTER TABLE ${sql.partitioned} ADD CONSTRAINT ${ident(fk.name)} ${clause}`);
    } else if (server.versionNum >= 180000) {
      // NOT VALID then VALIDATE: validation takes only SHARE UPDATE EXCLUSIVE
      // here and ROW SHARE on the referenced table, so its writers go on. One
      // the original never validated stays NOT VALID.
      await control.query(`ALTER TABLE ${sql.partitioned} ADD CONSTRAINT ${ident(fk.name)} ${clause} NOT VALID`);
      if (fk.validated) await control.query(`ALTER TABLE ${sql.partitioned} VALIDATE CONSTRAINT ${ident(fk.name)}`);
    } else {
      // Before PostgreSQL 18 a partitioned table refuses NOT VALID foreign
      // keys (the plan refuses tables with one): add and validate one per
      // leaf (weak locks, in parallel), then on the parent, which adopts the
      // leaves' validated constraints.
      const { rows: leaves } = await control.query<{ leaf: string }>(
        `SELECT leaf_partition::text AS leaf FROM ${sql.install}.partition_bucket WHERE config_id = $1
         UNION ALL SELECT leaf_partition::text FROM ${sql.install}.pool_bucket WHERE config_id = $1`,
        [target.configId],
      );
      await withWorkers(context, leaves, async (client, { leaf }) => {
        await client.query(`ALTER TABLE ${leaf} ADD CONSTRAINT ${ident(fk.name)} ${clause} NOT VALID`);
        await client.query(`ALTER TABLE ${leaf} VALIDATE CONSTRAINT ${ident(fk.name)}`);
      });
      await control.query(`ALTER TABLE ${sql.partitioned} ADD CONSTRAINT ${ident(fk.name)} ${clause}`);
    }
    await copyConstraintComment(context, control, fk.name);
  }
}

/**
 * CHECK constraints the original holds NOT VALID: its rows may break them, so
 * they are added once the rows are in, NOT VALID again.
 */
async function addUnvalidatedChecks(
  context: TargetContext,
  control: pg.ClientBase,
  info: TableInfo,
  existing: Existing,
): Promise<void> {
  for (const check of checksAfterCopy(info.constraints)) {
    if (existing.names.has(`constraint:${check.name}`)) continue;
    await control.query(
      `ALTER TABLE ${context.sql.partitioned} ADD CONSTRAINT ${ident(check.name)} ${checkClause(check)} NOT VALID`,
    );
    await copyConstraintComment(context, control, check.name);
  }
}

async function copyConstraintComment(context: TargetContext, control: pg.ClientBase, name: string): Promise<void> {
  const { sql } = context;
  await control.query(`SELECT ${sql.install}.copy_object_comment('constraint', $1::regclass, $2, $3::regclass, $2)`, [
    sql.source,
    name,
    sql.partitioned,
  ]);
}

async function existingNames(client: pg.ClientBase, schema: string, table: string): Promise<Existing> {
  const { rows } = await client.query<{ name: string; valid: boolean; attached: boolean }>(
    `SELECT c.relname AS name, coalesce(i.indisvalid AND i.indrelid = t.oid, false) AS valid, c.relispartition AS attached
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_index i ON i.indexrelid = c.oid
       LEFT JOIN (SELECT c2.oid FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
                   WHERE n2.nspname = $1 AND c2.relname = $2) t ON true
      WHERE n.nspname = $1
     UNION ALL
     SELECT 'constraint:' || con.conname, false, false FROM pg_constraint con
      WHERE con.conrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2)`,
    [schema, table],
  );
  return {
    names: new Set(rows.map((r) => r.name)),
    valid: new Set(rows.filter((r) => r.valid).map((r) => r.name)),
    attached: new Set(rows.filter((r) => r.attached).map((r) => r.name)),
  };
}
