// Phase 7, verify: the new table must hold exactly the original's rows, every
// row and every value: per key, row counts and an order-independent checksum
// (sum of a 64-bit hash of each row). Rows the application changed after the
// swap (listed in the post-swap change log) are left out on both sides: they
// legitimately differ. Also checked: every leaf within its bucket's capacity,
// the tracker covering every key's rows, every index of the new table valid,
// and a query on one key touching only that key's partitions.
//
// No transaction outlives its share of the work (no snapshot is held for the
// whole verification, which would keep vacuum from cleaning up anywhere in the
// database): after the swap the original (the backup) is written by no one,
// so it is read in block ranges, each in a short statement of its own, all
// rows counted. The new table is read in batches of keys, each in a short
// REPEATABLE READ transaction that also reads, in the same snapshot, the
// original's rows the change log lists by then (found through its row
// identity's index): those are taken off the original's totals, so that both
// sides leave out the same rows however the log grows in between.
//
// The new side is read a few keys at a time so that thousands of partitions
// never fill the lock table. Both sides group rows by the key's own value and
// turn only the groups into canonical text: the key types accepted are those
// whose equal values have one canonical text, so the groups are the same, and
// the text of every row is not made.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { inspectTable, leavesPerTransaction, serverInfo } from '../catalog.js';
import { keyTextOf } from '../key-types.js';
import { ticketsOf } from '../tickets.js';
import { beginInSnapshot, withWorkers, type TargetContext } from './context.js';
import { MAX_TUPLES_PER_PAGE } from './copy.js';

const KEYS_PER_QUERY = 50;
/** Blocks of the original read per statement: 64 MB of 8 kB blocks, a few seconds at most. */
const BACKUP_RANGE_BLOCKS = 8192;

export interface VerifyReport {
  keys: number;
  rows: number;
  excludedChangedRows: number;
  problems: string[];
}

interface KeySide {
  rows: number;
  checksum: string;
}

