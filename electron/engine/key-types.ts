// Which columns can be partition keys, and the canonical text of a key value.
// A key value is stored as text (tracker, bucket rows, partition bounds and
// names), so values the key type calls equal must give one text, or a key
// gets two trackers and two overlapping partitions (numeric 1 and 1.0). Only
// types whose equality was tested against their canonical text are accepted.
// The same rules live in sql/functions/02_key_text.sql (the SQL side uses
// them for routing, change replay and provisioning); a test checks that both
// agree.
import type { Queryable } from './catalog.js';
import { ident } from '../db/sql.js';
import { PartwiseError } from '../db/errors.js';

export type KeyKind = 'integer' | 'numeric' | 'text' | 'citext' | 'uuid' | 'boolean' | 'enum';

/** What decides whether a column can be a key: its type (domains resolved to their base) and collation. */
export interface KeyTypeFacts {
  /** The column's type as written (format_type). */
  type: string;
  /** The base type's name in pg_catalog (or `citext`), after domains. */
  baseType: string;
  /** pg_type.typtype of the base type: b, c, e, r, m, p. */
  typtype: string;
  isArray: boolean;
  /** Name of a nondeterministic collation the column uses, if any. */
  nondeterministicCollation: string | null;
  generated: '' | 's' | 'v';
}

export type KeyTypeVerdict = { usable: true; kind: KeyKind } | { usable: false; reason: string };

const INTEGER_TYPES = new Set(['int2', 'int4', 'int8']);
const TEXT_TYPES = new Set(['text', 'varchar', 'bpchar', 'name']);
const DATE_TIME_TYPES = new Set(['date', 'timestamp', 'timestamptz', 'time', 'timetz', 'interval']);

export function keyTypeVerdict(facts: KeyTypeFacts): KeyTypeVerdict {
  const { type, baseType } = facts;
  if (facts.generated !== '') return { usable: false, reason: 'a generated column cannot be a partition key' };
  if (INTEGER_TYPES.has(baseType)) return { usable: true, kind: 'integer' };
  if (baseType === 'numeric') return { usable: true, kind: 'numeric' };
  if (TEXT_TYPES.has(baseType) || (baseType === 'citext' && facts.typtype === 'b')) {
    if (facts.nondeterministicCollation !== null) {
      return {
        usable: false,
        reason: `${type} uses the nondeterministic collation ${facts.nondeterministicCollation}: values it calls equal (by case or accent) have different texts, and no canonical form of them is known`,
      };
    }
    return { usable: true, kind: baseType === 'citext' ? 'citext' : 'text' };
  }
  if (baseType === 'uuid') return { usable: true, kind: 'uuid' };
  if (baseType === 'bool') return { usable: true, kind: 'boolean' };
  if (facts.typtype === 'e') return { usable: true, kind: 'enum' };
  const reason =
    baseType === 'float4' || baseType === 'float8'
      ? `${type}: 0 and -0 are equal but print differently, and the printed digits depend on the session setting extra_float_digits`
      : DATE_TIME_TYPES.has(baseType)
        ? `${type} values print according to the session settings DateStyle, IntervalStyle and TimeZone, so one value can have several texts`
        : baseType === 'money'
          ? `${type} values print according to the session setting lc_monetary`
          : baseType === 'bytea'
            ? `${type} values print according to the session setting bytea_output`
            : baseType === 'json' || baseType === 'jsonb'
              ? `${type} documents that are equal can be written differently (1.0 and 1, key order, spacing)`
              : facts.isArray
                ? `${type}: arrays compare element by element with the element type's equality, so equal arrays can be written differently`
                : facts.typtype === 'c'
                  ? `${type}: composite values compare field by field with each field's equality, so equal values can be written differently`
                  : `${type} is not among the key types whose equality Partwise has tested (integers, numeric, text, varchar, char, name, citext, uuid, boolean, enums, and domains over them)`;
  return { usable: false, reason };
}

/** SQL for the canonical text of a key value of that kind (fully qualified: any search_path). */
export function keyTextSql(kind: KeyKind, expression: string): string {
  switch (kind) {
    case 'numeric':
      return `pg_catalog.trim_scale(${expression})::pg_catalog.text`;
    case 'citext':
      return `pg_catalog.lower((${expression})::pg_catalog.text COLLATE pg_catalog."default")`;
    default:
      return `(${expression})::pg_catalog.text`;
  }
}

/** The key-type facts of every column of a table (qualified, quoted name, or OID), by column name. */
export async function tableKeyTypeFacts(db: Queryable, table: string | number): Promise<Map<string, KeyTypeFacts>> {
  const { rows } = await db.query<{
    name: string;
    type: string;
    base_type: string;
    typtype: string;
    is_array: boolean;
    nondeterministic: string | null;
    generated: '' | 's' | 'v';
  }>(
    `WITH RECURSIVE base AS (
       SELECT a.attnum, t.oid, t.typtype, t.typbasetype, t.typname, t.typnamespace, t.typelem, t.typlen
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
       UNION ALL
       SELECT b.attnum, t.oid, t.typtype, t.typbasetype, t.typname, t.typnamespace, t.typelem, t.typlen
         FROM base b JOIN pg_type t ON t.oid = b.typbasetype WHERE b.typtype = 'd'
     )
     SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            CASE WHEN b.typnamespace = 'pg_catalog'::regnamespace OR b.typname = 'citext' THEN b.typname::text ELSE '' END AS base_type,
            b.typtype::text AS typtype, b.typelem <> 0 AND b.typlen = -1 AS is_array,
            (SELECT collname FROM pg_collation c WHERE c.oid = a.attcollation AND NOT c.collisdeterministic) AS nondeterministic,
            a.attgenerated::text AS generated
       FROM pg_attribute a JOIN base b ON b.attnum = a.attnum
      WHERE a.attrelid = $1::regclass AND b.typtype <> 'd'`,
    [typeof table === 'number' ? String(table) : table],
  );
  return new Map(
    rows.map((row) => [
      row.name,
      {
        type: row.type,
        baseType: row.base_type,
        typtype: row.typtype,
        isArray: row.is_array,
        nondeterministicCollation: row.nondeterministic,
        generated: row.generated,
      },
    ]),
  );
}

/**
 * The canonical key text of a column of a table, as SQL over an expression
 * naming the column (default: the column itself). Throws for a key type that
 * cannot be used (the plan blocks such tables before anything starts).
 */
export async function keyTextOf(
  db: Queryable,
  table: string,
  column: string,
): Promise<(expression?: string) => string> {
  const facts = (await tableKeyTypeFacts(db, table)).get(column);
  if (!facts) throw new PartwiseError('not_found', `${table} has no column ${column}`);
  const verdict = keyTypeVerdict(facts);
  if (!verdict.usable)
    throw new PartwiseError('invalid_input', `${column} of ${table} cannot be a partition key: ${verdict.reason}`);
  return (expression = ident(column)) => keyTextSql(verdict.kind, expression);
}
