// Phases 2 and 3, provision and copy: rows are counted per key and per block
// range ("chunk"), the partitions are created from those counts, then workers
// copy chunk by chunk (a TID range scan reads only the chunk's blocks),
// numbering each key's rows from where the previous chunks left off, so that
// bucket = (row number within key - 1) / limit without a global sort. Where a
// key's rows in a chunk all fall in one bucket (most of them: a chunk holds few
// rows of each key) that bucket is given outright, so only the keys that cross
// a bucket boundary in the chunk are sorted to be numbered. No row passes
// through this process.
//
// Online, no snapshot is held for the whole copy (a transaction open for hours
// would keep vacuum from removing dead rows anywhere in the database): each
// chunk is counted in one short transaction and copied in another, and no
// transaction reads more than one chunk. What makes that safe is the change
// log, which records every row changed since before the first count (prepare
// starts it): a transaction that changes a row writes its log entry in the same
// transaction, so in any snapshot, a row version with no visible log entry is
// one that existed before the log started, unchanged since, at the TID it had
// then. The copy takes only such rows ("unlogged" below) and leaves every
// logged row to the catch-up's replay, which makes the new table's copy of a
// logged row equal to the current row whatever the copy did. So:
// - no row is copied twice: an unlogged row has one TID, in one chunk, and a
//   row updated after its chunk was copied (its new version perhaps in a later
//   chunk) is logged, so not copied again;
// - no row is lost: a row the copy skips is logged, and replayed;
// - buckets stay within the limit: a row unlogged when its chunk is copied was
//   unlogged when the chunk was counted, earlier (log entries stay until the
//   catch-up, after the copy), so a chunk copies at most the rows of each key
//   it counted, numbered within the range the count gave it, and each key's
//   ranges do not overlap from chunk to chunk. The tracker records the counted
//   numbers; replayed rows take tickets after them.
// A table rewritten between two chunks (VACUUM FULL, CLUSTER, TRUNCATE) moves
// its rows to other TIDs without logging them: each chunk's transaction locks
// the table (ACCESS SHARE) before it reads anything and refuses to go on if
// its storage (relfilenode) is not the one counted.
//
// Offline there is no log (a table without a row identity cannot have one):
// then one exported snapshot is held by the control connection for the whole
// count and copy, and every worker reads in it, so that counts and copies agree.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { inspectTable, leavesPerTransaction, serverInfo } from '../catalog.js';
import { keyTextOf } from '../key-types.js';
import { beginInSnapshot, throwIfCancelled, withConnections, withWorkers, type TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';
import { countOf } from '../../../shared/text.js';

/**
 * Largest chunk when none is set (MigrationOptions.chunkBlocks): 64 MB of
 * 8 kB blocks. One chunk is what one transaction reads (count or copy): at the
 * tens of MB/s a copy with partition routing manages, a few seconds, well
 * under a minute even on a loaded server.
 */
export const DEFAULT_CHUNK_BLOCKS = 8192;
/**
 * Fewest chunks, for tables large enough to split (chunks of at least
 * MIN_SPLIT_BLOCKS, 1 MB): progress moves a chunk at a time, so a table copied
 * in a few chunks shows nothing for long stretches (a 300,000-row table in 3
 * chunks showed no count until the end, a 4M-row one moved in sevenths). At
 * least PROGRESS_STEPS chunks, and CHUNKS_PER_WORKER per worker; not many more,
 * since each chunk's statement sets up every partition its rows go to (with
 * many keys, copyUnits merges them back as far as progress allows).
 */
const PROGRESS_STEPS = 20;
const CHUNKS_PER_WORKER = 4;
const MIN_SPLIT_BLOCKS = 128;
/**
 * Most tuples an 8 kB heap page can hold (MaxHeapTuplesPerPage): without TID
 * range scans (PostgreSQL 13) a chunk is read as the list of every TID its
 * blocks could hold, fetched by a TID scan, so that it reads only those blocks.
 */
export const MAX_TUPLES_PER_PAGE = 291;

interface Chunk {
  index: number;
  firstBlock: number;
  /** Exclusive; null for the last chunk with TID range scans, which also takes rows in blocks added since. */
  endBlock: number | null;
  /** What reading it costs, for the throttle (the last chunk's as counted). */
  bytes: number;
  keys: string[];
  offsets: number[];
  counts: number[];
  rows: number;
  /**
   * Keys with more rows here than one transaction may copy (see pieceRows):
   * where each piece after the first starts (a TID, as text), in the count's snapshot.
   */
  pieces: Map<string, string[]>;
}

/** How transactions read the original: what they see, and which rows are the copy's to take. */
interface Reading {
  /** Starts a transaction reading the original (read-only for counting). */
  begin(client: pg.ClientBase, readOnly: boolean): Promise<void>;
  /**
   * The original's logged rows as `s`, read from the log's side (the log is
   * small next to a chunk: a chunk of an idle table costs nothing more), or
   * null when there is no log.
   */
  loggedRows: string | null;
  /** SQL condition on s: the row is the copy's to take, not the replay's. */
  unlogged: string;
  /** Selects TIDs of a chunk: a TID range or, on PostgreSQL 13, a list of TIDs. */
  tidRanges: boolean;
  /** Ends what the reading holds (the offline snapshot). */
  end(commit: boolean): Promise<void>;
}

/**
 * Online: each transaction takes its own snapshot, after locking the original
 * and checking that its storage is still the one whose blocks were counted.
 * Offline: every transaction joins the snapshot the control connection holds.
 */
async function startReading(context: TargetContext, control: pg.ClientBase, tidRanges: boolean): Promise<Reading> {
  const { sql, target } = context;
  const log = target.saved.changeLog;
  if (!log) {
    await control.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const snapshot = (await control.query<{ s: string }>('SELECT pg_export_snapshot() AS s')).rows[0]!.s;
    return {
      begin: (client, readOnly) => beginInSnapshot(client, snapshot, readOnly),
      loggedRows: null,
      unlogged: 'true',
      tidRanges,
      end: async (commit) => {
        await control.query(commit ? 'COMMIT' : 'ROLLBACK');
      },
    };
  }
  const identity = target.saved.identity!;
  const logTable = `${sql.install}.${ident(log)}`;
  const matches = (alias: string): string => identity.map((c) => `${alias}.${ident(c)} = s.${ident(c)}`).join(' AND ');
  const storage = async (client: pg.ClientBase): Promise<string> =>
    (await client.query<{ f: string }>('SELECT pg_relation_filenode($1::regclass)::text AS f', [sql.source])).rows[0]!
      .f;
  const counted = await storage(control);
  return {
    begin: async (client, readOnly) => {
      await client.query(`BEGIN ISOLATION LEVEL REPEATABLE READ${readOnly ? ' READ ONLY' : ''}`);
      // Locked before the first query takes the snapshot: no rewrite can come between the check and the read.
      await client.query(`LOCK TABLE ${sql.source} IN ACCESS SHARE MODE`);
      if ((await storage(client)) !== counted) {
        throw new PartwiseError(
          'conflict',
          `${context.label} was rewritten (VACUUM FULL, CLUSTER, TRUNCATE or an ALTER TABLE) while it was being copied, which moves its rows; start the migration again`,
        );
      }
    },
    loggedRows: `(SELECT DISTINCT ${identity.map((c) => ident(c)).join(', ')} FROM ${logTable}) l JOIN ${sql.source} s ON ${matches('l')}`,
    unlogged: `NOT EXISTS (SELECT 1 FROM ${logTable} l WHERE ${matches('l')})`,
    tidRanges,
    end: async () => undefined,
  };
}

function chunkRange(reading: Reading, chunk: Chunk, first = 1): string {
  if (!reading.tidRanges) {
    return `s.ctid = ANY (ARRAY(SELECT format('(%s,%s)', b, o)::tid
                                  FROM generate_series($${first}::bigint, $${first + 1}::bigint - 1) b,
                                       generate_series(1, ${MAX_TUPLES_PER_PAGE}) o))`;
  }
  return [`s.ctid >= $${first}::tid`, ...(chunk.endBlock === null ? [] : [`s.ctid < $${first + 1}::tid`])].join(
    ' AND ',
  );
}

function chunkRangeParams(reading: Reading, chunk: Chunk): string[] {
  if (!reading.tidRanges) return [String(chunk.firstBlock), String(chunk.endBlock)];
  return [`(${chunk.firstBlock},0)`, ...(chunk.endBlock === null ? [] : [`(${chunk.endBlock},0)`])];
}

/** Fewest steps the copy's progress moves in, for tables large enough to split. */
function minimumChunks(workers: number): number {
  return Math.max(PROGRESS_STEPS, workers * CHUNKS_PER_WORKER);
}

/**
 * Block ranges of at most `chunkBlocks` blocks covering the table's `blocks`.
 * Without TID range scans the last one ends at `blocks` too: rows in blocks
 * added later were written since the log (online) or the snapshot (offline)
 * started, and are not the copy's.
 */
export function chunksOf(
  blocks: number,
  blockSize: number,
  chunkBlocks: number,
  workers: number,
  tidRanges: boolean,
): Chunk[] {
  const count = Math.max(
    Math.ceil(blocks / chunkBlocks),
    Math.min(minimumChunks(workers), Math.floor(blocks / MIN_SPLIT_BLOCKS)),
    1,
  );
  const size = Math.max(Math.ceil(blocks / count), 1);
  return Array.from({ length: count }, (_, index) => ({
    index,
    firstBlock: index * size,
    endBlock: index < count - 1 ? (index + 1) * size : tidRanges ? null : Math.max(blocks, (index + 1) * size),
    bytes: Math.max(0, Math.min(size, blocks - index * size)) * blockSize,
    keys: [],
    offsets: [],
    counts: [],
    rows: 0,
    pieces: new Map(),
  }));
}

interface ChunkCount {
  chunk: number;
  keyValue: string | null;
  /** The unlogged rows (the copy's). */
  rows: number;
  /** Every row, logged or not (a NULL key is refused whichever it is). */
  seen: number;
}

/**
 * Rows per key in each chunk, chunk by chunk in parallel, each in its own
 * transaction. Rows are grouped by the key's own value and only the groups
 * turned into canonical text (cheaper than the text of every row): the key
 * types accepted are those whose equal values have one canonical text, so the
 * groups are the same.
 */
async function countByChunk(
  context: TargetContext,
  reading: Reading,
  chunks: Chunk[],
  keyText: (expression?: string) => string,
  key: string,
  pieceRows: number,
): Promise<ChunkCount[]> {
  const { sql } = context;
  const counts: ChunkCount[][] = [];
  await withWorkers(context, chunks, async (client, chunk) => {
    await context.throttle.admit(chunk.bytes);
    try {
      await reading.begin(client, true);
      // Every row of the chunk, then those of them the log names: the difference is the copy's.
      const perKey = async (from: string): Promise<Map<string | null, number>> => {
        const { rows } = await client.query<{ key_value: string | null; rows: string }>(
          `SELECT ${keyText('g.k')} AS key_value, sum(g.n) AS rows
             FROM (SELECT s.${key} AS k, count(*) AS n FROM ${from} WHERE ${chunkRange(reading, chunk)} GROUP BY 1) g
            GROUP BY 1`,
          chunkRangeParams(reading, chunk),
        );
        return new Map(rows.map((r) => [r.key_value, Number(r.rows)]));
      };
      const seen = await perKey(`${sql.source} s`);
      const logged = reading.loggedRows ? await perKey(reading.loggedRows) : new Map<string | null, number>();
      counts[chunk.index] = [...seen].map(([keyValue, rows]) => ({
        chunk: chunk.index,
        keyValue,
        rows: rows - (logged.get(keyValue) ?? 0),
        seen: rows,
      }));
      const large = counts[chunk.index]!.filter((c) => c.keyValue !== null && c.rows > pieceRows);
      if (large.length > 0) {
        // In the same snapshot as the count: the TIDs of these keys' copyable
        // rows stay put (a row that changes is logged, and left to the replay),
        // so each piece copies at most the rows counted here, numbered from
        // where the previous pieces end.
        const { rows: starts } = await client.query<{ key_value: string; start: string }>(
          `SELECT r.key_value, r.ctid::text AS start
             FROM (SELECT ${keyText(`s.${key}`)} AS key_value, s.ctid,
                          row_number() OVER (PARTITION BY ${keyText(`s.${key}`)} ORDER BY s.ctid) AS n
                     FROM ${sql.source} s
                    WHERE ${chunkRange(reading, chunk, 3)} AND ${reading.unlogged}
                      AND ${keyText(`s.${key}`)} = ANY ($1::text[])) r
            WHERE r.n > 1 AND (r.n - 1) % $2 = 0
            ORDER BY r.key_value, r.ctid`,
          [large.map((c) => c.keyValue!), pieceRows, ...chunkRangeParams(reading, chunk)],
        );
        for (const { key_value, start } of starts) {
          chunk.pieces.set(key_value, [...(chunk.pieces.get(key_value) ?? []), start]);
        }
      }
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
  /** Keys of the unit, where each key's numbering starts, and how many rows of each it may copy (those counted). */
  keys: string[];
  offsets: number[];
  counts: number[];
  rows: number;
  chunk: Chunk;
  /** A piece of one key: its rows at TIDs from `from` (inclusive) to `to` (exclusive), either open. */
  from?: string;
  to?: string;
}

/** Whether a table has a TOAST table: its partitions will, with the same columns. */
async function hasToast(client: pg.ClientBase, table: string): Promise<boolean> {
  const { rows } = await client.query<{ toast: boolean }>(
    `SELECT reltoastrelid <> 0 AS toast FROM pg_class WHERE oid = $1::regclass`,
    [table],
  );
  return rows[0]?.toast ?? true;
}

/**
 * A unit per chunk when a chunk's rows can be routed within the partition
 * budget (any chunk may hold rows of every key), else a unit per chunk and
 * group of whole keys, each group within the budget: then each group reads
 * every chunk, a few passes over the table in all rather than one per key.
 * A key with more rows in a chunk than pieceRows is copied in pieces of it
 * (piecesOf), each a unit of its own.
 *
 * Each unit's statement sets up every partition its rows go to (a few tens of
 * microseconds each, thousands per unit with many keys), so with several
 * groups consecutive chunks are merged for the copy, up to `maxBytes` each,
 * down to the fewest that still make `minUnits` units: progress keeps its
 * steps, and the setup is paid fewer times (at 2,000 keys, 20 chunks in 4
 * groups set up 4,000 partitions 20 times over; 5 merged chunks, 5 times).
 */
export function copyUnits(
  chunks: Chunk[],
  keys: [string, number][],
  bucketLimit: number,
  budget: number,
  pieceRows: number,
  merging: { minUnits: number; maxBytes: number },
): { units: CopyUnit[]; groups: number; chunks: number } {
  const partitionsOf = (rows: number): number => 1 + Math.max(1, Math.ceil(rows / bucketLimit));
  const groupOf = new Map<string, number>();
  let groups = 0;
  let used = Infinity;
  for (const [keyValue, rows] of keys) {
    if (used + partitionsOf(rows) > budget) {
      groups++;
      used = 0;
    }
    groupOf.set(keyValue, groups - 1);
    used += partitionsOf(rows);
  }
  const perMerge = Math.max(1, Math.floor(chunks.length / Math.ceil(merging.minUnits / Math.max(groups, 1))));
  const copied = mergeChunks(chunks, perMerge, merging.maxBytes);
  const units: CopyUnit[] = [];
  for (const chunk of [...copied].sort((a, b) => b.rows - a.rows)) {
    const byGroup: CopyUnit[] = Array.from({ length: groups }, (_, g) => ({
      label: groups === 1 ? `chunk ${chunk.index}` : `chunk ${chunk.index} of key group ${g + 1}`,
      keys: [],
      offsets: [],
      counts: [],
      rows: 0,
      chunk,
    }));
    chunk.keys.forEach((keyValue, i) => {
      const starts = chunk.pieces.get(keyValue);
      if (starts) {
        units.push(...piecesOf(chunk, keyValue, chunk.offsets[i]!, chunk.counts[i]!, starts, pieceRows));
        return;
      }
      const unit = byGroup[groupOf.get(keyValue)!]!;
      unit.keys.push(keyValue);
      unit.offsets.push(chunk.offsets[i]!);
      unit.counts.push(chunk.counts[i]!);
      unit.rows += chunk.counts[i]!;
    });
    units.push(...byGroup.filter((u) => u.rows > 0));
  }
  return { units, groups, chunks: copied.length };
}

/**
 * Consecutive counted chunks joined, `perMerge` at most (and `maxBytes`) each:
 * one block range whose rows of each key are the chunks' rows of that key, in
 * the same order, so each key starts where its first chunk started it and
 * takes the sum of the counts.
 */
export function mergeChunks(chunks: Chunk[], perMerge: number, maxBytes: number): Chunk[] {
  // A key copied in pieces is split at TIDs of its own chunk: such chunks are kept as counted.
  if (perMerge <= 1 || chunks.some((c) => c.pieces.size > 0)) return chunks;
  const runs: Chunk[][] = [];
  for (const chunk of chunks) {
    const run = runs.at(-1);
    const bytes = run?.reduce((sum, c) => sum + c.bytes, 0) ?? 0;
    if (run && run.length < perMerge && bytes + chunk.bytes <= maxBytes) run.push(chunk);
    else runs.push([chunk]);
  }
  return runs.map((run, index) => {
    const merged: Chunk = {
      index,
      firstBlock: run[0]!.firstBlock,
      endBlock: run.at(-1)!.endBlock,
      bytes: run.reduce((sum, c) => sum + c.bytes, 0),
      keys: [],
      offsets: [],
      counts: [],
      rows: 0,
      pieces: new Map(),
    };
    const at = new Map<string, number>();
    for (const chunk of run) {
      chunk.keys.forEach((keyValue, i) => {
        const known = at.get(keyValue);
        if (known === undefined) {
          at.set(keyValue, merged.keys.length);
          merged.keys.push(keyValue);
          merged.offsets.push(chunk.offsets[i]!);
          merged.counts.push(chunk.counts[i]!);
        } else {
          merged.counts[known]! += chunk.counts[i]!;
        }
      });
      merged.rows += chunk.rows;
    }
    return merged;
  });
}

/**
 * The most rows of one key that one transaction copies: they span at most
 * pieceRows / limit + 1 buckets, which with the key's level-1 partition fit
 * `leaves`.
 */
function pieceRowsFor(leaves: number, bucketLimit: number): number {
  return Math.max(1, leaves - 2) * bucketLimit;
}

/** A key's rows in a chunk, in pieces of pieceRows split at `starts`, each a unit numbered where the one before ends. */
function piecesOf(
  chunk: Chunk,
  keyValue: string,
  offset: number,
  count: number,
  starts: string[],
  pieceRows: number,
): CopyUnit[] {
  return [undefined, ...starts].map((from, j) => {
    const rows = j < starts.length ? pieceRows : count - pieceRows * starts.length;
    return {
      label: `chunk ${chunk.index}, piece ${j + 1} of ${starts.length + 1} of key ${keyValue}`,
      keys: [keyValue],
      offsets: [offset + pieceRows * j],
      counts: [rows],
      rows,
      chunk,
      ...(from === undefined ? {} : { from }),
      ...(j < starts.length ? { to: starts[j]! } : {}),
    };
  });
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

  // A leaf created or emptied locks itself, its TOAST table and the TOAST
  // table's index.
  const leavesPerBatch = leavesPerTransaction(server, options.workers, 2);
  await emptyPartitionedTable(context, leavesPerBatch);

  // Without TID range scans (PostgreSQL 13) a chunk is fetched as a list of TIDs.
  const reading = await startReading(context, control, server.versionNum >= 140000);
  let committed = false;
  try {
    // Measured after the log started (online) or in the snapshot (offline):
    // every row the copy may take lies in these blocks.
    const { rows: sizeRows } = await control.query<{ blocks: string; block_size: number }>(
      `SELECT pg_relation_size($1::regclass) / current_setting('block_size')::bigint AS blocks,
              current_setting('block_size')::int AS block_size`,
      [sql.source],
    );
    const blocks = Number(sizeRows[0]!.blocks);
    const blockSize = sizeRows[0]!.block_size;
    const chunkBlocks = Math.max(
      1,
      Math.min(options.chunkBlocks, Math.floor(context.throttle.largestUnitBytes() / blockSize)),
    );
    const chunks = chunksOf(blocks, blockSize, chunkBlocks, options.workers, reading.tidRanges);

    // No index yet: a transaction locks the partitions it writes, and the
    // TOAST table and its index of each one that stores a value out of line
    // (counted whenever the table has a TOAST table: any row may).
    const leaves = leavesPerTransaction(server, options.workers, (await hasToast(control, sql.source)) ? 2 : 0);
    const pieceRows = pieceRowsFor(leaves, target.bucketLimit);
    reporter.phase('provision', `counting rows per key of ${context.label}`, context.label);
    const counted = await countByChunk(context, reading, chunks, keyText, key, pieceRows);
    lap('count');
    const nulls = counted.filter((r) => r.keyValue === null).reduce((sum, r) => sum + r.seen, 0);
    if (nulls > 0) {
      throw new PartwiseError(
        'blocked',
        `${countOf(nulls, 'row')} of ${context.label} ${nulls === 1 ? 'has' : 'have'} no ${target.keyColumn} (NULL); nothing was migrated`,
        {
          hint: `UPDATE ${sql.source} SET ${key} = <a key value> WHERE ${key} IS NULL;`,
        },
      );
    }
    // Rows changed since the log started count too (they are the key's, the
    // catch-up applies them): placement and the tree's size go by every row.
    const seen = new Map<string, number>();
    for (const row of counted) seen.set(row.keyValue!, (seen.get(row.keyValue!) ?? 0) + row.seen);
    const pooled = await placeKeys(context, seen);
    const totals = new Map<string, number>();
    for (const row of counted) {
      if (row.rows > 0) totals.set(row.keyValue!, (totals.get(row.keyValue!) ?? 0) + row.rows);
    }
    // The pooled keys are numbered as one key, one after the other: each
    // starts where the one before ends, so the pool's buckets fill to the limit.
    const next = new Map<string, number>();
    let poolRows = 0;
    for (const [keyValue, rows] of totals) {
      if (!pooled.has(keyValue)) continue;
      next.set(keyValue, poolRows);
      poolRows += rows;
    }
    // Each key's rows are numbered chunk after chunk: a chunk starts each key
    // where the previous chunks left it.
    for (const row of counted) {
      if (row.rows === 0) continue;
      const chunk = chunks[row.chunk]!;
      const keyValue = row.keyValue!;
      chunk.keys.push(keyValue);
      chunk.offsets.push(next.get(keyValue) ?? 0);
      chunk.counts.push(row.rows);
      chunk.rows += row.rows;
      next.set(keyValue, (next.get(keyValue) ?? 0) + row.rows);
    }
    const keys = [...totals.entries()].sort((a, b) => b[1] - a[1]);
    // A key given a partition by an interrupted run keeps it even with no row
    // left to copy: its partition exists, and is registered (empty) as the others.
    const ownKeys = [
      ...keys.filter(([k]) => !pooled.has(k)),
      ...(target.saved.ownKeys ?? []).filter((k) => !totals.has(k)).map((k): [string, number] => [k, 0]),
    ];
    const poolBuckets = pooled.size > 0 || target.saved.shareBelow ? bucketsFor(poolRows, target.bucketLimit) : 0;
    const totalRows = keys.reduce((sum, [, rows]) => sum + rows, 0);
    await journal.updateTarget(context.pool, target.runId, target.targetNo, {
      rowsTotal: totalRows,
      keysTotal: keys.length,
    });
    reporter.log(
      'info',
      `${countOf(totalRows, 'row')} in ${countOf(keys.length, 'key')}, in ${countOf(chunks.length, 'chunk')} of up to ${countOf(Math.ceil(blocks / chunks.length), 'block')}`,
      context.label,
    );
    const levelOnes = await provisionTree(context, ownKeys, leavesPerBatch, poolBuckets);
    throwIfCancelled(context);
    lap('partitions');
    if (poolBuckets > 0) {
      reporter.log(
        'info',
        `${countOf(pooled.size, 'key')} under ${countOf(target.saved.shareBelow!, 'row')} share the pool of small keys: ${countOf(poolRows, 'row')} in ${countOf(poolBuckets, 'bucket')}; ${countOf(ownKeys.length, 'key')} get a partition of their own`,
        context.label,
      );
    }
    await copyStarts(
      {
        ...timings,
        count: provisioned(ownKeys, target.bucketLimit) + (poolBuckets > 0 ? 1 + poolBuckets : 0),
        keys: keys.length,
        ...(poolBuckets > 0 ? { pooledKeys: pooled.size, poolBuckets } : {}),
      },
      `copying ${totalRows.toLocaleString('en-US')} rows of ${context.label}`,
    );
    // At once, so the copy shows its size (and a rate can be measured from here) before the first chunk ends.
    reporter.progress('copy', 0, totalRows, 'rows', { table: context.label, force: true });
    let copied = 0;
    let done = 0;
    const {
      units: work,
      groups,
      chunks: copyChunks,
    } = copyUnits(chunks, keys, target.bucketLimit, leaves, pieceRows, {
      minUnits: minimumChunks(options.workers),
      maxBytes: chunkBlocks * blockSize,
    });
    const pieces = work.filter((u) => u.from !== undefined || u.to !== undefined).length;
    if (groups > 1) {
      reporter.log(
        'info',
        `copying ${countOf(copyChunks, 'block range')} in ${countOf(groups, 'group')} of keys each, to keep each transaction's locks within the lock table`,
        context.label,
      );
    }
    if (pieces > 0) {
      reporter.log(
        'info',
        `copying the keys with more than ${countOf(pieceRows, 'row')} in a chunk in ${countOf(pieces, 'piece')}, to keep each transaction's locks within its share of the lock table`,
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
      // Admitted before its transaction starts: a pause holds no snapshot.
      await context.throttle.admit(unit.chunk.bytes);
      let rowCount: number;
      try {
        await reading.begin(client, false);
        // A crash before commit loses nothing (the copy restarts on resume), so
        // the commit need not wait for the disk; sorting by key wants memory.
        await client.query(
          `SELECT set_config('synchronous_commit', 'off', true), set_config('work_mem', '256MB', true)`,
        );
        rowCount = await copyUnit(client, reading, unit, statement);
        // Fewer is expected online (rows changed since the count are the replay's), more never.
        if (rowCount > unit.rows || (!target.saved.changeLog && rowCount !== unit.rows)) {
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
      copied += rowCount;
      done += unit.rows;
      // Recorded outside the copy's transaction: that one reads an older snapshot
      // than the journal row's latest version, and could not update it.
      await client.query(
        `UPDATE ${sql.install}.migration_target SET rows_copied = rows_copied + $3 WHERE run_id = $1 AND target_no = $2`,
        [target.runId, target.targetNo, rowCount],
      );
      target.rowsCopied += rowCount;
      // Progress counts the rows a unit was counted for, so the copy ends at its total.
      reporter.progress('copy', done, totalRows, 'rows', { table: context.label });
      await crashPoint('copy:after-first-chunk');
    });
    reporter.progress('copy', done, totalRows, 'rows', { table: context.label, force: true });
    if (copied < totalRows) {
      reporter.log(
        'info',
        `${countOf(totalRows - copied, 'counted row')} changed before ${totalRows - copied === 1 ? 'its' : 'their'} chunk was copied: the catch-up applies ${totalRows - copied === 1 ? 'it' : 'them'}`,
        context.label,
      );
    }

    lap('copy');
    // The bulk load numbered each key's rows 1..n (n as counted, some perhaps
    // left to the replay): record that in the tracker so routed inserts continue after them.
    await context.pool.query(`SELECT ${sql.install}.register_loaded_keys($1, $2, $3, $4)`, [
      configId,
      ownKeys.map(([k]) => k),
      ownKeys.map(([k]) => levelOnes.get(k)!),
      ownKeys.map(([, n]) => n),
    ]);
    // The pool's rows as one key's: numbered 1..poolRows.
    if (poolBuckets > 0) {
      await context.pool.query(`SELECT ${sql.install}.register_pooled_keys($1, $2, $3)`, [
        configId,
        keys.filter(([k]) => pooled.has(k)).map(([k]) => k),
        poolRows,
      ]);
    }
    await reading.end(true);
    committed = true;
    lap('tracker');
    return { copyMs: timings.copyMs!, trackerMs: timings.trackerMs!, count: copied };
  } finally {
    if (!committed) await reading.end(false).catch(() => undefined);
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
 * Copies a unit's unlogged rows in the caller's transaction; returns how many. A key
 * whose rows in the unit all fall in one bucket goes to it outright; only the
 * keys that cross a bucket boundary here are numbered, which sorts their rows
 * (in the order they lie in the table, so that a copy places rows the same way
 * whatever plan reads them). Keys are matched by value: each canonical text, cast back to the key's
 * type, equals exactly the values that have that text.
 */
async function copyUnit(
  client: pg.ClientBase,
  reading: Reading,
  unit: CopyUnit,
  statement: CopyStatement,
): Promise<number> {
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
  const bounds = [unit.from, unit.to].filter((b) => b !== undefined);
  const range = (first: number): string => {
    const width = chunkRangeParams(reading, unit.chunk).length;
    return [
      chunkRange(reading, unit.chunk, first),
      ...(unit.from === undefined ? [] : [`s.ctid >= $${first + width}::tid`]),
      ...(unit.to === undefined ? [] : [`s.ctid < $${first + width + (unit.from === undefined ? 0 : 1)}::tid`]),
      reading.unlogged,
    ].join(' AND ');
  };
  const rangeParams = [...chunkRangeParams(reading, unit.chunk), ...bounds];
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
       SELECT ${columns}, ((o.row_offset + row_number() OVER (PARTITION BY ${key} ORDER BY s.ctid)) - 1) / $3
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
  return keys.reduce((sum, [, rows]) => sum + 1 + bucketsFor(rows, bucketLimit), 0);
}

function bucketsFor(rows: number, bucketLimit: number): number {
  return Math.max(1, Math.ceil(rows / bucketLimit));
}

/**
 * Shared placement (the target's shareBelow): the keys that go to the pool of
 * small keys, those with fewer rows than the threshold. The keys given a
 * partition of their own are recorded before any is created: a resumed copy
 * keeps each of them so (its partition exists, and would take its rows),
 * and gives one to a key that has reached the threshold since.
 */
async function placeKeys(context: TargetContext, seen: Map<string, number>): Promise<Set<string>> {
  const { target, journal } = context;
  const threshold = target.saved.shareBelow;
  if (!threshold) return new Set();
  const own = new Set(target.saved.ownKeys ?? []);
  for (const [keyValue, rows] of seen) if (rows >= threshold) own.add(keyValue);
  if (own.size !== (target.saved.ownKeys ?? []).length || !target.saved.ownKeys) {
    target.saved = { ...target.saved, ownKeys: [...own] };
    await journal.updateTarget(context.pool, target.runId, target.targetNo, { saved: target.saved });
  }
  return new Set([...seen.keys()].filter((keyValue) => !own.has(keyValue)));
}

/** Buckets of one key's level-1 partition to create in one call: `count` from `first`. */
interface BucketRange {
  key: string;
  first: number;
  count: number;
}

/**
 * Creates the partition tree for the counted keys. Every level-1 partition
 * locks the partitioned table, so one connection makes them, a batch per
 * transaction; buckets lock only their level-1 partition, so the other
 * connections make them meanwhile, as level-1 partitions become ready (and
 * the first connection joins them when it is done). Each new partition stays
 * locked until its transaction commits: buckets go in batches of at most
 * `leavesPerBatch`, a key with more made a range of them per batch.
 */
async function provisionTree(
  context: TargetContext,
  keys: [string, number][],
  leavesPerBatch: number,
  poolBuckets: number,
): Promise<Map<string, string>> {
  const { target, sql, reporter } = context;
  const levelOnes = new Map<string, string>();
  const bucketsOf = (rows: number): number => Math.max(1, Math.ceil(rows / target.bucketLimit));
  const rowsOf = new Map(keys);
  const total = provisioned(keys, target.bucketLimit) + (poolBuckets > 0 ? 1 + poolBuckets : 0);
  const ready: BucketRange[][] = [];
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
          // Creating partitions writes catalog WAL: the lag bound applies between batches.
          await context.throttle.admit(0);
          const batch = keys.slice(i, i + 100).map(([k]) => k);
          const { rows } = await client.query<{ key_value: string; level_one: string }>(
            `SELECT key_value, level_one FROM ${sql.install}.create_level_one_partitions($1, $2)`,
            [target.configId, batch],
          );
          for (const row of rows) levelOnes.set(row.key_value, row.level_one);
          let batchOfLeaves: BucketRange[] = [];
          let leavesInBatch = 0;
          for (const row of rows) {
            const buckets = bucketsOf(rowsOf.get(row.key_value)!);
            for (let first = 0; first < buckets;) {
              const count = Math.min(buckets - first, leavesPerBatch - leavesInBatch);
              batchOfLeaves.push({ key: row.key_value, first, count });
              leavesInBatch += count;
              first += count;
              if (leavesInBatch >= leavesPerBatch) {
                ready.push(batchOfLeaves);
                batchOfLeaves = [];
                leavesInBatch = 0;
              }
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
      await context.throttle.admit(0);
      await client.query(`SELECT ${sql.install}.create_bucket_partitions($1, $2, $3, $4)`, [
        target.configId,
        batch.map((r) => levelOnes.get(r.key)!),
        batch.map((r) => r.count),
        batch.map((r) => r.first),
      ]);
      created += batch.reduce((sum, r) => sum + r.count, 0);
      report();
    }
  });
  // The pool last: a level-1 partition created beside a DEFAULT one scans it.
  // Its leaves lock the pool as they are created: one connection, a batch per transaction.
  for (let first = 0; first < poolBuckets; first += leavesPerBatch) {
    throwIfCancelled(context);
    await context.throttle.admit(0);
    const count = Math.min(leavesPerBatch, poolBuckets - first);
    await context.pool.query(`SELECT ${sql.install}.provision_pool_buckets($1, $2, $3, $4)`, [
      target.configId,
      target.saved.shareBelow,
      first,
      count,
    ]);
    created += (first === 0 ? 1 : 0) + count;
    report();
  }
  reporter.progress('provision', total, total, 'partitions', { table: context.label, force: true });
  return levelOnes;
}

/**
 * A resumed copy starts over on a fresh snapshot (the old one died with its
 * process): empty what an interrupted copy left, one level-1 partition at a
 * time, and the leaves of one with more than a transaction may lock a range
 * at a time, so that no transaction locks thousands of partitions.
 */
async function emptyPartitionedTable(context: TargetContext, leavesPerBatch: number): Promise<void> {
  const { target, sql } = context;
  if (target.rowsCopied === 0) return;
  const { rows } = await context.pool.query<{ level_one: string; leaves: string[] }>(
    `SELECT l.inhrelid::regclass::text AS level_one,
            ARRAY(SELECT b.inhrelid::regclass::text FROM pg_inherits b WHERE b.inhparent = l.inhrelid) AS leaves
       FROM pg_inherits l WHERE l.inhparent = $1::regclass`,
    [sql.partitioned],
  );
  for (const row of rows) {
    if (row.leaves.length <= leavesPerBatch) await context.pool.query(`TRUNCATE ${row.level_one}`);
    else {
      for (let first = 0; first < row.leaves.length; first += leavesPerBatch)
        await context.pool.query(`TRUNCATE ${row.leaves.slice(first, first + leavesPerBatch).join(', ')}`);
    }
  }
  await context.journal.updateTarget(context.pool, target.runId, target.targetNo, { rowsCopied: 0 });
  target.rowsCopied = 0;
  context.reporter.log('info', `emptied the partial copy of an interrupted run`, context.label);
}
