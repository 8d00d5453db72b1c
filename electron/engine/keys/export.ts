// A key's rows to a stream (a file, stdout): one COPY ... TO STDOUT of its
// level-1 partition (of its rows in the pool, for a pooled key), so one
// snapshot, whether the key is attached or detached.
// The columns are the application's (the bucket column left out), in table
// order; no value enters the statement, only quoted names.
import type pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { Transform, type Writable } from 'node:stream';
import { to as copyTo } from 'pg-copy-streams';
import type { ExportFormat, KeyProgress } from '../../../shared/keys.js';
import { ident } from '../../db/sql.js';
import type { ManagedConfig } from '../maintain.js';
import type { KeyFacts } from './facts.js';

/** Progress at most every this many bytes. */
const PROGRESS_EVERY = 1024 * 1024;

export async function exportKey(
  client: pg.ClientBase,
  config: ManagedConfig,
  facts: KeyFacts,
  format: ExportFormat,
  output: Writable,
  onProgress: (progress: KeyProgress) => void,
): Promise<{ bytes: number; rows: number }> {
  const { rows: columns } = await client.query<{ name: string }>(
    `SELECT attname AS name FROM pg_attribute
      WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped AND attname <> $2 ORDER BY attnum`,
    [facts.levelOneOid, config.bucketColumn],
  );
  const list = columns.map((c) => ident(c.name)).join(', ');
  const how = format === 'csv' ? '(FORMAT csv, HEADER true)' : '(FORMAT binary)';
  // A pooled key's rows are those of the pool that hold its key.
  const where = facts.keyFilter ? ` WHERE ${facts.keyFilter}` : '';
  const copy = client.query(copyTo(`COPY (SELECT ${list} FROM ${facts.levelOne}${where}) TO STDOUT WITH ${how}`));
  let bytes = 0;
  let reported = 0;
  const step = `exporting key ${facts.keyValue}`;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes - reported >= PROGRESS_EVERY) {
        reported = bytes;
        onProgress({ step, done: bytes, total: null, unit: 'bytes' });
      }
      done(null, chunk);
    },
  });
  await pipeline(copy, counter, output);
  onProgress({ step, done: bytes, total: bytes, unit: 'bytes' });
  return { bytes, rows: copy.rowCount };
}
