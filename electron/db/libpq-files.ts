// The files libpq reads besides the environment: pg_service.conf (named
// groups of connection parameters) and ~/.pgpass (passwords by host, port,
// database and user). Read the way libpq reads them, so that a DBA's existing
// files mean the same thing to Partwise as to psql.
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { applyKeyword, ConnectionStringError, type ConnectionParams } from '../../shared/connection-url.js';

export interface Service {
  name: string;
  params: ConnectionParams;
  /** The file and line of the `[name]` header. */
  file: string;
  line: number;
}

type Env = Record<string, string | undefined>;

/**
 * The service files in the order libpq reads them: PGSERVICEFILE or
 * ~/.pg_service.conf, then the system-wide one (PGSYSCONFDIR, else Debian's
 * /etc/postgresql-common, else /etc). A service in the first file hides the
 * same name in the second.
 */
export function serviceFiles(env: Env = process.env): string[] {
  const user = env.PGSERVICEFILE ?? path.join(os.homedir(), '.pg_service.conf');
  const system = env.PGSYSCONFDIR
    ? path.join(env.PGSYSCONFDIR, 'pg_service.conf')
    : ['/etc/postgresql-common/pg_service.conf', '/etc/pg_service.conf'].find(exists);
  return system ? [user, system] : [user];
}

function exists(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

function readIfPresent(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConnectionStringError(`${file} cannot be read: ${(error as Error).message}`);
  }
}

/** Every service of one file's text; errors name the file and line. */
export function parseServiceFile(text: string, file: string): Service[] {
  const services: Service[] = [];
  let current: Service | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = { name: header[1]!.trim(), params: { ignored: [] }, file, line: index + 1 };
      services.push(current);
      return;
    }
    const equals = line.indexOf('=');
    if (equals < 0) throw new ConnectionStringError(`${file}:${index + 1}: expected "keyword=value", got "${line}"`);
    if (!current) throw new ConnectionStringError(`${file}:${index + 1}: "${line}" comes before any [service] header`);
    const keyword = line.slice(0, equals).trim();
    if (keyword === 'service')
      throw new ConnectionStringError(`${file}:${index + 1}: nested service specifications are not supported`);
    try {
      // Values are taken as written to the end of the line, spaces included, as libpq does.
      applyKeyword(current.params, keyword, line.slice(equals + 1).trim());
    } catch (error) {
      throw new ConnectionStringError(`${file}:${index + 1}: ${(error as Error).message}`);
    }
  });
  return services;
}

/** Every service, the user's file first; a name listed twice keeps its first definition. */
export function readServices(env: Env = process.env): Service[] {
  const seen = new Set<string>();
  const all: Service[] = [];
  for (const file of serviceFiles(env)) {
    const text = readIfPresent(file);
    if (text === undefined) continue;
    for (const service of parseServiceFile(text, file)) {
      if (seen.has(service.name)) continue;
      seen.add(service.name);
      all.push(service);
    }
  }
  return all;
}

export function findService(name: string, env: Env = process.env): Service {
  const service = readServices(env).find((candidate) => candidate.name === name);
  if (!service) {
    throw new ConnectionStringError(`service "${name}" is not defined in ${serviceFiles(env).join(' or ')}`);
  }
  return service;
}

/** PGPASSFILE or ~/.pgpass. */
export function pgpassFile(env: Env = process.env): string {
  return env.PGPASSFILE ?? path.join(os.homedir(), '.pgpass');
}

/** One field of a .pgpass line: `\:` and `\\` are escapes, `*` matches anything. */
function splitPgpassLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === '\\' && i + 1 < line.length) {
      field += line[++i];
    } else if (c === ':' && fields.length < 4) {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/**
 * The password ~/.pgpass holds for a connection, or undefined. As libpq, a
 * file that group or others can read is ignored, and a socket connection
 * matches the host name "localhost".
 */
export function pgpassPassword(
  where: { host: string; port: number; database: string; user: string },
  env: Env = process.env,
): string | undefined {
  const file = pgpassFile(env);
  let text: string;
  try {
    if (process.platform !== 'win32' && (statSync(file).mode & 0o077) !== 0) return undefined;
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const host = where.host.startsWith('/') ? 'localhost' : where.host;
  const wanted = [host, String(where.port), where.database, where.user];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const fields = splitPgpassLine(raw);
    if (fields.length < 5) continue;
    if (wanted.every((value, i) => fields[i] === '*' || fields[i] === value)) return fields[4];
  }
  return undefined;
}
