// How many rows, keys and leaves a migration will meet: counted exactly when
// that is cheap (or asked for), otherwise estimated from the planner's
// statistics together with an upper bound that every check able to stop the
// run uses, because ANALYZE's sample undercounts the keys of skewed tables.
import type pg from 'pg';
import { ident } from '../db/sql.js';
import { countOf, formatBytes } from '../../shared/text.js';
import { columnStatistics, type ColumnInfo, type TableInfo } from './catalog.js';
import { keyTextSql, type KeyKind } from './key-types.js';
import { OWN_STATEMENT_MARKER } from './workload/source.js';

/*
 * Counting reads the user's table without its key: tagged so that the
 * workload read from pg_stat_statements leaves it out. The tag goes after the
 * first keyword: the text kept starts at the statement's first token, so a
 * leading comment would be dropped.
 */
const OWN = `/* ${OWN_STATEMENT_MARKER}: count */`;

/**
 * exact: scan the table, however large. auto: scan it when its heap is at
 * most EXACT_COUNT_MAX_BYTES and the scan ends within EXACT_COUNT_TIMEOUT_MS,
 * otherwise estimate. estimate: statistics only.
 */
export type Counting = 'exact' | 'auto' | 'estimate';

/*
 * The default exact count, measured (PostgreSQL 15, 2 shared cores under a
 * load average of 5, table in the OS cache; skewed tables shaped like the
 * Sandbox's, ~170 bytes a row; three runs each, milliseconds):
 *
 *   rows        heap       by the key's own type   by key::text
 *   139,792     24 MB       32 .. 38               60 .. 85
 *   418,220     71 MB       97 .. 155             201 .. 230
 *   1,392,728   238 MB     355 .. 497             536 .. 679
 *   2,784,712   476 MB     624 .. 917             945 .. 1,235
 *   6,961,341   1.19 GB  1,606 .. 1,760         1,866 .. 2,966
 *   6,466,149   1.10 GB  1,749 .. 1,950         3,491 .. 3,845   (50,000 keys)
 *
 * Time follows the heap's size: about 1.5 ms per MB by the key's type and
 * 2.5 ms per MB by its text. A dry run is cheap at a second or two, so the
 * plan counts by default up to 1 GiB of heap (reading pg_relation_size, not
 * the estimate: a table grows between ANALYZEs). The statement_timeout stops
 * a count that the measurement did not foresee (a cold cache, a busy server)
 * at about twice the time measured at the threshold; the plan then estimates
 * and says why.
 */
export const EXACT_COUNT_MAX_BYTES = 1024 ** 3;
export const EXACT_COUNT_TIMEOUT_MS = 4000;

/*
 * The keys counted from an index whose first column is the key (one index
 * descent per key): 200 keys in 2 ms, 50,000 keys in 280 ms on the tables
 * above. Same timeout.
 */

/** Kinds of key whose equality is that of their canonical text: grouping by the value itself gives the migration's keys. */
const GROUP_BY_VALUE = new Set<KeyKind>(['integer', 'uuid', 'boolean', 'enum']);

/** SQL for the canonical text of a key value, as the migration names keys (key-types.ts). */
function keyTextOf(kind: KeyKind | null): (expression: string) => string {
  return (expression) => (kind ? keyTextSql(kind, expression) : `(${expression})::pg_catalog.text`);
}

export interface KeyCount {
  keyValue: string;
  rows: number;
}

export interface KeyDistribution {
  /** scanned: exact; index: keys exact, rows per key estimated; statistics: estimated. */
  method: 'scanned' | 'index' | 'statistics';
  /** For the DBA: how the figures were obtained and how far off they can be. */
  note: string;
  rows: number;
  nullRows: number;
  distinctKeys: number;
  leaves: number;
  /** Upper bounds of distinctKeys and leaves (equal to them when counted). */
  maxKeys: number;
  maxLeaves: number;
  /** Named keys, largest first: every key up to the requested number (scanned), or the most common ones (estimated). */
  keys: KeyCount[];
  /** The keys under the shared placement threshold (none without one): they share the pool; their rows, and the leaves they would have had each. */
  pooled?: { keys: number; rows: number; leaves: number };
}

interface HeapSize {
  bytes: number;
  /** The connected role may read the table (else only statistics are left). */
  readable: boolean;
  /** reltuples scaled to the heap's current size, as the planner does; null before the first VACUUM or ANALYZE. */
  rows: number | null;
}

