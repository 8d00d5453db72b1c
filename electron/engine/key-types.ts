// Which columns can be partition keys. A key value names partitions and is
// stored as text in the tracker, so its text form must not depend on session
// settings: that rules out dates, times and floating point (DateStyle,
// TimeZone, extra_float_digits change how they print).
import type { ColumnInfo } from './catalog.js';

const STABLE_TEXT_TYPES = new Map<number, string>([
  [16, 'boolean'],
  [20, 'bigint'],
  [21, 'smallint'],
  [23, 'integer'],
  [25, 'text'],
  [1042, 'character'],
  [1043, 'character varying'],
  [1700, 'numeric'],
  [2950, 'uuid'],
  [19, 'name'],
]);

export interface KeyTypeVerdict {
  usable: boolean;
  reason?: string;
}

export function keyTypeVerdict(column: Pick<ColumnInfo, 'typeOid' | 'type' | 'isEnum' | 'generated'>): KeyTypeVerdict {
  if (column.generated !== '') {
    return { usable: false, reason: 'a generated column cannot be a partition key' };
  }
  if (STABLE_TEXT_TYPES.has(column.typeOid) || column.isEnum) return { usable: true };
  return {
    usable: false,
    reason: `${column.type} values print differently depending on session settings, so they cannot name partitions reliably; partition by an integer, text, uuid or enum column instead`,
  };
}
