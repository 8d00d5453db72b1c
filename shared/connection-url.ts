// libpq connection strings, both ways: a `postgresql://` URL or a `key=value`
// string (as psql takes them) read into profile fields, and a profile written
// back out as a URL and as a psql command. Parameters a profile cannot hold
// are listed, never silently dropped.
import type { SslMode } from './connection.js';

/** What a connection string says, in the profile's terms. */
export interface ConnectionParams {
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  sslMode?: SslMode;
  sslRootCert?: string;
  sslCert?: string;
  sslKey?: string;
  /** The passphrase of an encrypted client key: a secret, like the password. */
  sslPassword?: string;
  applicationName?: string;
  options?: string;
  connectTimeoutSeconds?: number;
  /** A pg_service.conf entry to read the rest from. */
  service?: string;
  /** Parameters understood by libpq but not kept by a profile, e.g. `target_session_attrs`. */
  ignored: string[];
}

export class ConnectionStringError extends Error {}

const SSL_MODES: readonly string[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/** Applies one libpq keyword (the same names in URLs' query strings, conninfo strings and pg_service.conf). */
export function applyKeyword(params: ConnectionParams, keyword: string, value: string): void {
  switch (keyword) {
    case 'host':
    case 'hostaddr':
      if (value.includes(','))
        throw new ConnectionStringError(`${keyword}: several hosts ("${value}") are not supported; give one`);
      if (value !== '') params.host = value;
      return;
    case 'port':
      if (value !== '') params.port = portNumber(value, 'port');
      return;
    case 'dbname':
      params.database = value;
      return;
    case 'user':
      params.user = value;
      return;
    case 'password':
      params.password = value;
      return;
    case 'sslmode':
      if (!SSL_MODES.includes(value)) {
        throw new ConnectionStringError(`sslmode: "${value}" is not one of ${SSL_MODES.join(', ')}`);
      }
      // libpq's allow tries plain text first and TLS after; prefer is the nearest mode that Partwise offers.
      params.sslMode = (value === 'allow' ? 'prefer' : value) as SslMode;
      return;
    case 'sslrootcert':
      params.sslRootCert = value;
      return;
    case 'sslcert':
      params.sslCert = value;
      return;
    case 'sslkey':
      params.sslKey = value;
      return;
    case 'sslpassword':
      params.sslPassword = value;
      return;
    case 'application_name':
      params.applicationName = value;
      return;
    case 'options':
      params.options = value;
      return;
    case 'connect_timeout': {
      if (!/^\d+$/.test(value.trim()))
        throw new ConnectionStringError(`connect_timeout: "${value}" is not a number of seconds`);
      const seconds = Number(value.trim());
      // libpq: zero (or nothing) waits forever; a profile always has a bound, so the default applies.
      if (seconds > 0) params.connectTimeoutSeconds = Math.max(seconds, 2);
      return;
    }
    case 'service':
      params.service = value;
      return;
    default:
      params.ignored.push(keyword);
  }
}

function portNumber(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new ConnectionStringError(`${what}: "${text}" is not a port number from 1 to 65535`);
  }
  return Number(text);
}

function decode(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConnectionStringError(`${what}: bad percent-encoding in "${text}"`);
  }
}

/** `postgresql://user:password@host:port/dbname?key=value&...`, as libpq reads it. */
export function parseConnectionUrl(url: string): ConnectionParams {
  const match = /^(postgres(?:ql)?):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i.exec(url.trim());
  if (!match) throw new ConnectionStringError('The URL must start with postgresql:// (or postgres://)');
  const [, , authority = '', path = '', query] = match;
  const params: ConnectionParams = { ignored: [] };
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userInfo = authority.slice(0, at);
    const colon = userInfo.indexOf(':');
    const user = decode(colon >= 0 ? userInfo.slice(0, colon) : userInfo, 'user');
    if (user !== '') params.user = user;
    if (colon >= 0) params.password = decode(userInfo.slice(colon + 1), 'password');
  }
  const hostPort = authority.slice(at + 1);
  if (hostPort.includes(','))
    throw new ConnectionStringError(`host: several hosts ("${hostPort}") are not supported; give one`);
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(hostPort);
  const [hostText, portText] = bracketed
    ? [bracketed[1]!, bracketed[2]]
    : hostPort.includes(':')
      ? [hostPort.slice(0, hostPort.lastIndexOf(':')), hostPort.slice(hostPort.lastIndexOf(':') + 1)]
      : [hostPort, undefined];
  if (hostText !== '') params.host = decode(hostText, 'host');
  if (portText !== undefined && portText !== '') params.port = portNumber(portText, 'port');
  if (path.length > 1) params.database = decode(path.slice(1), 'database');
  for (const pair of (query ?? '').split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    if (equals < 0) throw new ConnectionStringError(`"${decode(pair, 'parameter')}" has no value (expected key=value)`);
    // libpq decodes %XX only: a + stays a +.
    applyKeyword(
      params,
      decode(pair.slice(0, equals), 'parameter'),
      decode(pair.slice(equals + 1), pair.slice(0, equals)),
    );
  }
  return params;
}

