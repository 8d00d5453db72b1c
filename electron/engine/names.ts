// Names of the objects a migration creates, computed without touching the
// database so that a dry-run plan stays read-only. The same rules live in
// sql/functions/01_derived_name.sql (derived_name), 02_key_tag.sql (key_tag)
// and 03_partition_names.sql (candidate names); a test checks that both give
// the same names.
import { createHash } from 'node:crypto';
import { PartwiseError } from '../db/errors.js';

const MAX_IDENTIFIER_BYTES = 63;
/** How many candidate names a partition may try (the preferred one, then _1 .. _99). */
export const NAME_ATTEMPTS = 100;

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** base + suffix within 63 bytes; long bases are cut on a character boundary and tagged with a hash of the whole base. */
export function derivedName(base: string, suffix: string): string {
  if (Buffer.byteLength(base + suffix) <= MAX_IDENTIFIER_BYTES) return base + suffix;
  const tag = `_${md5(base).slice(0, 8)}`;
  const room = MAX_IDENTIFIER_BYTES - Buffer.byteLength(suffix) - Buffer.byteLength(tag);
  if (room < 1) throw new PartwiseError('internal', `name suffix "${suffix}" is too long`);
  let cut = [...base].slice(0, room).join('');
  while (Buffer.byteLength(cut) > room) cut = [...cut].slice(0, -1).join('');
  return cut + tag + suffix;
}

/**
 * The part of a level-1 partition name that stands for a (canonical) key
 * value: the value itself when it is 1 to 20 lower-case ASCII letters and
 * digits, else a sanitized prefix and a hash of the exact value.
 */
export function keyTag(value: string): string {
  if (/^[a-z0-9]{1,20}$/.test(value)) return value;
  const sanitized = [
    ...value
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, ''),
  ]
    .slice(0, 20)
    .join('');
  return `${sanitized}_${md5(value).slice(0, 12)}`;
}

/** The attempt-th name to try for a partition: base + suffix, then with _1, _2... appended. */
export function partitionNameCandidate(base: string, suffix: string, attempt: number): string {
  return derivedName(base, attempt === 0 ? suffix : `${suffix}_${attempt}`);
}

/** Base and suffix of a key's level-1 partition names. */
export function levelOneNameParts(nameStem: string, keyValue: string): [string, string] {
  return [`${nameStem}_${keyTag(keyValue)}`, ''];
}

/** Base and suffix of a bucket's leaf names, under its level-1 partition's name. */
export function leafNameParts(levelOne: string, bucketColumn: string, bucketId: number): [string, string] {
  return [levelOne, `_${bucketColumn}_${bucketId}`];
}

/**
 * The first candidate name of (base, suffix) that `taken` does not hold:
 * the name create_partition gives a new partition. Undefined when all are taken.
 */
export function firstFreeName(base: string, suffix: string, taken: ReadonlySet<string>): string | undefined {
  for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
    const name = partitionNameCandidate(base, suffix, attempt);
    if (!taken.has(name)) return name;
  }
  return undefined;
}

export interface MigrationNames {
  partitionedTable: string;
  backupTable: string;
  nameStem: string;
}

export function migrationNames(table: string, keyColumn: string): MigrationNames {
  return {
    partitionedTable: derivedName(table, '_partitioned'),
    backupTable: derivedName(table, '_backup'),
    nameStem: `${table}_${keyColumn}`,
  };
}
