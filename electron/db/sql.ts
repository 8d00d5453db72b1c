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

/**
 * Whether a relation exists (to_regclass: neither an error nor a lock when it
 * does not). For what older installs lack, or optional extensions.
 */
export async function relationExists(db: Pick<pg.ClientBase, 'query'>, schema: string, name: string): Promise<boolean> {
  const { rows } = await db.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    qualified(schema, name),
  ]);
  return rows[0]!.present;
}