/** `host=db port=5432 dbname='my db' service=prod`: libpq's keyword/value form (single quotes, backslash escapes). */
export function parseConninfo(text: string): ConnectionParams {
  const params: ConnectionParams = { ignored: [] };
  let i = 0;
  const s = text;
  const skipSpace = () => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  skipSpace();
  while (i < s.length) {
    const keyStart = i;
    while (i < s.length && s[i] !== '=' && !/\s/.test(s[i]!)) i++;
    const keyword = s.slice(keyStart, i);
    skipSpace();
    if (s[i] !== '=') throw new ConnectionStringError(`"${keyword}" has no value (expected ${keyword}=value)`);
    i++;
    skipSpace();
    let value = '';
    if (s[i] === "'") {
      i++;
      for (;;) {
        if (i >= s.length) throw new ConnectionStringError(`${keyword}: unterminated quoted value`);
        const c = s[i]!;
        if (c === "'") {
          i++;
          break;
        }
        if (c === '\\' && i + 1 < s.length) i++;
        value += s[i]!;
        i++;
      }
    } else {
      while (i < s.length && !/\s/.test(s[i]!)) {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i]!;
        i++;
      }
    }
    applyKeyword(params, keyword, value);
    skipSpace();
  }
  return params;
}

/** A URL or a keyword/value string, whichever `text` is. */
export function parseConnectionString(text: string): ConnectionParams {
  return /^postgres(ql)?:\/\//i.test(text.trim()) ? parseConnectionUrl(text) : parseConninfo(text);
}

/** The parts of a profile that a connection string can say. */
export interface UrlProfile {
  host: string;
  port: number;
  database: string;
  user: string;
  sslMode: SslMode;
  sslRootCert?: string | undefined;
  sslCert?: string | undefined;
  sslKey?: string | undefined;
  applicationName?: string | undefined;
  options?: string | undefined;
  connectTimeoutSeconds?: number | undefined;
}

// What encodeURIComponent leaves alone, minus nothing libpq needs escaped; a space must be %20, never +.
const enc = (value: string) => encodeURIComponent(value);

/** The profile as a URL, without any password. */
export function connectionUrl(profile: UrlProfile): string {
  const socket = profile.host.startsWith('/');
  const host = socket ? '' : profile.host.includes(':') ? `[${profile.host}]` : enc(profile.host);
  const query: Array<[string, string]> = [];
  if (socket) query.push(['host', profile.host]);
  query.push(['sslmode', profile.sslMode]);
  if (profile.sslRootCert) query.push(['sslrootcert', profile.sslRootCert]);
  if (profile.sslCert) query.push(['sslcert', profile.sslCert]);
  if (profile.sslKey) query.push(['sslkey', profile.sslKey]);
  if (profile.applicationName) query.push(['application_name', profile.applicationName]);
  if (profile.options) query.push(['options', profile.options]);
  if (profile.connectTimeoutSeconds) query.push(['connect_timeout', String(profile.connectTimeoutSeconds)]);
  const search = query.map(([key, value]) => `${key}=${enc(value)}`).join('&');
  const port = socket ? `?port=${profile.port}&` : `:${profile.port}`;
  return socket
    ? `postgresql://${enc(profile.user)}@/${enc(profile.database)}${port}${search}`
    : `postgresql://${enc(profile.user)}@${host}${port}/${enc(profile.database)}?${search}`;
}

/** POSIX shell quoting: one word, whatever the value holds. */
export function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The psql command that opens the same connection (the password comes from ~/.pgpass or a prompt). */
export function psqlCommand(profile: UrlProfile): string {
  return `psql ${shellQuote(connectionUrl(profile))}`;
}