export async function verify(context: TargetContext, control: pg.ClientBase): Promise<VerifyReport> {
  const { target, sql, reporter } = context;
  const info = await inspectTable(control, { schema: target.schema, name: target.backupTable });
  const columns = info.columns.map((c) => `t.${ident(c.name)}`).join(', ');
  const hash = await rowHash(control, columns, sql.backup);
  const key = ident(target.keyColumn);
  const type = keyType(info, target.keyColumn);
  // Both sides group by the key's canonical text, as the tracker knows keys.
  const keyText = await keyTextOf(control, sql.backup, target.keyColumn);
  const identity = target.saved.identity ?? [];
  const log = target.saved.afterLog ? `${sql.install}.${ident(target.saved.afterLog)}` : null;
  const changed = log
    ? `EXISTS (SELECT 1 FROM ${log} l WHERE ${identity.map((c) => `l.${ident(c)} = t.${ident(c)}`).join(' AND ')})`
    : 'false';
  const problems: string[] = [];

  // Buckets and tickets are read with each batch of keys, in its snapshot:
  // routing goes on opening buckets after the swap, and a bucket read
  // earlier would miss the leaf its rows are in by then. Read here, the
  // buckets only size the batches and split the keys too large for one.
  const { rows: trackerKeys } = await control.query<{
    key_value: string;
    in_pool: boolean;
    buckets: number[] | null;
  }>(
    `SELECT t.key_value, t.in_pool,
            (SELECT array_agg(b.bucket_id ORDER BY b.bucket_id) FROM ${sql.install}.partition_bucket b
              WHERE b.config_id = t.config_id AND b.key_value = t.key_value) AS buckets
       FROM ${sql.install}.partition_tracker t WHERE t.config_id = $1`,
    [target.configId],
  );
  const newKeys = trackerKeys.map((k) => k.key_value);
  // The pool of small keys (shared placement) is read as one key whose
  // buckets hold many keys' rows: a range of its buckets per transaction, all
  // in one snapshot, grouped by key.
  const pooledKeys = new Set(trackerKeys.filter((k) => k.in_pool).map((k) => k.key_value));
  const { rows: poolRows } = await control.query<{ relation: string; buckets: number[] }>(
    `SELECT p.pool_partition::text AS relation,
            ARRAY(SELECT b.bucket_id FROM ${sql.install}.pool_bucket b WHERE b.config_id = p.config_id
                   ORDER BY b.bucket_id) AS buckets
       FROM ${sql.install}.key_pool p WHERE p.config_id = $1`,
    [target.configId],
  );
  const pool = poolRows[0] ?? null;
  let poolStored = 0;
  let poolTickets = 0;
  const bucketsOf = new Map(trackerKeys.map((k) => [k.key_value, k.buckets ?? [0]]));
  const assigned = new Map<string, number>();
  // Keys in batches of at most KEYS_PER_QUERY whose leaves (each with its
  // indexes) fit a transaction's share of the lock table; a key with more
  // leaves than that is read a range of its buckets per transaction.
  const { rows: indexRows } = await control.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_index WHERE indrelid = $1::regclass`,
    [sql.partitioned],
  );
  const leavesPer = leavesPerTransaction(await serverInfo(control), context.options.workers, indexRows[0]!.n);
  const batches: string[][] = [];
  const largeKeys: string[] = [];
  let leavesInBatch = 0;
  for (const keyValue of newKeys) {
    if (pooledKeys.has(keyValue)) continue;
    const leaves = bucketsOf.get(keyValue)?.length ?? 1;
    if (leaves > leavesPer) {
      largeKeys.push(keyValue);
      continue;
    }
    const last = batches.at(-1);
    if (!last || last.length >= KEYS_PER_QUERY || leavesInBatch + leaves > leavesPer) {
      batches.push([keyValue]);
      leavesInBatch = leaves;
    } else {
      last.push(keyValue);
      leavesInBatch += leaves;
    }
  }
  const ranges = await blockRanges(control, sql.backup);

  /** Every row of the original, per key. */
  const backup = new Map<string, KeySide>();
  /** The original's rows that the change log listed when each key's batch of the new side was read. */
  const backupChanged = new Map<string, KeySide>();
  const fresh = new Map<string, KeySide>();
  const stored = new Map<string, number>();
  let excluded = 0;
  let checked = 0;
  reporter.phase(
    'verify',
    `verifying ${newKeys.length.toLocaleString('en-US')} keys of ${context.label}`,
    context.label,
  );
  reporter.progress('verify', 0, newKeys.length, 'keys', { table: context.label, force: true });

  const readBackupRange = async (client: pg.ClientBase, range: BlockRange): Promise<void> => {
    const { rows } = await client.query<{ key_value: string; rows: string; checksum: string | null }>(
      `SELECT ${keyText('g.k')} AS key_value, sum(g.n) AS rows, sum(g.h)::text AS checksum
         FROM (SELECT t.${key} AS k, count(*) AS n, coalesce(sum(${hash}), 0) AS h
                 FROM ${sql.backup} t WHERE ${range.condition} GROUP BY 1) g
        GROUP BY 1`,
      range.params,
    );
    for (const row of rows) add(backup, row.key_value, row.rows, row.checksum ?? '0');
  };

  /** The original's rows of these keys that the change log lists, in the caller's snapshot. */
  const readLoggedOriginal = async (client: pg.ClientBase, batch: string[]): Promise<void> => {
    if (!log) return;
    // In the same snapshot: the original's rows the log lists, looked up one
    // logged identity at a time (LATERAL: through the identity's index,
    // never a scan of the original).
    const { rows: logged } = await client.query<{ key_value: string; rows: string; checksum: string | null }>(
      `SELECT ${keyText('g.k')} AS key_value, sum(g.n) AS rows, sum(g.h)::text AS checksum
         FROM (SELECT r.k, count(*) AS n, coalesce(sum(r.h), 0) AS h
                 FROM (SELECT DISTINCT ${identity.map((c) => ident(c)).join(', ')} FROM ${log}) l
                 CROSS JOIN LATERAL (SELECT t.${key} AS k, ${hash} AS h FROM ${sql.backup} t
                                      WHERE ${identity.map((c) => `t.${ident(c)} = l.${ident(c)}`).join(' AND ')}) r
                WHERE r.k = ANY ($1::text[]::${type}[])
                GROUP BY 1) g
        GROUP BY 1`,
      [batch],
    );
    for (const row of logged) add(backupChanged, row.key_value, row.rows, row.checksum ?? '0');
  };

  /**
   * A batch of keys in a transaction of its own, with the original's rows
   * that the change log lists in the same snapshot; or, given `range`, those
   * buckets of one key in the snapshot `range.snapshot`, where the caller
   * reads the original's logged rows (readLargeKey).
   */
  const readKeys = async (
    client: pg.ClientBase,
    batch: string[],
    range?: BucketRange,
    inPool = false,
  ): Promise<void> => {
    if (range) await beginInSnapshot(client, range.snapshot, true);
    else await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const { rows } = await client.query<{
        key_value: string;
        leaf: string;
        all_rows: string;
        rows: string;
        checksum: string;
      }>(
        `SELECT ${keyText('g.k')} AS key_value, g.leaf::regclass::text AS leaf, sum(g.all_rows) AS all_rows,
                sum(g.rows) AS rows, sum(g.h)::text AS checksum
           FROM (SELECT x.k, x.leaf, count(*) AS all_rows, count(*) FILTER (WHERE NOT x.changed) AS rows,
                        coalesce(sum(x.h) FILTER (WHERE NOT x.changed), 0) AS h
                   FROM (SELECT t.${key} AS k, t.tableoid AS leaf, ${hash} AS h, ${changed} AS changed
                           FROM ${inPool ? `${pool!.relation} t WHERE true` : `${sql.partitioned} t WHERE t.${key} = ANY ($1::text[]::${type}[])`}${range ? bucketCondition(range, inPool ? 1 : 2) : ''}) x
                  GROUP BY 1, 2) g
          GROUP BY 1, 2`,
        [...(inPool ? [] : [batch]), ...(range ? bucketParams(range) : [])],
      );
      if (log && !range) {
        await readLoggedOriginal(client, batch);
      }
      const { rows: buckets } = await client.query<{ leaf: string; capacity: string }>(
        inPool
          ? `SELECT leaf_partition::text AS leaf, capacity FROM ${sql.install}.pool_bucket WHERE config_id = $1`
          : `SELECT leaf_partition::text AS leaf, capacity FROM ${sql.install}.partition_bucket
              WHERE config_id = $1 AND key_value = ANY ($2::text[])`,
        inPool ? [target.configId] : [target.configId, batch],
      );
      const capacityOf = new Map(buckets.map((b) => [b.leaf, Number(b.capacity)]));
      // After the rows: the sequences count at least the rows this snapshot shows.
      if (inPool) {
        const { rows: counter } = await client.query<{ live: string }>(
          `SELECT greatest(rows_assigned, coalesce(pg_sequence_last_value(ticket_sequence), 0)) AS live
             FROM ${sql.install}.key_pool WHERE config_id = $1`,
          [target.configId],
        );
        poolTickets = Math.max(poolTickets, Number(counter[0]?.live ?? 0));
      } else {
        const tickets = await ticketsOf(client, context.options.installSchema, target.configId!, batch);
        for (const [keyValue, n] of tickets) assigned.set(keyValue, n);
      }
      await client.query('COMMIT');
      for (const row of rows) {
        add(fresh, row.key_value, row.rows, row.checksum);
        if (inPool) poolStored += Number(row.all_rows);
        else stored.set(row.key_value, (stored.get(row.key_value) ?? 0) + Number(row.all_rows));
        excluded += Number(row.all_rows) - Number(row.rows);
        const capacity = capacityOf.get(row.leaf);
        if (capacity === undefined)
          problems.push(`${row.all_rows} rows of key ${row.key_value} are in ${row.leaf}, which no bucket names`);
        else if (Number(row.all_rows) > capacity) {
          problems.push(`leaf ${row.leaf} holds ${row.all_rows} rows, more than its capacity of ${capacity}`);
        }
      }
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    if (range) return;
    checked += batch.length;
    reporter.progress('verify', checked, newKeys.length, 'keys', { table: context.label, currentKey: batch[0] });
  };

  /**
   * A key with more leaves than a transaction may lock: a range of its
   * buckets per transaction, on the workers, all in one snapshot that this
   * connection exports and holds (with the original's logged rows of that
   * key read in it), so that the key is compared as one transaction would.
   * Held for that key's reads only.
   */
  const readLargeKey = async (keyValue: string): Promise<void> => {
    const ids = bucketsOf.get(keyValue) ?? [0];
    const bounds: number[] = [];
    for (let i = leavesPer; i < ids.length; i += leavesPer) bounds.push(ids[i]!);
    await control.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const snapshot = (await control.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
      await readLoggedOriginal(control, [keyValue]);
      // Open at both ends: buckets routing adds meanwhile are read too.
      const ranges: BucketRange[] = [undefined, ...bounds].map((from, i) => ({
        snapshot,
        from: from ?? null,
        to: bounds[i] ?? null,
      }));
      await withWorkers(context, ranges, (client, range) => readKeys(client, [keyValue], range));
      await control.query('COMMIT');
    } catch (error) {
      await control.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    checked++;
    reporter.progress('verify', checked, newKeys.length, 'keys', { table: context.label, currentKey: keyValue });
  };

  const bucketCondition = (range: BucketRange, first: number): string =>
    [
      ...(range.from === null ? [] : [` AND t.${ident(target.bucketColumn)} >= $${first}`]),
      ...(range.to === null
        ? []
        : [` AND t.${ident(target.bucketColumn)} < $${range.from === null ? first : first + 1}`]),
    ].join('');

  /**
   * The pool as readLargeKey reads a key: ranges of its buckets on the
   * workers in one snapshot that this connection exports and holds, with the
   * original's logged rows of the pooled keys read in it.
   */
  const readPool = async (): Promise<void> => {
    const ids = pool!.buckets.length > 0 ? pool!.buckets : [0];
    const bounds: number[] = [];
    for (let i = leavesPer; i < ids.length; i += leavesPer) bounds.push(ids[i]!);
    await control.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const snapshot = (await control.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
      await readLoggedOriginal(control, [...pooledKeys]);
      const ranges: BucketRange[] = [undefined, ...bounds].map((from, i) => ({
        snapshot,
        from: from ?? null,
        to: bounds[i] ?? null,
      }));
      await withWorkers(context, ranges, (client, range) => readKeys(client, [], range, true));
      await control.query('COMMIT');
    } catch (error) {
      await control.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    checked += pooledKeys.size;
    reporter.progress('verify', checked, newKeys.length, 'keys', { table: context.label });
  };

  const items: ({ range: BlockRange } | { batch: string[] })[] = [
    ...ranges.map((range) => ({ range })),
    ...batches.map((batch) => ({ batch })),
  ];
  await withWorkers(context, items, (client, item) =>
    'range' in item ? readBackupRange(client, item.range) : readKeys(client, item.batch),
  );
  for (const keyValue of largeKeys) await readLargeKey(keyValue);
  if (pool) await readPool();
  if (poolTickets < poolStored) {
    problems.push(`the pool's counter has handed out ${poolTickets} tickets but it stores ${poolStored} rows`);
  }

  const keys = [...new Set([...newKeys, ...backup.keys()])];
  for (const keyValue of keys) {
    const all = backup.get(keyValue) ?? { rows: 0, checksum: '0' };
    const left = backupChanged.get(keyValue) ?? { rows: 0, checksum: '0' };
    const before = { rows: all.rows - left.rows, checksum: (BigInt(all.checksum) - BigInt(left.checksum)).toString() };
    const after = fresh.get(keyValue) ?? { rows: 0, checksum: '0' };
    if (before.rows !== after.rows) {
      problems.push(`key ${keyValue}: ${before.rows} rows in the original, ${after.rows} in the new table`);
    } else if (before.checksum !== after.checksum) {
      problems.push(`key ${keyValue}: same row count (${before.rows}) but different contents`);
    }
    const tickets = assigned.get(keyValue);
    if (pooledKeys.has(keyValue)) continue; // the pool's tickets are checked as one, above
    if ((stored.get(keyValue) ?? 0) > 0 && (tickets === undefined || tickets < (stored.get(keyValue) ?? 0))) {
      problems.push(`key ${keyValue}: the tracker counts ${tickets ?? 0} rows but ${stored.get(keyValue)} are stored`);
    }
  }
  // Planning a query on one key locks all of that key's leaves: the largest
  // key that fits a transaction's share, else the first bucket of a larger one.
  const large = new Set(largeKeys);
  const bySize = [...backup.entries()].sort((a, b) => b[1].rows - a[1].rows).map(([k]) => k);
  const sample = bySize.find((k) => !large.has(k)) ?? bySize[0];
  if (sample !== undefined) {
    const pruned = await checkPruning(
      context,
      control,
      sample,
      type,
      large.has(sample) ? bucketsOf.get(sample)![0]! : null,
    );
    if (pruned) problems.push(pruned);
  }
  // Built bottom-up, an index of the partitioned table is valid only once
  // every partition's is attached to it.
  const { rows: invalid } = await control.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
      WHERE i.indrelid = $1::regclass AND NOT i.indisvalid`,
    [sql.partitioned],
  );
  for (const { name } of invalid) problems.push(`index ${name} is not valid: some partition's index is missing`);
  const rowsTotal = [...backup.values()].reduce((sum, side) => sum + side.rows, 0);
  const report = { keys: keys.length, rows: rowsTotal, excludedChangedRows: excluded, problems };
  if (problems.length > 0) {
    throw new PartwiseError(
      'verification_failed',
      `Verification of ${context.label} failed: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`,
    );
  }
  reporter.log(
    'info',
    `verified ${rowsTotal.toLocaleString('en-US')} rows in ${keys.length.toLocaleString('en-US')} keys (${excluded} rows changed since the swap left out)`,
    context.label,
  );
  return report;
}

