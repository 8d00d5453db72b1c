// Installs or upgrades Partwise's SQL (sql/) in a database: one transaction,
// serialized by an advisory lock, so concurrent installers (two app windows,
// a CLI run) cannot interleave. What is installed is recorded (the version,
// each migration's checksum, a checksum of the functions), so that an older
// program never overwrites a newer installation (as pg_repack refuses a
// mismatched one) and an edited migration is caught instead of skipped.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ident, relationExists } from '../db/sql.js';
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
  /** Whether the functions were (re-)created: on a new install, a version change, or changed SQL. */
  functionsReplaced: boolean;
}

interface Installed {
  version: string;
  /** Null for installations made before the checksum was recorded. */
  sqlChecksum: string | null;
}

async function installed(client: pg.ClientBase | pg.Pool, schema: string): Promise<Installed | null> {
  const table = `${ident(validateSchemaName(schema))}.installation`;
  if (!(await relationExists(client, schema, 'installation'))) return null;
  // to_jsonb: installations older than the checksum column have no such column.
  const { rows } = await client.query<{ version: string; sql_checksum: string | null }>(
    `SELECT version, to_jsonb(i) ->> 'sql_checksum' AS sql_checksum FROM ${table} i`,
  );
  return rows[0] ? { version: rows[0].version, sqlChecksum: rows[0].sql_checksum } : null;
}

export async function installedVersion(client: pg.ClientBase, schema = DEFAULT_SCHEMA): Promise<string | null> {
  return (await installed(client, schema))?.version ?? null;
}

/** Orders dotted versions numerically (0.10.0 after 0.9.1); a pre-release tag is ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (version: string): number[] =>
    version
      .split(/[-+]/)[0]!
      .split('.')
      .map((part) => Number(part) || 0);
  const [left, right] = [parts(a), parts(b)];
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = (left[i] ?? 0) - (right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

function checksum(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n'), 'utf8').digest('hex');
}

/** The checksum of sql/functions as this program would install them. */
function functionsChecksum(): string {
  return checksum(
    functionFiles()
      .map((file) => `${file.name}\n${file.text}`)
      .join('\n'),
  );
}

function newerInstallation(schema: string, installedAs: string, reason: string): PartwiseError {
  return new PartwiseError(
    'blocked',
    `Schema ${schema} holds the SQL of Partwise ${installedAs} (${reason}); this is Partwise ${PARTWISE_VERSION}, which does not overwrite a newer installation`,
    {
      hint: `Use Partwise ${installedAs} or later with this database, or install this version into another schema (--schema).`,
    },
  );
}

/**
 * Refuses to work with SQL another version (or build) of Partwise installed,
 * as pg_repack does, for what only reads (verify): it does not install, so it
 * must not call functions whose signatures or behaviour this program does not
 * know. Whatever changes things (migrate, resume, rollback, finalize,
 * maintenance) installs first instead, which upgrades an older installation
 * and refuses a newer one.
 */
export async function requireCurrentSql(client: pg.ClientBase | pg.Pool, schema = DEFAULT_SCHEMA): Promise<void> {
  const found = await installed(client, schema);
  if (!found) {
    throw new PartwiseError('not_found', `Partwise is not installed in schema ${schema}`, {
      hint: `partwise install --schema ${schema} installs it (a migration does too).`,
    });
  }
  if (found.version === PARTWISE_VERSION && found.sqlChecksum === functionsChecksum()) return;
  if (compareVersions(found.version, PARTWISE_VERSION) > 0)
    throw newerInstallation(schema, found.version, 'a later version');
  throw new PartwiseError(
    'blocked',
    `Schema ${schema} holds the SQL of Partwise ${found.version}${found.version === PARTWISE_VERSION ? ' from another build' : ''}; this is Partwise ${PARTWISE_VERSION}`,
    {
      hint: `Upgrade it first: partwise install --schema ${schema} (starting or resuming a migration upgrades it too).`,
    },
  );
}

/**
 * Installs or upgrades the SQL. Migrations run once each and are recorded with
 * a checksum: an applied migration whose file changed since is refused, never
 * run again. Functions are re-created only when the version or the SQL
 * differs from what is installed. A newer installation (a later version, or a
 * migration this version does not have) is refused before anything changes.
 */
export async function install(client: pg.ClientBase, schema = DEFAULT_SCHEMA): Promise<InstallResult> {
  validateSchemaName(schema);
  const quoted = ident(schema);
  await client.query('BEGIN');
  try {
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('partwise.install'))`);
    const before = await installed(client, schema);
    if (before && compareVersions(before.version, PARTWISE_VERSION) > 0) {
      throw newerInstallation(schema, before.version, 'a later version');
    }
    const sqlChecksum = functionsChecksum();
    const current = before?.version === PARTWISE_VERSION && before.sqlChecksum === sqlChecksum;
    // The bookkeeping DDL takes strong locks: only when something may change.
    if (!current) await client.query(forSchema(bootstrapSql().text, quoted));
    const { rows } = await client.query<{ name: string; checksum: string | null }>(
      `SELECT name, checksum FROM ${quoted}.schema_migrations`,
    );
    const applied = new Map(rows.map((row) => [row.name, row.checksum]));
    const files = migrationFiles();
    const unknown = [...applied.keys()].filter((name) => !files.some((file) => file.name === name));
    if (unknown.length > 0) {
      throw newerInstallation(
        schema,
        before?.version ?? 'unknown',
        `${unknown.join(', ')} applied, not part of this version`,
      );
    }
    const appliedMigrations: string[] = [];
    for (const file of files) {
      const sum = checksum(file.text);
      if (!applied.has(file.name)) {
        await client.query(forSchema(file.text, quoted));
        await client.query(`INSERT INTO ${quoted}.schema_migrations (name, checksum) VALUES ($1, $2)`, [
          file.name,
          sum,
        ]);
        appliedMigrations.push(file.name);
      } else if (applied.get(file.name) === null) {
        // Applied before checksums were recorded: this is the text it was applied from.
        await client.query(`UPDATE ${quoted}.schema_migrations SET checksum = $2 WHERE name = $1`, [file.name, sum]);
      } else if (applied.get(file.name) !== sum) {
        throw new PartwiseError(
          'blocked',
          `sql/${file.name} differs from the file applied to schema ${schema}: a released migration was edited`,
          { hint: 'Restore the released file and put the change into a new migration.' },
        );
      }
    }
    // A current installation is left untouched: the install only read.
    const functionsReplaced = !current || appliedMigrations.length > 0;
    if (functionsReplaced) {
      for (const file of functionFiles()) await client.query(forSchema(file.text, quoted));
      await client.query(
        `INSERT INTO ${quoted}.installation (version, sql_checksum) VALUES ($1, $2)
         ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version, sql_checksum = EXCLUDED.sql_checksum,
           installed_at = now()`,
        [PARTWISE_VERSION, sqlChecksum],
      );
    }
    await client.query('COMMIT');
    return {
      schema,
      version: PARTWISE_VERSION,
      previousVersion: before?.version ?? null,
      appliedMigrations,
      functionsReplaced,
    };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw PartwiseError.from(error, `Installing Partwise into schema ${schema} failed`);
  }
}
