// Phases 2 and 3, provision and copy: one consistent snapshot of the original
// table is exported and shared by every worker, so the counts that size the
// partitions and the rows copied into them agree exactly.
//
// One pass counts rows per key and per block range ("chunk"); the partitions
// are created from those counts; then workers copy chunk by chunk (a TID range
// scan reads only the chunk's blocks), numbering each key's rows from where the
// previous chunks left off, so that bucket = (row number within key - 1) /
// limit without a global sort. Where a key's rows in a chunk all fall in one
// bucket (most of them: a chunk holds few rows of each key) that bucket is
// given outright, so only the keys that cross a bucket boundary in the chunk
// are sorted to be numbered. No row passes through this process.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { inspectTable, lockBudget, serverInfo } from '../catalog.js';
import { keyTextOf } from '../key-types.js';
import { beginInSnapshot, throwIfCancelled, withConnections, withWorkers, type TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';
import { partitionTreeIssue, recommendMaxLocks } from '../plan.js';
import { countOf } from '../../../shared/text.js';

/** Largest chunk: 64 MB of 8 kB blocks. */
const MAX_CHUNK_BLOCKS = 8192;
/** Most chunks: per-chunk key counts are held in memory until the copy. */
const MAX_CHUNKS = 256;
/**
 * Fewest chunks per worker, for tables large enough to split (chunks of at
 * least MIN_SPLIT_BLOCKS): progress moves a chunk at a time, so a small table
 * copied in one chunk per worker would show nothing until it is all done.
 */
const CHUNKS_PER_WORKER = 4;
const MIN_SPLIT_BLOCKS = 1024;

interface ChunkCount {
  chunk: number;
  keyValue: string | null;
  rows: number;
}

/**
 * Rows per key in each chunk, in the exported snapshot: chunk by chunk in
 * parallel when TID range scans read only a chunk's blocks, else in one pass
 * that derives each row's chunk from its block number. Rows are grouped by the
 * key's own value and only the groups turned into canonical text (cheaper
 * than the text of every row): the key types accepted are those whose equal
 * values have one canonical text, so the groups are the same.
 */
async function countByChunk(
  context: TargetContext,
  control: pg.ClientBase,
  snapshot: string,
  chunks: Chunk[],
  chunkBlocks: number,
  tidRanges: boolean,
  keyText: (expression?: string) => string,
  key: string,
): Promise<ChunkCount[]> {
  const { sql } = context;
  if (!tidRanges) {
    const { rows } = await control.query<{ chunk: string; key_value: string | null; rows: string }>(
      `SELECT g.chunk, ${keyText('g.k')} AS key_value, sum(g.n) AS rows
         FROM (SELECT least((ctid::text::point)[0]::bigint / $1, $2) AS chunk, ${key} AS k, count(*) AS n
                 FROM ${sql.source} GROUP BY 1, 2) g
        GROUP BY 1, 2 ORDER BY 1`,
      [chunkBlocks, chunks.length - 1],
    );
    return rows.map((r) => ({ chunk: Number(r.chunk), keyValue: r.key_value, rows: Number(r.rows) }));
  }
  const counts: ChunkCount[][] = [];
  await withWorkers(context, chunks, async (client, chunk) => {
    try {
      await beginInSnapshot(client, snapshot, true);
      const { rows } = await client.query<{ key_value: string | null; rows: string }>(
        `SELECT ${keyText('g.k')} AS key_value, sum(g.n) AS rows
           FROM (SELECT s.${key} AS k, count(*) AS n FROM ${sql.source} s WHERE ${chunkRange(chunk)} GROUP BY 1) g
          GROUP BY 1`,
        chunkRangeParams(chunk),
      );
      counts[chunk.index] = rows.map((r) => ({ chunk: chunk.index, keyValue: r.key_value, rows: Number(r.rows) }));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  });
  return counts.flat();
}

interface CopyUnit {
  label: string;
  /** Keys of the unit, where each key's numbering starts, and how many rows of each it copies. */
  keys: string[];
  offsets: number[];
  counts: number[];
  rows: number;
  /** A block range (one pass over the table in all) or, for a group of keys, null (a scan per group). */
  range: Chunk | null;
}

/**
 * Block ranges when a range's rows can be routed within the partition budget
 * (any range may hold rows of every key), else groups of whole keys, each
 * within the budget: then each group costs a scan of the table, a few scans in
 * all rather than one per key.
 */
function copyUnits(chunks: Chunk[], keys: [string, number][], bucketLimit: number, budget: number): CopyUnit[] {
  const partitionsOf = (rows: number): number => 1 + Math.max(1, Math.ceil(rows / bucketLimit));
  const total = keys.reduce((sum, [, rows]) => sum + partitionsOf(rows), 0);
  if (total <= budget) {
    return chunks
      .filter((c) => c.rows > 0)
      .sort((a, b) => b.rows - a.rows)
      .map((c) => ({
        label: `chunk ${c.index}`,
        keys: c.keys,
        offsets: c.offsets,
        counts: c.counts,
        rows: c.rows,
        range: c,
      }));
  }
  const groups: CopyUnit[] = [];
  let current: CopyUnit | undefined;
  let used = 0;
  for (const [keyValue, rows] of keys) {
    if (!current || used + partitionsOf(rows) > budget) {
      current = { label: `key group ${groups.length + 1}`, keys: [], offsets: [], counts: [], rows: 0, range: null };
      groups.push(current);
      used = 0;
    }
    current.keys.push(keyValue);
    current.offsets.push(0);
    current.counts.push(rows);
    current.rows += rows;
    used += partitionsOf(rows);
  }
  return groups;
}

function chunkRange(chunk: Chunk, first = 1): string {
  return [`s.ctid >= $${first}::tid`, ...(chunk.endBlock === null ? [] : [`s.ctid < $${first + 1}::tid`])].join(
    ' AND ',
  );
}

function chunkRangeParams(chunk: Chunk): string[] {
  return [`(${chunk.firstBlock},0)`, ...(chunk.endBlock === null ? [] : [`(${chunk.endBlock},0)`])];
}

interface Chunk {
  index: number;
  firstBlock: number;
  /** Exclusive; null for the last chunk, which also takes rows in blocks added since. */
  endBlock: number | null;
  keys: string[];
  offsets: number[];
  counts: number[];
  rows: number;
}

/**
 * Provisions and copies; \`copyStarts\` is awaited when the copy phase begins
 * (the runner records the phase and its step). Returns the copy's figures.
 */
export async function provisionAndCopy(
  context: TargetContext,
  control: pg.ClientBase,
  copyStarts: (provisioned: Record<string, number>, message: string) => Promise<void> = async () => undefined,
): Promise<Record<string, number>> {
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (name: string): void => {
    timings[`${name}Ms`] = Date.now() - mark;
    mark = Date.now();
  };
  const { target, reporter, journal, sql, options } = context;
  const configId = target.configId!;
  const info = await inspectTable(control, { schema: target.schema, name: target.table });
  const server = await serverInfo(control);
  const columns = info.columns.filter((c) => c.generated === '').map((c) => ident(c.name));
  const key = ident(target.keyColumn);
  // Keys are counted, numbered and matched by their canonical text (1, 1.0
  // and 1.00 are one numeric key), as routing and the tracker know them.
  const keyText = await keyTextOf(control, sql.source, target.keyColumn);

  await emptyPartitionedTable(context);

  await control.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const { rows: snapshotRows } = await control.query<{ snapshot: string; blocks: string }>(
      `SELECT pg_export_snapshot() AS snapshot,
              pg_relation_size($1::regclass) / current_setting('block_size')::bigint AS blocks`,
      [sql.source],
    );
    const snapshot = snapshotRows[0]!.snapshot;
    const blocks = Number(snapshotRows[0]!.blocks);
    // Without TID range scans (PostgreSQL 13) every chunk reads the whole
    // table: then one chunk per worker. Chunks are few and large: each chunk's
    // INSERT sets up routing to every partition it meets (and progress moves
    // in steps of a chunk); their count is capped so that per-chunk key counts
    // stay small in memory.
    const tidRanges = server.versionNum >= 140000;
    const chunkCount = tidRanges
      ? Math.min(
          Math.max(
            Math.ceil(blocks / MAX_CHUNK_BLOCKS),
            Math.min(options.workers * CHUNKS_PER_WORKER, Math.floor(blocks / MIN_SPLIT_BLOCKS)),
            options.workers,
            1,
          ),
          MAX_CHUNKS,
        )
      : Math.max(options.workers, 1);
    const chunkBlocks = Math.max(Math.ceil(blocks / chunkCount), 1);
    const chunks: Chunk[] = Array.from({ length: chunkCount }, (_, index) => ({
      index,
      firstBlock: index * chunkBlocks,
      endBlock: index === chunkCount - 1 ? null : (index + 1) * chunkBlocks,
      keys: [],
      offsets: [],
      counts: [],
      rows: 0,
    }));

    reporter.phase('provision', `counting rows per key of ${context.label}`, context.label);
    const counted = await countByChunk(context, control, snapshot, chunks, chunkBlocks, tidRanges, keyText, key);
    lap('count');
    const nulls = counted.filter((r) => r.keyValue === null).reduce((sum, r) => sum + r.rows, 0);
    if (nulls > 0) {
      throw new PartwiseError(
        'blocked',
        `${countOf(nulls, 'row')} of ${context.label} ${nulls === 1 ? 'has' : 'have'} no ${target.keyColumn} (NULL); nothing was migrated`,
        {
          hint: `UPDATE ${sql.source} SET ${key} = <a key value> WHERE ${key} IS NULL;`,
        },
      );
    }
    // Each key's rows are numbered chunk after chunk: a chunk starts each key
    // where the previous chunks left it.
    const totals = new Map<string, number>();
    for (const row of counted) {
      const chunk = chunks[row.chunk]!;
      const keyValue = row.keyValue!;
      chunk.keys.push(keyValue);
      chunk.offsets.push(totals.get(keyValue) ?? 0);
      chunk.counts.push(row.rows);
      chunk.rows += row.rows;
      totals.set(keyValue, (totals.get(keyValue) ?? 0) + row.rows);
    }
    const keys = [...totals.entries()].sort((a, b) => b[1] - a[1]);
    const totalRows = keys.reduce((sum, [, rows]) => sum + rows, 0);
    await journal.updateTarget(context.pool, target.runId, target.targetNo, {
      rowsTotal: totalRows,
      keysTotal: keys.length,
    });
    reporter.log('info', `${countOf(totalRows, 'row')} in ${countOf(keys.length, 'key')}`, context.label);
    // The plan may have estimated; now every key is counted: refuse a tree
    // the swap cannot lock before creating any of it.
    const partitions =
      1 + keys.length + keys.reduce((sum, [, rows]) => sum + Math.max(1, Math.ceil(rows / target.bucketLimit)), 0);
    const tooLarge = partitionTreeIssue(
      server,
      { partitions, maxPartitions: partitions, keys: keys.length, rows: totalRows, exact: true },
      target,
      recommendMaxLocks(server, partitions),
    );
    if (tooLarge?.severity === 'blocker') {
      throw new PartwiseError('blocked', `${context.label} cannot be migrated: ${tooLarge.message}`, {
        hint: tooLarge.fix,
      });
    }

    const levelOnes = await provisionTree(context, keys);
    throwIfCancelled(context);
    lap('partitions');
    await copyStarts(
      { ...timings, count: provisioned(keys, target.bucketLimit), keys: keys.length },
      `copying ${totalRows.toLocaleString('en-US')} rows of ${context.label}`,
    );
    // At once, so the copy shows its size (and a rate can be measured from here) before the first chunk ends.
    reporter.progress('copy', 0, totalRows, 'rows', { table: context.label, force: true });
    let copied = 0;
    const work = copyUnits(chunks, keys, target.bucketLimit, lockBudget(server, options.workers));
    if (work.some((unit) => unit.range === null)) {
      reporter.log(
        'info',
        `copying in ${work.length} groups of keys, to keep each transaction's locks within the lock table`,
        context.label,
      );
    }
    const statement: CopyStatement = {
      insert: `INSERT INTO ${sql.partitioned} (${columns.join(', ')}, ${ident(target.bucketColumn)}) OVERRIDING SYSTEM VALUE`,
      columns: columns.map((c) => `s.${c}`).join(', '),
      source: sql.source,
      key: `s.${key}`,
      keyType: info.columns.find((c) => c.name === target.keyColumn)!.type,
      bucketLimit: target.bucketLimit,
    };
    await withWorkers(context, work, async (client, unit) => {
      try {
        await beginInSnapshot(client, snapshot, false);
        // A crash before commit loses nothing (the copy restarts on resume), so
        // the commit need not wait for the disk; sorting by key wants memory.
        await client.query(
          `SELECT set_config('synchronous_commit', 'off', true), set_config('work_mem', '256MB', true)`,
        );
        const rowCount = await copyUnit(client, unit, statement);
        if (rowCount !== unit.rows) {
          throw new PartwiseError(
            'internal',
            `${unit.label} of ${context.label}: copied ${rowCount} rows, counted ${unit.rows}`,
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      copied += unit.rows;
      // Recorded outside the copy's transaction: that one reads an older snapshot
      // than the journal row's latest version, and could not update it.
      await client.query(
        `UPDATE ${sql.install}.migration_target SET rows_copied = rows_copied + $3 WHERE run_id = $1 AND target_no = $2`,
        [target.runId, target.targetNo, unit.rows],
      );
      target.rowsCopied += unit.rows;
      reporter.progress('copy', copied, totalRows, 'rows', { table: context.label });
      await crashPoint('copy:after-first-chunk');
    });
    reporter.progress('copy', copied, totalRows, 'rows', { table: context.label, force: true });

    lap('copy');
    // The bulk load numbered each key's rows 1..n: record that in the tracker
    // so routed inserts continue after them.
    await context.pool.query(`SELECT ${sql.install}.register_loaded_keys($1, $2, $3, $4)`, [
      configId,
      keys.map(([k]) => k),
      keys.map(([k]) => levelOnes.get(k)!),
      keys.map(([, n]) => n),
    ]);
    await control.query('COMMIT');
    lap('tracker');
    return { copyMs: timings.copyMs!, trackerMs: timings.trackerMs!, count: totalRows };
  } catch (error) {
    await control.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

interface CopyStatement {
  /** INSERT INTO the partitioned table (its columns, the bucket column). */
  insert: string;
  /** The source's columns, as s.<column>. */
  columns: string;
  source: string;
  /** The key column, as s.<column>, and its type. */
  key: string;
  keyType: string;
  bucketLimit: number;
}

/**
 * Copies a unit's rows in the caller's transaction; returns how many. A key
 * whose rows in the unit all fall in one bucket goes to it outright; only the
 * keys that cross a bucket boundary here are numbered, which sorts their rows.
 * Keys are matched by value: each canonical text, cast back to the key's
 * type, equals exactly the values that have that text.
 */
async function copyUnit(client: pg.ClientBase, unit: CopyUnit, statement: CopyStatement): Promise<number> {
  const { insert, columns, source, key, keyType, bucketLimit } = statement;
  const whole = { keys: [] as string[], buckets: [] as number[] };
  const split = { keys: [] as string[], offsets: [] as number[] };
  unit.keys.forEach((keyValue, i) => {
    const first = Math.floor(unit.offsets[i]! / bucketLimit);
    const last = Math.floor((unit.offsets[i]! + unit.counts[i]! - 1) / bucketLimit);
    if (first === last) {
      whole.keys.push(keyValue);
      whole.buckets.push(first);
    } else {
      split.keys.push(keyValue);
      split.offsets.push(unit.offsets[i]!);
    }
  });
  const range = (first: number): string => (unit.range ? chunkRange(unit.range, first) : 'true');
  const rangeParams = unit.range ? chunkRangeParams(unit.range) : [];
  let copied = 0;
  if (whole.keys.length > 0) {
    const result = await client.query(
      `${insert}
       SELECT ${columns}, o.bucket
         FROM ${source} s
         JOIN unnest($1::text[], $2::bigint[]) AS o(key_value, bucket) ON ${key} = o.key_value::${keyType}
        WHERE ${range(3)}`,
      [whole.keys, whole.buckets, ...rangeParams],
    );
    copied += result.rowCount ?? 0;
  }
  if (split.keys.length > 0) {
    const result = await client.query(
      `${insert}
       SELECT ${columns}, ((o.row_offset + row_number() OVER (PARTITION BY ${key})) - 1) / $3
         FROM ${source} s
         JOIN unnest($1::text[], $2::bigint[]) AS o(key_value, row_offset) ON ${key} = o.key_value::${keyType}
        WHERE ${range(4)}`,
      [split.keys, split.offsets, bucketLimit, ...rangeParams],
    );
    copied += result.rowCount ?? 0;
  }
  return copied;
}

/** Partitions the tree of these keys has: a level-1 partition per key, and its buckets. */
function provisioned(keys: [string, number][], bucketLimit: number): number {
  return keys.reduce((sum, [, rows]) => sum + 1 + Math.max(1, Math.ceil(rows / bucketLimit)), 0);
}

/**
 * Creates the partition tree for the counted keys. Every level-1 partition
 * locks the partitioned table, so one connection makes them, a batch per
 * transaction; buckets lock only their level-1 partition, so the other
 * connections make them meanwhile, as level-1 partitions become ready (and
 * the first connection joins them when it is done).
 */
async function provisionTree(context: TargetContext, keys: [string, number][]): Promise<Map<string, string>> {
  const { target, sql, reporter } = context;
  const levelOnes = new Map<string, string>();
  const bucketsOf = (rows: number): number => Math.max(1, Math.ceil(rows / target.bucketLimit));
  const rowsOf = new Map(keys);
  const total = provisioned(keys, target.bucketLimit);
  const ready: string[][] = [];
  let producing = true;
  let waiting: (() => void)[] = [];
  const wake = (): void => {
    const waiters = waiting;
    waiting = [];
    for (const resume of waiters) resume();
  };
  let created = 0;
  const report = (): void => reporter.progress('provision', created, total, 'partitions', { table: context.label });

  await withConnections(context, context.options.workers, async (client, index, failed) => {
    if (index === 0) {
      try {
        for (let i = 0; i < keys.length && !failed(); i += 100) {
          throwIfCancelled(context);
          const batch = keys.slice(i, i + 100).map(([k]) => k);
          const { rows } = await client.query<{ key_value: string; level_one: string }>(
            `SELECT key_value, level_one FROM ${sql.install}.create_level_one_partitions($1, $2)`,
            [target.configId, batch],
          );
          for (const row of rows) levelOnes.set(row.key_value, row.level_one);
          // Buckets in batches of about 200 partitions: each new partition stays
          // locked until its transaction commits.
          let batchOfLeaves: string[] = [];
          let leavesInBatch = 0;
          for (const row of rows) {
            batchOfLeaves.push(row.key_value);
            leavesInBatch += bucketsOf(rowsOf.get(row.key_value)!);
            if (leavesInBatch >= 200) {
              ready.push(batchOfLeaves);
              batchOfLeaves = [];
              leavesInBatch = 0;
            }
          }
          if (batchOfLeaves.length > 0) ready.push(batchOfLeaves);
          created += rows.length;
          report();
          wake();
        }
      } finally {
        producing = false;
        wake();
      }
    }
    for (;;) {
      if (failed()) return;
      const batch = ready.shift();
      if (!batch) {
        if (!producing) return;
        await new Promise<void>((resolve) => waiting.push(resolve));
        continue;
      }
      throwIfCancelled(context);
      await client.query(`SELECT ${sql.install}.create_bucket_partitions($1, $2, $3)`, [
        target.configId,
        batch.map((k) => levelOnes.get(k)!),
        batch.map((k) => bucketsOf(rowsOf.get(k)!)),
      ]);
      created += batch.reduce((sum, k) => sum + bucketsOf(rowsOf.get(k)!), 0);
      report();
    }
  });
  reporter.progress('provision', total, total, 'partitions', { table: context.label, force: true });
  return levelOnes;
}

/**
 * A resumed copy starts over on a fresh snapshot (the old one died with its
 * process): empty what an interrupted copy left, one level-1 partition at a
 * time so that no transaction locks thousands of partitions.
 */
async function emptyPartitionedTable(context: TargetContext): Promise<void> {
  const { target, sql } = context;
  if (target.rowsCopied === 0) return;
  const { rows } = await context.pool.query<{ level_one: string }>(
    `SELECT inhrelid::regclass::text AS level_one FROM pg_inherits WHERE inhparent = $1::regclass`,
    [sql.partitioned],
  );
  for (const row of rows) await context.pool.query(`TRUNCATE ${row.level_one}`);
  await context.journal.updateTarget(context.pool, target.runId, target.targetNo, { rowsCopied: 0 });
  target.rowsCopied = 0;
  context.reporter.log('info', `emptied the partial copy of an interrupted run`, context.label);
}
