// Phases 2 and 3, provision and copy: one consistent snapshot of the original
// table is exported and shared by every worker, so the counts that size the
// partitions and the rows copied into them agree exactly.
//
// One pass counts rows per key and per block range ("chunk"); the partitions
// are created from those counts; then workers copy chunk by chunk (a TID range
// scan reads only the chunk's blocks), numbering each key's rows from where the
// previous chunks left off, so that bucket = (row number within key - 1) /
// limit without a global sort. No row passes through this process.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { inspectTable, serverInfo } from '../catalog.js';
import { throwIfCancelled, withWorkers, type TargetContext } from './context.js';
import { crashPoint } from './crash-points.js';

/** Largest chunk: 64 MB of 8 kB blocks. */
const MAX_CHUNK_BLOCKS = 8192;

interface Chunk {
  index: number;
  firstBlock: number;
  /** Exclusive; null for the last chunk, which also takes rows in blocks added since. */
  endBlock: number | null;
  keys: string[];
  offsets: number[];
  rows: number;
}

export async function provisionAndCopy(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const { target, reporter, journal, sql, options } = context;
  const configId = target.configId!;
  const info = await inspectTable(control, { schema: target.schema, name: target.table });
  const server = await serverInfo(control);
  const columns = info.columns.filter((c) => c.generated === '').map((c) => ident(c.name));
  const key = ident(target.keyColumn);

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
    // table: then one chunk per worker.
    const chunkCount =
      server.versionNum >= 140000
        ? Math.max(Math.ceil(blocks / MAX_CHUNK_BLOCKS), options.workers * 4, 1)
        : Math.max(options.workers, 1);
    const chunkBlocks = Math.max(Math.ceil(blocks / chunkCount), 1);

    reporter.phase('provision', `counting rows per key of ${context.label}`, context.label);
    const { rows: counted } = await control.query<{ chunk: string; key_value: string | null; rows: string }>(
      `SELECT least((ctid::text::point)[0]::bigint / $1, $2) AS chunk, ${key}::text AS key_value, count(*) AS rows
         FROM ${sql.source} GROUP BY 1, 2 ORDER BY 1`,
      [chunkBlocks, chunkCount - 1],
    );
    const nulls = counted.filter((r) => r.key_value === null).reduce((sum, r) => sum + Number(r.rows), 0);
    if (nulls > 0) {
      throw new PartwiseError(
        'blocked',
        `${nulls} rows of ${context.label} have no ${target.keyColumn} (NULL); nothing was migrated`,
        {
          hint: `UPDATE ${sql.source} SET ${key} = <a key value> WHERE ${key} IS NULL;`,
        },
      );
    }
    const totals = new Map<string, number>();
    const chunks: Chunk[] = Array.from({ length: chunkCount }, (_, index) => ({
      index,
      firstBlock: index * chunkBlocks,
      endBlock: index === chunkCount - 1 ? null : (index + 1) * chunkBlocks,
      keys: [],
      offsets: [],
      rows: 0,
    }));
    for (const row of counted) {
      const chunk = chunks[Number(row.chunk)]!;
      const keyValue = row.key_value!;
      const rows = Number(row.rows);
      chunk.keys.push(keyValue);
      chunk.offsets.push(totals.get(keyValue) ?? 0);
      chunk.rows += rows;
      totals.set(keyValue, (totals.get(keyValue) ?? 0) + rows);
    }
    const keys = [...totals.entries()].sort((a, b) => b[1] - a[1]);
    const totalRows = keys.reduce((sum, [, rows]) => sum + rows, 0);
    await journal.updateTarget(context.pool, target.runId, target.targetNo, {
      rowsTotal: totalRows,
      keysTotal: keys.length,
    });
    reporter.log(
      'info',
      `${totalRows.toLocaleString('en-US')} rows in ${keys.length.toLocaleString('en-US')} keys`,
      context.label,
    );

    // Partitions: level 1 per key, then its buckets. Creating a level-1
    // partition locks the parent table until commit, so each key is its own
    // transaction; buckets of different keys are created in parallel.
    let provisioned = 0;
    const partitionsTotal = keys.reduce(
      (sum, [, rows]) => sum + 1 + Math.max(1, Math.ceil(rows / target.bucketLimit)),
      0,
    );
    await withWorkers(context, keys, async (client, [keyValue, rows]) => {
      await client.query(`SELECT ${sql.install}.provision_key($1, $2, $3, false, false)`, [configId, keyValue, rows]);
      provisioned += 1 + Math.max(1, Math.ceil(rows / target.bucketLimit));
      reporter.progress('provision', provisioned, partitionsTotal, 'partitions', {
        table: context.label,
        currentKey: keyValue,
      });
    });
    reporter.progress('provision', partitionsTotal, partitionsTotal, 'partitions', {
      table: context.label,
      force: true,
    });
    throwIfCancelled(context);

    reporter.phase('copy', `copying ${totalRows.toLocaleString('en-US')} rows of ${context.label}`, context.label);
    await journal.updateTarget(context.pool, target.runId, target.targetNo, { phase: 'copy' });
    let copied = 0;
    const work = chunks.filter((c) => c.rows > 0).sort((a, b) => b.rows - a.rows);
    await withWorkers(context, work, async (client, chunk) => {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      try {
        await client.query(`SET TRANSACTION SNAPSHOT '${snapshot.replace(/'/g, "''")}'`);
        // A crash before commit loses nothing (the copy restarts on resume), so
        // the commit need not wait for the disk; sorting a chunk by key wants memory.
        await client.query(
          `SELECT set_config('synchronous_commit', 'off', true), set_config('work_mem', '256MB', true)`,
        );
        const range = [`s.ctid >= $4::tid`, ...(chunk.endBlock === null ? [] : [`s.ctid < $5::tid`])].join(' AND ');
        const params: unknown[] = [chunk.keys, chunk.offsets, target.bucketLimit, `(${chunk.firstBlock},0)`];
        if (chunk.endBlock !== null) params.push(`(${chunk.endBlock},0)`);
        const result = await client.query(
          `INSERT INTO ${sql.partitioned} (${columns.join(', ')}, ${ident(target.bucketColumn)}) OVERRIDING SYSTEM VALUE
           SELECT ${columns.map((c) => `s.${c}`).join(', ')},
                  ((o.row_offset + row_number() OVER (PARTITION BY s.${key})) - 1) / $3
             FROM ${sql.source} s
             JOIN unnest($1::text[], $2::bigint[]) AS o(key_value, row_offset) ON o.key_value = s.${key}::text
            WHERE ${range}`,
          params,
        );
        if (result.rowCount !== chunk.rows) {
          throw new PartwiseError(
            'internal',
            `chunk ${chunk.index} of ${context.label}: copied ${result.rowCount} rows, counted ${chunk.rows}`,
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      copied += chunk.rows;
      // Recorded outside the copy's transaction: that one reads an older snapshot
      // than the journal row's latest version, and could not update it.
      await client.query(
        `UPDATE ${sql.install}.migration_target SET rows_copied = rows_copied + $3 WHERE run_id = $1 AND target_no = $2`,
        [target.runId, target.targetNo, chunk.rows],
      );
      target.rowsCopied += chunk.rows;
      reporter.progress('copy', copied, totalRows, 'rows', { table: context.label });
      await crashPoint('copy:after-first-chunk');
    });
    reporter.progress('copy', copied, totalRows, 'rows', { table: context.label, force: true });

    // The bulk load numbered each key's rows 1..n: record that in the tracker
    // so routed inserts continue after them (an exact multiple of the limit
    // leaves the last bucket full, and the next row opens a new one).
    await context.pool.query(
      `SELECT count(${sql.install}.provision_key($1, k, n, false, true)) FROM unnest($2::text[], $3::bigint[]) AS t(k, n)`,
      [configId, keys.map(([k]) => k), keys.map(([, n]) => n)],
    );
    await control.query('COMMIT');
  } catch (error) {
    await control.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
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
    `SELECT level_one_partition::text AS level_one FROM ${sql.install}.partition_tracker WHERE config_id = $1`,
    [target.configId],
  );
  for (const row of rows) await context.pool.query(`TRUNCATE ${row.level_one}`);
  await context.pool.query(
    `UPDATE ${sql.install}.partition_tracker SET rows_assigned = 0, current_bucket_id = 0, current_first_ticket = 1,
            current_capacity = (SELECT bucket_limit FROM ${sql.install}.partition_config WHERE config_id = $1),
            current_leaf = (SELECT leaf_partition FROM ${sql.install}.partition_bucket b
                             WHERE b.config_id = $1 AND b.key_value = partition_tracker.key_value AND b.bucket_id = 0)
      WHERE config_id = $1`,
    [target.configId],
  );
  await context.journal.updateTarget(context.pool, target.runId, target.targetNo, { rowsCopied: 0 });
  target.rowsCopied = 0;
  context.reporter.log('info', `emptied the partial copy of an interrupted run`, context.label);
}
