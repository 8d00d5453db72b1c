// Connections to a user's PostgreSQL server: pool settings from a profile (SSL
// modes mapped the way libpq reads them), and the connection test behind the
// Connections screen, which names the cause of a failure in one line.
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { ConnectionTestResult, SslMode } from '../../shared/connection.js';

/** What is needed to reach a server: a saved profile or an unsaved draft. */
export interface ConnectionTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  sslMode: SslMode;
}

export const APPLICATION_NAME = 'partwise';
export const CONNECT_TIMEOUT_MS = 10_000;
/** The oldest major the engine supports. */
export const OLDEST_SUPPORTED_MAJOR = 13;

/** A host starting with `/` is the directory of a Unix socket, as in libpq. */
export function isSocketHost(host: string): boolean {
  return host.startsWith('/');
}

/**
 * The CA certificates libpq would trust for verify-ca / verify-full:
 * PGSSLROOTCERT, else ~/.postgresql/root.crt; without either, the system's.
 */
function rootCertificates(): string | undefined {
  const file = process.env.PGSSLROOTCERT ?? path.join(os.homedir(), '.postgresql', 'root.crt');
  if (file === 'system' || !existsSync(file)) return undefined;
  return readFileSync(file, 'utf8');
}

/**
 * The TLS options of an SSL mode, or false for none. `prefer` asks for TLS
 * without verifying it (as libpq does); the fall-back to plain text when the
 * server refuses TLS happens in `connectPool` and `testConnection`.
 */
export function tlsOptionsFor(target: Pick<ConnectionTarget, 'host' | 'sslMode'>): ConnectionOptions | false {
  // libpq never uses TLS over a Unix socket, whatever sslmode says.
  if (isSocketHost(target.host)) return false;
  switch (target.sslMode) {
    case 'disable':
      return false;
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false };
    case 'verify-ca': {
      const ca = rootCertificates();
      // The chain is verified; the host name is not, exactly like libpq's verify-ca.
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...(ca ? { ca } : {}) };
    }
    case 'verify-full': {
      const ca = rootCertificates();
      return { rejectUnauthorized: true, servername: target.host, ...(ca ? { ca } : {}) };
    }
  }
}

/**
 * pg settings for a profile. `password` undefined lets pg fall back to
 * PGPASSWORD or ~/.pgpass, as psql does. `plain` drops TLS, for `prefer`
 * against a server without it.
 */
export function poolConfigFor(
  target: ConnectionTarget,
  password: string | undefined,
  options: { plain?: boolean } = {},
): pg.PoolConfig {
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    ...(password !== undefined ? { password } : {}),
    ssl: options.plain ? false : tlsOptionsFor(target),
    application_name: APPLICATION_NAME,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    max: 10,
    idleTimeoutMillis: 30_000,
  };
}

const SSL_REFUSED = 'The server does not support SSL connections';

function isTlsRefused(error: unknown): boolean {
  return error instanceof Error && error.message === SSL_REFUSED;
}

/**
 * A pool for a profile. For `prefer`, one probe connection decides between TLS
 * and plain text, so that every pooled connection does not pay for a refused
 * TLS request first.
 */
export async function connectPool(target: ConnectionTarget, password: string | undefined): Promise<pg.Pool> {
  let plain = false;
  if (target.sslMode === 'prefer' && !isSocketHost(target.host)) {
    const probe = new pg.Client(poolConfigFor(target, password));
    probe.on('error', () => undefined);
    try {
      await probe.connect();
    } catch (error) {
      if (!isTlsRefused(error)) throw error;
      plain = true;
    } finally {
      await probe.end().catch(() => undefined);
    }
  }
  const pool = new pg.Pool(poolConfigFor(target, password, { plain }));
  // An idle connection dropped by the server must not take the process down;
  // the next query gets a fresh connection.
  pool.on('error', () => undefined);
  return pool;
}

type Failure = NonNullable<ConnectionTestResult['failure']>;

interface ErrorLike {
  code?: string;
  message?: string;
}

const TLS_CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

function where(target: ConnectionTarget): string {
  return isSocketHost(target.host)
    ? `the Unix socket ${path.join(target.host, `.s.PGSQL.${target.port}`)}`
    : `${target.host}:${target.port}`;
}

