// Names of the objects a migration creates, computed without touching the
// database so that a dry-run plan stays read-only. The same rules live in
// sql/functions/01_derived_name.sql (derived_name); a test checks that both
// give the same names.
import { createHash } from 'node:crypto';

const MAX_IDENTIFIER_BYTES = 63;

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** base + suffix within 63 bytes; long bases are cut on a character boundary and tagged with a hash of the whole base. */
export function derivedName(base: string, suffix: string): string {
  if (Buffer.byteLength(base + suffix) <= MAX_IDENTIFIER_BYTES) return base + suffix;
  const tag = `_${md5(base).slice(0, 8)}`;
  const room = MAX_IDENTIFIER_BYTES - Buffer.byteLength(suffix) - Buffer.byteLength(tag);
  if (room < 1) throw new Error(`name suffix "${suffix}" is too long`);
  let cut = [...base].slice(0, room).join('');
  while (Buffer.byteLength(cut) > room) cut = [...cut].slice(0, -1).join('');
  return cut + tag + suffix;
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
