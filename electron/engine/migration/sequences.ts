// Sequences keep their names, values and ownership where the application
// looks for them: applications and ORMs call nextval('t_id_seq'), setval it in
// fixtures, and ask pg_get_serial_sequence('t', 'id').
//
// A serial column's sequence is one object that the new table's default
// draws from as well: at the swap the routing view's column becomes its owner
// (a view column may own a sequence), so pg_get_serial_sequence works on the
// application's name; a rollback gives it back to the original table.
//
// An identity column's sequence belongs to its table for good (PostgreSQL
// refuses to re-own it), and a view cannot have identity columns, so
// pg_get_serial_sequence on the view returns NULL for it (the README says so).
// The partitioned table gets an identity sequence of its own with the
// original's options under a temporary name; at the swap the original's is
// renamed away, the new one takes its name and continues from its value, with
// its grants and comment. A rollback does the reverse; finalize drops the
// original's with the backup.
import type pg from 'pg';
import { ident, qualified } from '../../db/sql.js';
import { freeRelationName, type SequenceInfo, type TableInfo } from '../catalog.js';
import type { SavedSequence } from '../journal.js';
import type { TargetContext } from './context.js';

/**
 * What prepare records for each sequence: an identity column's new sequence
 * gets a temporary name beside the original's. For a run prepared by a
 * version that let LIKE create them (named after the new table, `partitioned`
 * given), the names they have.
 */
export async function planSequences(
  client: pg.ClientBase,
  info: TableInfo,
  partitioned?: string,
): Promise<SavedSequence[]> {
  const saved: SavedSequence[] = [];
  for (const sequence of info.sequences) {
    let replacement: string | null = null;
    if (sequence.kind === 'identity' && partitioned) {
      const { rows } = await client.query<{ name: string }>(
        `SELECT s.relname AS name FROM pg_class s WHERE s.oid = pg_get_serial_sequence($1, $2)::regclass`,
        [partitioned, sequence.column],
      );
      replacement = rows[0]!.name;
    } else if (sequence.kind === 'identity') {
      replacement = await freeRelationName(client, sequence.schema, sequence.name, '_partitioned');
    }
    const { column, kind, schema, name } = sequence;
    saved.push({ column, kind, schema, name, replacement });
  }
  return saved;
}

/** The identity specification of the new table's column, with the original sequence's options. */
export function identityStatement(relation: string, sequence: SequenceInfo, replacement: string): string {
  return (
    `ALTER TABLE ${relation} ALTER COLUMN ${ident(sequence.column)} ADD GENERATED ${sequence.generated === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY ` +
    `(SEQUENCE NAME ${qualified(sequence.schema, replacement)} START ${sequence.start} INCREMENT ${sequence.increment} ` +
    `MINVALUE ${sequence.min} MAXVALUE ${sequence.max} CACHE ${sequence.cache}${sequence.cycle ? ' CYCLE' : ' NO CYCLE'})`
  );
}

/**
 * At the swap, after the routing view exists: the view's columns own the
 * serial sequences, and the new identity sequences take the original names.
 * Returns the sequences with the names the originals were given.
 */
export async function adoptSequences(
  context: TargetContext,
  client: pg.ClientBase,
  sequences: readonly SavedSequence[],
): Promise<SavedSequence[]> {
  const { sql } = context;
  const install = sql.install;
  const adopted: SavedSequence[] = [];
  for (const sequence of sequences) {
    const original = qualified(sequence.schema, sequence.name);
    if (sequence.kind === 'serial') {
      await client.query(`ALTER SEQUENCE ${original} OWNED BY ${sql.source}.${ident(sequence.column)}`);
      adopted.push(sequence);
      continue;
    }
    const backup = await freeRelationName(client, sequence.schema, sequence.name, '_backup');
    const replacement = qualified(sequence.schema, sequence.replacement!);
    await client.query(`ALTER SEQUENCE ${original} RENAME TO ${ident(backup)}`);
    await client.query(`ALTER SEQUENCE ${replacement} RENAME TO ${ident(sequence.name)}`);
    const renamedOriginal = qualified(sequence.schema, backup);
    await client.query(`SELECT ${install}.continue_sequence($1::regclass, $2::regclass)`, [renamedOriginal, original]);
    await client.query(`SELECT ${install}.copy_sequence_attributes($1::regclass, $2::regclass)`, [
      renamedOriginal,
      original,
    ]);
    adopted.push({ ...sequence, backup });
  }
  return adopted;
}

/** At a rollback, before the routing view goes: the original table's sequences come back under their names. */
export async function returnSequences(
  context: TargetContext,
  client: pg.ClientBase,
  sequences: readonly SavedSequence[],
): Promise<void> {
  const { sql } = context;
  for (const sequence of sequences) {
    const current = qualified(sequence.schema, sequence.name);
    if (sequence.kind === 'serial') {
      await client.query(`ALTER SEQUENCE ${current} OWNED BY ${sql.source}.${ident(sequence.column)}`);
      continue;
    }
    if (!sequence.backup) continue;
    const original = qualified(sequence.schema, sequence.backup);
    // Values handed out since the swap stay taken; grants given since stay given.
    await client.query(`SELECT ${sql.install}.continue_sequence($1::regclass, $2::regclass)`, [current, original]);
    await client.query(`SELECT ${sql.install}.copy_sequence_attributes($1::regclass, $2::regclass)`, [
      current,
      original,
    ]);
    await client.query(`ALTER SEQUENCE ${current} RENAME TO ${ident(sequence.replacement!)}`);
    await client.query(`ALTER SEQUENCE ${original} RENAME TO ${ident(sequence.name)}`);
  }
}
