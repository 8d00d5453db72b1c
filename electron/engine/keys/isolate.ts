// partwise key isolate / share: a pooled key moved into a level-1 partition
// of its own, and back (sql/functions/18_key_isolate.sql says why the lock of
// the switch stays short).
//
// isolate: wait for the routed inserts under way (a ticket of a closed pool
// bucket may still be in flight until then), prove each closed pool bucket
// that holds no row of the key free of it (CHECK (key <> k), added then
// validated, one short transaction each), the switch in one transaction, then
// the constraints dropped. share: the switch only. Run again after an
// interruption, each continues from the key as it is: constraints made stay
// until the end, and the switch either committed or left nothing.
import type { KeyPlan, LockStep } from '../../../shared/keys.js';
import { ident, qualified } from '../../db/sql.js';
import { PartwiseError } from '../../db/errors.js';
import { countOf, formatBytes } from '../../../shared/text.js';
import type { Queryable } from '../catalog.js';
import { crashPoint } from '../migration/crash-points.js';
import { inLockingTransaction } from '../locks.js';
import type { ActionContext, ActionOutcome } from './actions.js';
import { waitForRoutedInserts } from './compact.js';
import type { KeyFacts } from './facts.js';

/** What isolate will read of the pool: its closed buckets, and the leaves the switch reads. */
export interface PoolFacts {
  /** Closed buckets: each is proved free of the key before the switch, unless it holds rows of it. */
  closed: number;
  /** Pool leaves the switch reads (and PostgreSQL scans): open buckets, and closed ones that hold rows of the key. */
  leavesRead: string[];
  bucketLimit: number;
}

export async function poolFacts(db: Queryable, installSchema: string, facts: KeyFacts): Promise<PoolFacts> {
  const q = ident(installSchema);
  const { rows } = await db.query<{ leaf: string; closed: boolean }>(
    `SELECT b.leaf_partition::text AS leaf, b.bucket_id < p.current_bucket_id AS closed
       FROM ${q}.pool_bucket b JOIN ${q}.key_pool p USING (config_id)
      WHERE b.config_id = $1 ORDER BY b.bucket_id`,
    [facts.config.configId],
  );
  return {
    closed: rows.filter((r) => r.closed).length,
    leavesRead: rows.filter((r) => !r.closed || facts.leaves.includes(r.leaf)).map((r) => r.leaf),
    bucketLimit: facts.bucketLimit ?? facts.config.bucketLimit,
  };
}

// The view alone (a change of owner to the one it has): LOCK TABLE on it would
// lock every partition too (see key_routing_locks in 18_key_isolate.sql).
const viewLock = (facts: KeyFacts, held: string): LockStep => ({
  relation: `${qualified(facts.config.schema, facts.config.table)} (the routing view)`,
  mode: 'ACCESS EXCLUSIVE',
  held: `${held}; waits for the routed inserts under way, and new inserts and reads through the view wait for it (the view alone is locked, not the tables it reads)`,
});

