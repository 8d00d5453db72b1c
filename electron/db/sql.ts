// The one place that turns names into SQL text. Values never go through here:
// they are always passed as query parameters.
import pg from 'pg';

/** A quoted identifier: `ident('My Table')` is `"My Table"`. */
export function ident(name: string): string {
  return pg.escapeIdentifier(name);
}

/** A quoted, schema-qualified name. */
export function qualified(schema: string, name: string): string {
  return `${ident(schema)}.${ident(name)}`;
}
