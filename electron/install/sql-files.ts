// Finds and reads the versioned SQL of the sql/ folder, wherever the code runs
// from (sources under tsx, the bundled app, the packaged app's resources).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PartwiseError } from '../db/errors.js';

export const SCHEMA_PLACEHOLDER = '@extschema@';

function findSqlDir(): string {
  const fromEnv = process.env.PARTWISE_SQL_DIR;
  if (fromEnv && existsSync(path.join(fromEnv, 'migrations'))) return fromEnv;
  const resources = (process as NodeJS.Process & { resourcesPath?: string }).resourcesPath;
  const candidates: string[] = resources ? [path.join(resources, 'sql')] : [];
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    candidates.push(path.join(dir, 'sql'));
    dir = path.dirname(dir);
  }
  const found = candidates.find((candidate) => existsSync(path.join(candidate, 'migrations')));
  if (!found) throw new PartwiseError('internal', `Partwise SQL files not found (looked in ${candidates.join(', ')})`);
  return found;
}

export interface SqlFile {
  name: string;
  text: string;
}

let sqlDir: string | undefined;

function dir(): string {
  sqlDir ??= findSqlDir();
  return sqlDir;
}

function readFolder(folder: string): SqlFile[] {
  const full = path.join(dir(), folder);
  return readdirSync(full)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => ({ name: `${folder}/${file}`, text: readFileSync(path.join(full, file), 'utf8') }));
}

export function bootstrapSql(): SqlFile {
  return { name: 'bootstrap.sql', text: readFileSync(path.join(dir(), 'bootstrap.sql'), 'utf8') };
}

export function migrationFiles(): SqlFile[] {
  return readFolder('migrations');
}

export function functionFiles(): SqlFile[] {
  return readFolder('functions');
}

/** Substitutes the install schema, already validated and quoted by the caller. */
export function forSchema(text: string, quotedSchema: string): string {
  return text.split(SCHEMA_PLACEHOLDER).join(quotedSchema);
}
