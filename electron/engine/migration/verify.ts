// Phase 7, verify: the new table must hold exactly the original's rows. Both
// sides are read in one exported snapshot, per key: row counts and an
// order-independent checksum (sum of a 64-bit hash of each row). Rows
// the application changed after the swap (listed in the post-swap change log)
// are left out on both sides: they legitimately differ. Also checked: every
// leaf within its bucket's capacity, the tracker covering every key's rows,
// every index of the new table valid, and a query on one key touching only
// that key's partitions.
//
// The new side is read in batches of keys, each in its own transaction, so
// that thousands of partitions never fill the lock table. Both sides group
// rows by the key's own value and turn only the groups into canonical text:
// the key types accepted are those whose equal values have one canonical
// text, so the groups are the same, and the text of every row is not made.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { inspectTable } from '../catalog.js';
import { keyTextOf } from '../key-types.js';
import { liveTickets } from '../tickets.js';
import { beginInSnapshot, withWorkers, type TargetContext } from './context.js';

const KEYS_PER_QUERY = 50;

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
  // Both sides group by the key's canonical text, as the tracker knows keys.
  const keyText = await keyTextOf(control, sql.backup, target.keyColumn);
  const identity = target.saved.identity ?? [];
  const changed = target.saved.afterLog
    ? `EXISTS (SELECT 1 FROM ${sql.install}.${ident(target.saved.afterLog)} l WHERE ${identity.map((c) => `l.${ident(c)} = t.${ident(c)}`).join(' AND ')})`
    : 'false';
  const problems: string[] = [];

  await control.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const snapshot = (await control.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
    const { rows: buckets } = await control.query<{ key_value: string; leaf: string; capacity: string }>(
      `SELECT key_value, leaf_partition::text AS leaf, capacity FROM ${sql.install}.partition_bucket WHERE config_id = $1`,
      [target.configId],
    );
    const capacityOf = new Map(buckets.map((b) => [b.leaf, { key: b.key_value, capacity: Number(b.capacity) }]));
    const assigned = await liveTickets(context.pool, context.options.installSchema, target.configId!);
    const newKeys = [...assigned.keys()];

    const fresh = new Map<string, KeySide>();
    const stored = new Map<string, number>();
    let excluded = 0;
    const batches: string[][] = [];
    for (let i = 0; i < newKeys.length; i += KEYS_PER_QUERY) batches.push(newKeys.slice(i, i + KEYS_PER_QUERY));
    let checked = 0;
    reporter.phase(
      'verify',
      `verifying ${newKeys.length.toLocaleString('en-US')} keys of ${context.label}`,
      context.label,
    );
    reporter.progress('verify', 0, newKeys.length, 'keys', { table: context.label, force: true });
    // The original is read in one pass on this connection while the workers
    // read the new table key by key, all in the same snapshot.
    const backup = new Map<string, KeySide>();
    const readBackup = control
      .query<{ key_value: string; rows: string; checksum: string | null }>(
        `SELECT ${keyText('g.k')} AS key_value, sum(g.n) AS rows, sum(g.h)::text AS checksum
           FROM (SELECT t.${key} AS k, count(*) AS n, coalesce(sum(${hash}), 0) AS h
                   FROM ${sql.backup} t WHERE NOT ${changed} GROUP BY 1) g
          GROUP BY 1`,
      )
      .then(({ rows }) => {
        for (const row of rows) backup.set(row.key_value, { rows: Number(row.rows), checksum: row.checksum ?? '0' });
      });
    const readNew = withWorkers(context, batches, async (client, batch) => {
      try {
        await beginInSnapshot(client, snapshot, true);
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
                             FROM ${sql.partitioned} t WHERE t.${key} = ANY ($1::text[]::${keyType(info, target.keyColumn)}[])) x
                    GROUP BY 1, 2) g
            GROUP BY 1, 2`,
          [batch],
        );
        for (const row of rows) {
          const side = fresh.get(row.key_value) ?? { rows: 0, checksum: '0' };
          side.rows += Number(row.rows);
          side.checksum = (BigInt(side.checksum) + BigInt(row.checksum)).toString();
          fresh.set(row.key_value, side);
          stored.set(row.key_value, (stored.get(row.key_value) ?? 0) + Number(row.all_rows));
          excluded += Number(row.all_rows) - Number(row.rows);
          const bucket = capacityOf.get(row.leaf);
          if (!bucket)
            problems.push(`${row.all_rows} rows of key ${row.key_value} are in ${row.leaf}, which no bucket names`);
          else if (Number(row.all_rows) > bucket.capacity) {
            problems.push(`leaf ${row.leaf} holds ${row.all_rows} rows, more than its capacity of ${bucket.capacity}`);
          }
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      checked += batch.length;
      reporter.progress('verify', checked, newKeys.length, 'keys', { table: context.label, currentKey: batch[0] });
    });
    await Promise.all([readBackup, readNew]);
    await control.query('COMMIT');
    const keys = [...new Set([...newKeys, ...backup.keys()])];

    for (const keyValue of keys) {
      const before = backup.get(keyValue) ?? { rows: 0, checksum: '0' };
      const after = fresh.get(keyValue) ?? { rows: 0, checksum: '0' };
      if (before.rows !== after.rows) {
        problems.push(`key ${keyValue}: ${before.rows} rows in the original, ${after.rows} in the new table`);
      } else if (before.checksum !== after.checksum) {
        problems.push(`key ${keyValue}: same row count (${before.rows}) but different contents`);
      }
      const tickets = assigned.get(keyValue);
      if ((stored.get(keyValue) ?? 0) > 0 && (tickets === undefined || tickets < (stored.get(keyValue) ?? 0))) {
        problems.push(
          `key ${keyValue}: the tracker counts ${tickets ?? 0} rows but ${stored.get(keyValue)} are stored`,
        );
      }
    }
    const sample = [...backup.entries()].sort((a, b) => b[1].rows - a[1].rows)[0]?.[0];
    if (sample !== undefined) {
      const pruned = await checkPruning(context, control, sample, keyType(info, target.keyColumn));
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
  } catch (error) {
    await control.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
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

/** A query for one key must touch only that key's level-1 partition and its buckets. */
async function checkPruning(
  context: TargetContext,
  client: pg.ClientBase,
  keyValue: string,
  type: string,
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
    `EXPLAIN (FORMAT JSON) SELECT * FROM ${sql.source} WHERE ${ident(target.keyColumn)} = $1::text::${type}`,
    [keyValue],
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