function add(sides: Map<string, KeySide>, keyValue: string, rows: string, checksum: string): void {
  const side = sides.get(keyValue) ?? { rows: 0, checksum: '0' };
  side.rows += Number(rows);
  side.checksum = (BigInt(side.checksum) + BigInt(checksum)).toString();
  sides.set(keyValue, side);
}

/** Buckets of one key from `from` (inclusive) to `to` (exclusive), either open, read in an exported snapshot. */
interface BucketRange {
  snapshot: string;
  from: number | null;
  to: number | null;
}

function bucketParams(range: BucketRange): number[] {
  return [range.from, range.to].filter((b) => b !== null);
}

interface BlockRange {
  condition: string;
  params: string[];
}

/**
 * The original's blocks in ranges of BACKUP_RANGE_BLOCKS, read by a TID range
 * scan (PostgreSQL 14 and later) or, on 13, by a TID scan of every TID the
 * range's blocks could hold. After the swap the original gains no blocks.
 */
async function blockRanges(client: pg.ClientBase, table: string): Promise<BlockRange[]> {
  const { rows } = await client.query<{ blocks: string; num: string }>(
    `SELECT pg_relation_size($1::regclass) / current_setting('block_size')::bigint AS blocks,
            current_setting('server_version_num') AS num`,
    [table],
  );
  const blocks = Math.max(1, Number(rows[0]!.blocks));
  const tidRanges = Number(rows[0]!.num) >= 140000;
  const ranges: BlockRange[] = [];
  for (let first = 0; first < blocks; first += BACKUP_RANGE_BLOCKS) {
    const end = Math.min(blocks, first + BACKUP_RANGE_BLOCKS);
    ranges.push(
      tidRanges
        ? { condition: 't.ctid >= $1::tid AND t.ctid < $2::tid', params: [`(${first},0)`, `(${end},0)`] }
        : {
            condition: `t.ctid = ANY (ARRAY(SELECT format('(%s,%s)', b, o)::tid
                                       FROM generate_series($1::bigint, $2::bigint - 1) b,
                                            generate_series(1, ${MAX_TUPLES_PER_PAGE}) o))`,
            params: [String(first), String(end)],
          },
    );
  }
  return ranges;
}