async function heapSize(client: pg.ClientBase, info: TableInfo): Promise<HeapSize> {
  const { rows } = await client.query<{
    bytes: string;
    readable: boolean;
    reltuples: number;
    relpages: number;
    block: number;
  }>(
    `SELECT pg_relation_size(c.oid)::text AS bytes, c.reltuples::float8 AS reltuples, c.relpages,
            has_schema_privilege(c.relnamespace, 'USAGE') AND has_table_privilege(c.oid, 'SELECT') AS readable,
            current_setting('block_size')::int AS block
       FROM pg_class c WHERE c.oid = $1`,
    [info.oid],
  );
  const row = rows[0]!;
  const bytes = Number(row.bytes);
  const pages = bytes / row.block;
  if (row.reltuples < 0) return { bytes, readable: row.readable, rows: null };
  return {
    bytes,
    readable: row.readable,
    rows: Math.round(row.relpages > 0 ? (row.reltuples / row.relpages) * pages : row.reltuples),
  };
}

export async function keyDistribution(
  client: pg.ClientBase,
  info: TableInfo,
  key: ColumnInfo,
  keyKind: KeyKind | null,
  bucketLimit: number,
  counting: Counting,
  keysWanted: number,
  shareBelow?: number,
): Promise<KeyDistribution> {
  const heap = await heapSize(client, info);
  const size = formatBytes(heap.bytes);
  if (!heap.readable) {
    return estimate(
      client,
      info,
      key,
      keyKind,
      bucketLimit,
      heap,
      `The connected role may not read ${info.qualified}`,
      shareBelow,
    );
  }
  if (counting === 'exact') {
    const started = Date.now();
    const counted = await countExactly(client, info, key, keyKind, bucketLimit, keysWanted, null, shareBelow);
    return { ...counted, note: `Counted exactly by scanning the table (${size}, ${seconds(Date.now() - started)}).` };
  }
  let why: string;
  if (counting === 'auto' && heap.bytes <= EXACT_COUNT_MAX_BYTES) {
    const started = Date.now();
    try {
      const counted = await countExactly(
        client,
        info,
        key,
        keyKind,
        bucketLimit,
        keysWanted,
        EXACT_COUNT_TIMEOUT_MS,
        shareBelow,
      );
      return {
        ...counted,
        note: `Counted exactly by scanning the table (${size}, ${seconds(Date.now() - started)}): tables up to ${formatBytes(EXACT_COUNT_MAX_BYTES)} are counted by default.`,
      };
    } catch (error) {
      if ((error as { code?: string }).code !== '57014') throw error;
      why = `Counting exactly was stopped after ${seconds(EXACT_COUNT_TIMEOUT_MS)} (the table, ${size}, is not in memory or the server is busy)`;
    }
  } else if (counting === 'auto') {
    why = `The table is ${size}, more than the ${formatBytes(EXACT_COUNT_MAX_BYTES)} counted by default`;
  } else {
    why = 'Estimated on request';
  }
  return estimate(client, info, key, keyKind, bucketLimit, heap, why, shareBelow);
}