export function isolatePlan(facts: KeyFacts, pool: PoolFacts): Pick<KeyPlan, 'steps' | 'ddl' | 'locks' | 'notes'> {
  const { config, keyValue } = facts;
  const parent = qualified(config.schema, config.partitionedTable);
  const buckets = Math.max(1, Math.ceil(facts.rows / pool.bucketLimit));
  const levelOne = `${config.partitionedTable}'s new partition for ${config.keyColumn} = ${keyValue}`;
  return {
    steps: [
      `wait for the inserts under way through ${config.schema}.${config.table} to end`,
      ...(pool.closed > 0
        ? [
            `prove each of the ${countOf(pool.closed, 'closed pool bucket')} that holds no row of key ${keyValue} free of it (CHECK (${config.keyColumn} <> ${keyValue}), added NOT VALID then validated, one leaf at a time), so that the switch need not read them`,
          ]
        : []),
      `in one transaction: move the ${countOf(facts.rows, 'row')} of key ${keyValue} (${formatBytes(facts.bytes)}) out of ${countOf(pool.leavesRead.length, 'pool leaf', 'pool leaves')} into a partition of its own with ${countOf(buckets, 'bucket')} of at most ${pool.bucketLimit.toLocaleString('en-US')} rows; routing places its new rows there from the commit on`,
    ],
    ddl: [
      ...(pool.closed > 0
        ? [
            `ALTER TABLE <closed pool leaf> ADD CONSTRAINT partwise_not_key_... CHECK (${ident(config.keyColumn)} <> '${keyValue.replace(/'/g, "''")}') NOT VALID`,
            'ALTER TABLE <closed pool leaf> VALIDATE CONSTRAINT partwise_not_key_...',
          ]
        : []),
      `DELETE FROM ${parent} WHERE ${ident(config.keyColumn)} = '${keyValue.replace(/'/g, "''")}' AND <bucket of a pool leaf read> RETURNING * (held in a temporary table)`,
      `CREATE TABLE <new partition> (LIKE ${parent}) PARTITION BY LIST (${ident(config.bucketColumn)}); ALTER TABLE ${parent} ATTACH PARTITION <new partition> FOR VALUES IN ('${keyValue.replace(/'/g, "''")}')`,
      `CREATE TABLE <leaf> ...; ALTER TABLE <new partition> ATTACH PARTITION <leaf> FOR VALUES IN (<bucket>) (${countOf(buckets, 'leaf', 'leaves')})`,
      `INSERT INTO ${parent} SELECT ... (the rows held, each bucket filled to the limit)`,
      ...(pool.closed > 0
        ? ['ALTER TABLE <closed pool leaf> DROP CONSTRAINT partwise_not_key_... (after the switch)']
        : []),
    ],
    locks: [
      ...(pool.closed > 0
        ? [
            {
              relation: 'each closed pool leaf free of the key, in turn',
              mode: 'ACCESS EXCLUSIVE, then SHARE UPDATE EXCLUSIVE',
              held: 'ACCESS EXCLUSIVE for the ADD ... NOT VALID and, after the switch, the DROP (no scan, milliseconds; under a short lock_timeout, retried); SHARE UPDATE EXCLUSIVE while VALIDATE reads the leaf (reads and writes go on)',
            },
          ]
        : []),
      viewLock(facts, 'for the switch transaction'),
      {
        relation: parent,
        mode: 'SHARE UPDATE EXCLUSIVE',
        held: 'for the switch transaction (ATTACH PARTITION); reads and writes of keys with a partition go on',
      },
      {
        relation: 'the pool of small keys and each of its leaves',
        mode: 'ACCESS EXCLUSIVE',
        held: `for the switch transaction: reads and writes of every pooled key wait. It reads ${countOf(pool.leavesRead.length, 'pool leaf', 'pool leaves')} (${pool.leavesRead.join(', ') || 'none'}), each at most ${pool.bucketLimit.toLocaleString('en-US')} rows, and moves the key's rows; the other leaves' constraints prove they hold none, so PostgreSQL does not scan them`,
      },
    ],
    notes: [
      `${levelOne} is named as routing names a key's partition. Run again after an interruption, isolate continues: the constraints made stay until it ends (and are dropped then), and the switch either committed or changed nothing.`,
    ],
  };
}