/**
 * A 64-bit hash of a row; summed (sum of bigint is exact: numeric, added up in
 * 128-bit integers) it does not depend on row order. Hashing the values themselves (PostgreSQL 14 and later) is
 * about three times faster than hashing the row's text, but needs every
 * column type to be hashable (json is not, for one): then the text it is.
 */
async function rowHash(client: pg.ClientBase, columns: string, table: string): Promise<string> {
  const byValue = `hash_record_extended(ROW(${columns}), 0)`;
  const byText = `hashtextextended(ROW(${columns})::text, 0)`;
  const { rows } = await client.query<{ n: string }>(`SELECT current_setting('server_version_num') AS n`);
  if (Number(rows[0]!.n) < 140000) return byText;
  // Called outside any transaction: a failed probe aborts nothing.
  try {
    await client.query(`SELECT ${byValue} FROM ${table} t LIMIT 1`);
    return byValue;
  } catch {
    return byText;
  }
}

function keyType(info: Awaited<ReturnType<typeof inspectTable>>, column: string): string {
  return info.columns.find((c) => c.name === column)!.type;
}

/** A query for one key (and bucket, given one) must touch only that key's level-1 partition and its buckets. */
async function checkPruning(
  context: TargetContext,
  client: pg.ClientBase,
  keyValue: string,
  type: string,
  bucket: number | null,
): Promise<string | null> {
  const { target, sql } = context;
  const { rows: partitions } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM ${sql.install}.partition_tracker t
       JOIN pg_inherits i ON i.inhparent = t.level_one_partition JOIN pg_class c ON c.oid = i.inhrelid
      WHERE t.config_id = $1 AND t.key_value = $2`,
    [target.configId, keyValue],
  );
  const allowed = new Set(partitions.map((p) => p.name));
  const { rows } = await client.query<{ 'QUERY PLAN': unknown }>(
    bucket === null
      ? `EXPLAIN (FORMAT JSON) SELECT * FROM ${sql.source} WHERE ${ident(target.keyColumn)} = $1::text::${type}`
      : `EXPLAIN (FORMAT JSON) SELECT * FROM ${sql.partitioned}
          WHERE ${ident(target.keyColumn)} = $1::text::${type} AND ${ident(target.bucketColumn)} = $2::int`,
    bucket === null ? [keyValue] : [keyValue, bucket],
  );
  const scanned = new Set<string>();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [field, value] of Object.entries(node)) {
        if (field === 'Relation Name' && typeof value === 'string') scanned.add(value);
        else walk(value);
      }
    }
  };
  walk(rows[0]!['QUERY PLAN']);
  const outside = [...scanned].filter((name) => !allowed.has(name));
  if (scanned.size === 0) return `a query on ${target.keyColumn} = ${keyValue} scans no partition`;
  if (outside.length > 0)
    return `a query on ${target.keyColumn} = ${keyValue} also scans ${outside.slice(0, 3).join(', ')}: partition pruning does not work`;
  return null;
}