async function countExactly(
  client: pg.ClientBase,
  info: TableInfo,
  key: ColumnInfo,
  keyKind: KeyKind | null,
  bucketLimit: number,
  keysWanted: number,
  timeoutMs: number | null,
  shareBelow: number | undefined,
): Promise<Omit<KeyDistribution, 'note'>> {
  // The migration counts rows by the key's canonical text (1, 1.0 and 1.00
  // are one numeric key); for these kinds grouping by the value itself is the
  // same, and faster (measured above).
  const column = ident(key.name);
  const keyText = keyTextOf(keyKind);
  const byValue = keyKind !== null && GROUP_BY_VALUE.has(keyKind);
  const grouped = byValue ? column : keyText(column);
  const named = byValue ? keyText('k') : 'k';
  await client.query('BEGIN READ ONLY');
  try {
    // Unbounded when exact counts were asked for, whatever the session's default (the app's screens have one).
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [
      timeoutMs === null ? '0' : `${timeoutMs}ms`,
    ]);
    const { rows } = await client.query<{
      keys: string;
      rows: string;
      null_rows: string;
      leaves: string;
      largest: [string, string][];
      pooled_keys: string;
      pooled_rows: string;
      pooled_leaves: string;
    }>(
      `WITH ${OWN} per_key AS MATERIALIZED (SELECT ${grouped} AS k, count(*) AS n FROM ${info.qualified} GROUP BY 1)
       SELECT count(*) FILTER (WHERE k IS NOT NULL)::text AS keys,
              coalesce(sum(n), 0)::text AS rows,
              coalesce(sum(n) FILTER (WHERE k IS NULL), 0)::text AS null_rows,
              coalesce(sum(ceil(n::numeric / $1)) FILTER (WHERE k IS NOT NULL), 0)::text AS leaves,
              count(*) FILTER (WHERE k IS NOT NULL AND n < $3)::text AS pooled_keys,
              coalesce(sum(n) FILTER (WHERE k IS NOT NULL AND n < $3), 0)::text AS pooled_rows,
              coalesce(sum(ceil(n::numeric / $1)) FILTER (WHERE k IS NOT NULL AND n < $3), 0)::text AS pooled_leaves,
              (SELECT coalesce(json_agg(json_build_array(${named}, n::text) ORDER BY n DESC, ${named}), '[]')
                 FROM (SELECT k, n FROM per_key WHERE k IS NOT NULL ORDER BY n DESC, ${named} LIMIT $2) top) AS largest
         FROM per_key`,
      [bucketLimit, keysWanted, shareBelow ?? 0],
    );
    await client.query('COMMIT');
    const row = rows[0]!;
    const keys = Number(row.keys);
    const leaves = Number(row.leaves);
    return {
      method: 'scanned',
      rows: Number(row.rows),
      nullRows: Number(row.null_rows),
      distinctKeys: keys,
      leaves,
      maxKeys: keys,
      maxLeaves: leaves,
      keys: row.largest.map(([keyValue, rows]) => ({ keyValue, rows: Number(rows) })),
      pooled: { keys: Number(row.pooled_keys), rows: Number(row.pooled_rows), leaves: Number(row.pooled_leaves) },
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** An index whose first column is the key lists every key, one descent each. */
function keyIndex(info: TableInfo, key: ColumnInfo): string | null {
  const index = info.indexes.find(
    (i) => i.isValid && i.keyColumns[0] === key.name && i.method === 'btree' && i.predicate === null,
  );
  return index?.name ?? null;
}

async function countKeysFromIndex(client: pg.ClientBase, info: TableInfo, key: ColumnInfo): Promise<number | null> {
  const column = ident(key.name);
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [`${EXACT_COUNT_TIMEOUT_MS}ms`]);
    // A "loose index scan": the next key is the smallest one above the last.
    const { rows } = await client.query<{ keys: string }>(
      `WITH ${OWN} RECURSIVE k(v) AS (
         SELECT min(${column}) FROM ${info.qualified}
         UNION ALL
         SELECT (SELECT min(${column}) FROM ${info.qualified} WHERE ${column} > k.v) FROM k WHERE k.v IS NOT NULL)
       SELECT count(v)::text AS keys FROM k`,
    );
    await client.query('COMMIT');
    return Number(rows[0]!.keys);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    if ((error as { code?: string }).code === '57014') return null;
    throw error;
  }
}

async function statisticsSample(client: pg.ClientBase, info: TableInfo, key: ColumnInfo): Promise<number> {
  // ANALYZE samples 300 rows per unit of the column's statistics target.
  const { rows } = await client.query<{ target: number }>(
    `SELECT coalesce(nullif(a.attstattarget::int, -1), current_setting('default_statistics_target')::int) AS target
       FROM pg_attribute a WHERE a.attrelid = $1 AND a.attname = $2`,
    [info.oid, key.name],
  );
  return 300 * Math.max(rows[0]?.target ?? 100, 1);
}

