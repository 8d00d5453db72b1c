// Installs or upgrades Partwise's SQL (sql/) in a database: one transaction,
// serialized by an advisory lock, so concurrent installers (two app windows,
// a CLI run) cannot interleave.
import type pg from 'pg';
import { ident } from '../db/sql.js';
import { PartwiseError } from '../db/errors.js';
import { PARTWISE_VERSION } from '../version.js';
import { bootstrapSql, forSchema, functionFiles, migrationFiles } from './sql-files.js';

export const DEFAULT_SCHEMA = 'partwise';

/**
 * The install schema's name is substituted into the SQL files as a quoted
 * identifier; restricting it to plain lower-case names keeps it valid inside
 * string literals and format() templates in those files as well.
 */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function validateSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new PartwiseError(
      'invalid_input',
      `Install schema "${schema}" is not allowed: use lower-case letters, digits and underscores, starting with a letter or underscore.`,
    );
  }
  return schema;
}

export interface InstallResult {
  schema: string;
  version: string;
  previousVersion: string | null;
  appliedMigrations: string[];
}

export async function installedVersion(client: pg.ClientBase, schema = DEFAULT_SCHEMA): Promise<string | null> {
  const table = `${ident(validateSchemaName(schema))}.installation`;
  const { rows: exists } = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [
    table,
  ]);
  if (!exists[0]?.present) return null;
  const { rows } = await client.query<{ version: string }>(`SELECT version FROM ${table}`);
  return rows[0]?.version ?? null;
}

export async function install(client: pg.ClientBase, schema = DEFAULT_SCHEMA): Promise<InstallResult> {
  validateSchemaName(schema);
  const quoted = ident(schema);
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('partwise.install'))`);
    const previousVersion = await installedVersion(client, schema);
    await client.query(forSchema(bootstrapSql().text, quoted));
    const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${quoted}.schema_migrations`);
    const applied = new Set(rows.map((row) => row.name));
    const appliedMigrations: string[] = [];
    for (const file of migrationFiles()) {
      if (applied.has(file.name)) continue;
      await client.query(forSchema(file.text, quoted));
      await client.query(`INSERT INTO ${quoted}.schema_migrations (name) VALUES ($1)`, [file.name]);
      appliedMigrations.push(file.name);
    }
    for (const file of functionFiles()) {
      await client.query(forSchema(file.text, quoted));
    }
    await client.query(
      `INSERT INTO ${quoted}.installation (version) VALUES ($1)
       ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, installed_at = now()`,
      [PARTWISE_VERSION],
    );
    await client.query('COMMIT');
    return { schema, version: PARTWISE_VERSION, previousVersion, appliedMigrations };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw PartwiseError.from(error, `Installing Partwise into schema ${schema} failed`);
  }
}