export function sharePlan(facts: KeyFacts): Pick<KeyPlan, 'steps' | 'ddl' | 'locks' | 'notes'> {
  const { config, keyValue } = facts;
  const parent = qualified(config.schema, config.partitionedTable);
  const levelOne = facts.levelOne!;
  return {
    steps: [
      `in one transaction: move the ${countOf(facts.rows, 'row')} of key ${keyValue} (${formatBytes(facts.bytes)}) out of ${levelOne} into the pool of small keys (the pool's next tickets, so no pool leaf goes over the limit), then detach and drop ${levelOne} and its ${countOf(facts.leaves.length, 'leaf', 'leaves')}; routing pools the key's new rows from the commit on`,
    ],
    ddl: [
      `DELETE FROM ${parent} WHERE ${ident(config.keyColumn)} = '${keyValue.replace(/'/g, "''")}' RETURNING * (held in a temporary table)`,
      `ALTER TABLE ${parent} DETACH PARTITION ${levelOne}`,
      `DROP TABLE ${levelOne}`,
      `INSERT INTO ${parent} SELECT ... (the rows held, with pool buckets)`,
    ],
    locks: [
      viewLock(facts, 'for the switch transaction'),
      {
        relation: parent,
        mode: 'ACCESS EXCLUSIVE',
        held: "for the switch transaction: PostgreSQL allows only the plain DETACH beside a default partition, so reads and writes of the whole table wait while the key's rows move (meant for a small key)",
      },
      {
        relation: 'the pool of small keys (not its leaves)',
        mode: 'ACCESS EXCLUSIVE',
        held: 'for the switch transaction (the DETACH changes its partition constraint)',
      },
      { relation: `${levelOne} and its leaves`, mode: 'ACCESS EXCLUSIVE', held: 'until they are dropped' },
    ],
    notes: ['The switch is one transaction: interrupted, it changed nothing; run share again.'],
  };
}

/** Closed pool buckets, or those whose leaf carries the key's constraint (to drop). */
async function poolBuckets(ctx: ActionContext, withConstraint: boolean): Promise<number[]> {
  const q = ident(ctx.installSchema);
  const { rows } = withConstraint
    ? await ctx.client.query<{ bucket_id: number }>(
        `SELECT b.bucket_id FROM ${q}.pool_bucket b JOIN pg_constraint c ON c.conrelid = b.leaf_partition
          WHERE b.config_id = $1 AND c.conname = ${q}.pool_key_exclusion($2) ORDER BY 1`,
        [ctx.config.configId, ctx.keyValue],
      )
    : await ctx.client.query<{ bucket_id: number }>(
        `SELECT b.bucket_id FROM ${q}.pool_bucket b JOIN ${q}.key_pool p USING (config_id)
          WHERE b.config_id = $1 AND b.bucket_id < p.current_bucket_id ORDER BY 1`,
        [ctx.config.configId],
      );
  return rows.map((r) => r.bucket_id);
}