async function estimate(
  client: pg.ClientBase,
  info: TableInfo,
  key: ColumnInfo,
  keyKind: KeyKind | null,
  bucketLimit: number,
  heap: HeapSize,
  why: string,
  shareBelow?: number,
): Promise<KeyDistribution> {
  const stats = await columnStatistics(client, info, key.name);
  const rows = heap.rows ?? 0;
  if (!stats || heap.rows === null) {
    return {
      method: 'statistics',
      note: `${why}, and ${info.qualified} has no statistics: row and key counts are unknown.`,
      rows,
      nullRows: 0,
      distinctKeys: 0,
      leaves: 0,
      maxKeys: rows,
      maxLeaves: rows,
      keys: [],
    };
  }
  const nullRows = Math.round(stats.nullFraction * rows);
  const keyRows = Math.max(rows - nullRows, 0);
  const estimated = Math.max(1, Math.round(stats.distinct < 0 ? -stats.distinct * keyRows : stats.distinct));
  // The most common values, in their canonical text.
  const canonical = await client.query<{ key_value: string }>(
    `SELECT ${keyTextOf(keyKind)(`v::${key.type}`)} AS key_value FROM unnest($1::text[]) WITH ORDINALITY AS u(v, n) ORDER BY n`,
    [stats.mostCommon.map((m) => m.value)],
  );
  const common = stats.mostCommon.map((m, i) => ({
    keyValue: canonical.rows[i]!.key_value,
    rows: Math.round(m.frequency * rows),
  }));
  const indexName = keyIndex(info, key);
  const indexed = indexName && heap.readable ? await countKeysFromIndex(client, info, key) : null;
  const distinct = indexed ?? estimated;

  // Keys missing from the sample are small ones: spread the rows the most
  // common keys leave over them.
  const commonRows = common.reduce((sum, k) => sum + k.rows, 0);
  const restKeys = Math.max(distinct - common.length, 0);
  const restAverage = restKeys > 0 ? Math.max(keyRows - commonRows, 0) / restKeys : 0;
  const leavesOf = (n: number): number => Math.max(1, Math.ceil(n / bucketLimit));
  const leaves = common.reduce((sum, k) => sum + leavesOf(k.rows), 0) + restKeys * leavesOf(restAverage);

  // How many keys there can be. From the index, exactly. From a sample,
  // nothing: a key with a few rows is rarely sampled, and n_distinct was 2.5
  // to 6.4 times too low on the skewed tables measured above (38 for 200
  // keys over 7.0M rows, 79 for 200 over 418k, 7,798 for 50,000 over 6.5M),
  // while a sample of 300 rows of one large key and 1,999 keys of 5 rows
  // would show some 60 keys, a thirtieth. No factor is safe: the only bound
  // is one key per row, and that is what the checks get.
  const maxKeys = indexed ?? Math.max(keyRows, distinct);
  // Each key fills its buckets but the last: at most rows / limit full ones
  // plus one partly full per key, and never more leaves than rows.
  const maxLeaves = Math.max(
    leaves,
    Math.min(Math.max(keyRows, 1), Math.ceil(keyRows / bucketLimit + (maxKeys * (bucketLimit - 1)) / bucketLimit)),
  );
  // The keys under the threshold: the common ones so counted, the rest at their average.
  const below = common.filter((k) => shareBelow !== undefined && k.rows < shareBelow);
  const restPooled = shareBelow !== undefined && restKeys > 0 && restAverage < shareBelow;
  const pooled = {
    keys: below.length + (restPooled ? restKeys : 0),
    rows: below.reduce((sum, k) => sum + k.rows, 0) + (restPooled ? Math.round(restKeys * restAverage) : 0),
    leaves: below.reduce((sum, k) => sum + leavesOf(k.rows), 0) + (restPooled ? restKeys * leavesOf(restAverage) : 0),
  };
  const sample = Math.min(await statisticsSample(client, info, key), keyRows);
  const note =
    indexed !== null
      ? `${why}: keys counted exactly from index ${indexName}, rows per key estimated from statistics; a key's last bucket may be partly full, so there can be up to ${countOf(maxLeaves, 'leaf', 'leaves')}.`
      : `${why}: estimated from statistics, which sampled ${countOf(sample, 'row')} of about ${countOf(keyRows, 'row')}. A sample misses keys with few rows, so on skewed data the key count is often several times too low, and nothing but the row count bounds it: the checks assume up to one key per row. Count exactly for figures they can trust${keyIndexHint(info, key)}.`;
  return {
    method: indexed !== null ? 'index' : 'statistics',
    note,
    rows,
    nullRows,
    distinctKeys: distinct,
    leaves,
    maxKeys,
    maxLeaves,
    keys: common,
    pooled,
  };
}

function keyIndexHint(info: TableInfo, key: ColumnInfo): string {
  return ` (an index on ${key.name} would let the plan count the keys: CREATE INDEX CONCURRENTLY ON ${info.qualified} (${ident(key.name)}))`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.max(ms, 1)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