/** One cause and one line for anything a connection attempt can throw. */
export function classifyConnectError(
  error: unknown,
  target: ConnectionTarget,
  timeoutMs: number,
): { failure: Failure; message: string } {
  const { code, message = String(error) } = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  if (isTlsRefused(error)) {
    return {
      failure: 'ssl',
      message: `${where(target)} does not accept TLS, and SSL mode "${target.sslMode}" requires it.`,
    };
  }
  if (code && TLS_CERTIFICATE_CODES.has(code)) {
    return { failure: 'ssl', message: `The server's TLS certificate was not accepted: ${message}` };
  }
  switch (code) {
    case 'ECONNREFUSED':
      return { failure: 'refused', message: `Nothing is listening on ${where(target)} (connection refused).` };
    case 'ENOENT':
      if (isSocketHost(target.host)) {
        return { failure: 'refused', message: `No server socket exists at ${where(target)}.` };
      }
      break;
    case 'ETIMEDOUT':
      return { failure: 'timeout', message: `${where(target)} did not answer in time.` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { failure: 'other', message: `The host name "${target.host}" could not be resolved.` };
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { failure: 'other', message: `${target.host} is unreachable from this machine.` };
    case '28P01':
      return { failure: 'auth', message: `Password authentication failed for user "${target.user}".` };
    case '28000':
      // Covers an unknown role under trust/peer and a pg_hba.conf reject; the server's text says which.
      return { failure: 'auth', message: `The server refused user "${target.user}": ${message}` };
    case '3D000':
      return { failure: 'unknown_database', message: `Database "${target.database}" does not exist on this server.` };
    case '53300':
      return { failure: 'other', message: `The server has no free connection slots: ${message}` };
    case '57P03':
      return { failure: 'other', message: `The server is starting up or shutting down: ${message}` };
  }
  if (/timeout/i.test(message)) {
    return {
      failure: 'timeout',
      message: `${where(target)} did not complete the connection within ${timeoutMs / 1000} s.`,
    };
  }
  if (/SASL|password must be a string|client password/i.test(message)) {
    return {
      failure: 'auth',
      message: `The server asks for a password for user "${target.user}" and none is saved (nor in PGPASSWORD or ~/.pgpass).`,
    };
  }
  if (code?.startsWith('28')) return { failure: 'auth', message };
  return { failure: 'other', message: message.split('\n')[0] ?? message };
}

async function tryConnect(
  target: ConnectionTarget,
  password: string | undefined,
  timeoutMs: number,
  plain: boolean,
): Promise<{ version: string; versionNum: number; tls: boolean }> {
  const client = new pg.Client({ ...poolConfigFor(target, password, { plain }), connectionTimeoutMillis: timeoutMs });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ version: string; num: string; tls: boolean | null }>(
      `SELECT current_setting('server_version') AS version,
              current_setting('server_version_num') AS num,
              (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS tls`,
    );
    const row = rows[0]!;
    return { version: row.version, versionNum: Number(row.num), tls: row.tls === true };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Connects once, reads the server version, and says in one line what happened. */
export async function testConnection(
  target: ConnectionTarget,
  password: string | undefined,
  options: { timeoutMs?: number } = {},
): Promise<ConnectionTestResult> {
  const timeoutMs = options.timeoutMs ?? CONNECT_TIMEOUT_MS;
  let server: Awaited<ReturnType<typeof tryConnect>>;
  try {
    try {
      server = await tryConnect(target, password, timeoutMs, false);
    } catch (error) {
      if (target.sslMode !== 'prefer' || !isTlsRefused(error)) throw error;
      server = await tryConnect(target, password, timeoutMs, true);
    }
  } catch (error) {
    return { ok: false, ...classifyConnectError(error, target, timeoutMs) };
  }
  const major = Math.floor(server.versionNum / 10_000);
  if (major < OLDEST_SUPPORTED_MAJOR) {
    return {
      ok: false,
      failure: 'other',
      serverVersion: server.version,
      message: `Connected, but PostgreSQL ${server.version} is older than ${OLDEST_SUPPORTED_MAJOR}, the oldest version Partwise supports.`,
    };
  }
  const transport = isSocketHost(target.host) ? 'Unix socket' : server.tls ? 'TLS' : 'no TLS';
  return {
    ok: true,
    serverVersion: server.version,
    message: `Connected to PostgreSQL ${server.version} (${transport}).`,
  };
}