/** Runs one pool function per bucket, each in its own short locking transaction; returns how many did something. */
async function perBucket(ctx: ActionContext, buckets: number[], fn: string, step: string): Promise<number> {
  let done = 0;
  for (const [index, bucketId] of buckets.entries()) {
    if (ctx.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
    ctx.progress({ step: `${step} ${bucketId}`, done: index, total: buckets.length, unit: 'leaves' });
    const did = await inLockingTransaction(ctx.client, ctx.lock, async () => {
      const { rows } = await ctx.client.query<{ did: boolean }>(
        `SELECT ${ident(ctx.installSchema)}.${fn}($1, $2, $3) AS did`,
        [ctx.config.configId, bucketId, ctx.keyValue],
      );
      return rows[0]!.did;
    });
    if (did) done++;
  }
  return done;
}

/** The key's constraints on pool leaves, dropped once it left the pool (or left by an interrupted isolate). */
async function dropExclusions(ctx: ActionContext): Promise<void> {
  const buckets = await poolBuckets(ctx, true);
  if (buckets.length === 0) return;
  await ctx.step('dropping constraints', { constraintsToDrop: buckets.length });
  await perBucket(ctx, buckets, 'pool_bucket_drop_exclusion', 'dropping the constraint on pool bucket');
}

export async function isolateKey(ctx: ActionContext): Promise<ActionOutcome> {
  const q = ident(ctx.installSchema);
  const { configId } = ctx.config;
  if (!ctx.facts.inPool) {
    if (ctx.facts.tableHasPool) await dropExclusions(ctx);
    return { changed: false, state: ctx.facts.state, rows: ctx.facts.rows, bytes: ctx.facts.bytes };
  }
  await ctx.step('waiting');
  await waitForRoutedInserts(ctx);
  const closed = await poolBuckets(ctx, false);
  await ctx.step('proving buckets free of the key', { closedBuckets: closed.length });
  let proved = 0;
  for (const [index, bucketId] of closed.entries()) {
    if (ctx.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
    ctx.progress({
      step: `proving closed pool bucket ${bucketId} free of key ${ctx.keyValue}`,
      done: index,
      total: closed.length,
      unit: 'leaves',
    });
    const added = await inLockingTransaction(ctx.client, ctx.lock, async () => {
      const { rows } = await ctx.client.query<{ added: boolean }>(
        `SELECT ${q}.pool_bucket_exclude_key($1, $2, $3) AS added`,
        [configId, bucketId, ctx.keyValue],
      );
      return rows[0]!.added;
    });
    if (!added) continue;
    await crashPoint('key:isolate-after-check');
    await inLockingTransaction(ctx.client, ctx.lock, async () => {
      await ctx.client.query(`SELECT ${q}.pool_bucket_validate_exclusion($1, $2, $3)`, [
        configId,
        bucketId,
        ctx.keyValue,
      ]);
    });
    proved++;
  }
  await ctx.step('switching');
  ctx.progress({ step: `moving key ${ctx.keyValue} into a partition of its own` });
  const switched = await inLockingTransaction(ctx.client, ctx.lock, async () => {
    const { rows } = await ctx.client.query<{
      rows_moved: string;
      buckets: number;
      pool_leaves_read: number;
      level_one: string;
      held_ms: string;
    }>(
      `SELECT rows_moved, buckets, pool_leaves_read, level_one::text AS level_one, held_ms
         FROM ${q}.key_isolate_switch($1, $2)`,
      [configId, ctx.keyValue],
    );
    return rows[0]!;
  });
  await crashPoint('key:isolate-after-switch');
  await dropExclusions(ctx);
  // The new leaves have no statistics yet: the Explorer's estimates (and the
  // planner's) are read from them. SHARE UPDATE EXCLUSIVE on one leaf at a
  // time; reads and writes go on.
  if (switched.buckets > 0) {
    const { rows: leaves } = await ctx.client.query<{ leaf: string }>(
      `SELECT leaf_partition::text AS leaf FROM ${q}.partition_bucket WHERE config_id = $1 AND key_value = $2`,
      [configId, ctx.keyValue],
    );
    for (const { leaf } of leaves) await ctx.client.query(`ANALYZE ${leaf}`);
  }
  return {
    changed: switched.buckets > 0,
    state: 'active',
    rows: Number(switched.rows_moved),
    bytes: ctx.facts.bytes,
    detail: {
      levelOne: switched.level_one,
      buckets: switched.buckets,
      poolLeavesRead: switched.pool_leaves_read,
      bucketsProved: proved,
      lockHeldMs: Number(switched.held_ms),
    },
  };
}

export async function shareKey(ctx: ActionContext): Promise<ActionOutcome> {
  const q = ident(ctx.installSchema);
  if (ctx.facts.inPool) return { changed: false, state: ctx.facts.state, rows: ctx.facts.rows, bytes: ctx.facts.bytes };
  await ctx.step('switching');
  ctx.progress({ step: `moving key ${ctx.keyValue} into the pool of small keys` });
  const switched = await inLockingTransaction(ctx.client, ctx.lock, async () => {
    const { rows } = await ctx.client.query<{ rows_moved: string | null; leaves_dropped: number; held_ms: string }>(
      `SELECT rows_moved, leaves_dropped, held_ms FROM ${q}.key_share_switch($1, $2)`,
      [ctx.config.configId, ctx.keyValue],
    );
    return rows[0]!;
  });
  await crashPoint('key:share-after-switch');
  if (switched.rows_moved === null)
    return { changed: false, state: ctx.facts.state, rows: ctx.facts.rows, bytes: ctx.facts.bytes };
  return {
    changed: true,
    state: 'active',
    rows: Number(switched.rows_moved),
    bytes: ctx.facts.bytes,
    detail: { leavesDropped: switched.leaves_dropped, lockHeldMs: Number(switched.held_ms) },
  };
}
