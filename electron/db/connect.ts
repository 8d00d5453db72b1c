// Connections to a user's PostgreSQL server: pool settings from a profile (SSL
// modes, certificate files and their fall-backs mapped the way libpq reads
// them, an SSH tunnel when the profile has one), and the connection test
// behind the Connections screen, which names the cause of a failure in one line.
import { createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { ConnectionFailure, ConnectionTestResult, SshTunnel as SshProfile } from '../../shared/connection.js';
import type { UrlProfile } from '../../shared/connection-url.js';
import { expandHome, SshTunnel, TunnelError } from './ssh-tunnel.js';

/** What is needed to reach a server: a saved profile or an unsaved draft (what a URL can say, and a tunnel). */
export interface ConnectionTarget extends UrlProfile {
  /** The bastion every connection goes through; host and port are then as the bastion sees them. */
  ssh?: SshProfile | undefined;
}

/**
 * How a connection is carried, beyond what the profile file says: the tunnel
 * a profile's connections share, if any, and the passphrase of an encrypted
 * client key (libpq's sslpassword), kept with the other secrets.
 */
export interface Transport {
  tunnel?: SshTunnel | undefined;
  sslPassword?: string | undefined;
}

/** A certificate or key file the profile names (or libpq's default) could not be read. */
export class TlsFileError extends Error {}

export const APPLICATION_NAME = 'partwise';
export const CONNECT_TIMEOUT_MS = 10_000;
/** The oldest major the engine supports. */
export const OLDEST_SUPPORTED_MAJOR = 13;

/** A host starting with `/` is the directory of a Unix socket, as in libpq. */
export function isSocketHost(host: string): boolean {
  return host.startsWith('/');
}

type TlsTarget = Pick<ConnectionTarget, 'host' | 'sslMode' | 'sslRootCert' | 'sslCert' | 'sslKey'>;

function readTlsFile(file: string, what: string): string {
  try {
    return readFileSync(expandHome(file), 'utf8');
  } catch (error) {
    throw new TlsFileError(`The ${what} ${file} cannot be read: ${(error as Error).message}`, { cause: error });
  }
}

/** The file a profile names, else libpq's environment variable, else its default under ~/.postgresql when present. */
function tlsFile(named: string | undefined, variable: string, fallback: string): string | undefined {
  if (named) return named;
  const file = process.env[variable] ?? path.join(os.homedir(), '.postgresql', fallback);
  return file !== 'system' && existsSync(file) ? file : undefined;
}

/**
 * The CA certificates to verify the server with: the profile's file, else
 * PGSSLROOTCERT, else ~/.postgresql/root.crt; without any, the system's.
 */
function rootCertificates(target: TlsTarget): string | undefined {
  const file = tlsFile(target.sslRootCert, 'PGSSLROOTCERT', 'root.crt');
  return file ? readTlsFile(file, 'CA certificate file') : undefined;
}

/**
 * The client certificate and key for certificate authentication: the
 * profile's, else PGSSLCERT/PGSSLKEY or ~/.postgresql/postgresql.{crt,key}.
 * An encrypted key is opened here with its passphrase, so that a missing or
 * wrong one is named as such (TLS would only say "bad decrypt").
 */
function clientCertificate(
  target: TlsTarget,
  sslPassword: string | undefined,
): { cert: string; key: string; passphrase?: string } | undefined {
  const certFile = tlsFile(target.sslCert, 'PGSSLCERT', 'postgresql.crt');
  if (!certFile) return undefined;
  const keyFile = tlsFile(target.sslKey, 'PGSSLKEY', 'postgresql.key');
  if (!keyFile) throw new TlsFileError(`The client certificate ${certFile} has no key file (sslkey).`);
  const key = readTlsFile(keyFile, 'client key file');
  try {
    // An empty passphrase rather than none: OpenSSL would otherwise ask on the terminal.
    createPrivateKey({ key, passphrase: sslPassword ?? '' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_OSSL_BAD_DECRYPT' && code !== 'ERR_MISSING_PASSPHRASE') {
      throw new TlsFileError(
        `The client key file ${keyFile} holds no private key OpenSSL can read: ${(error as Error).message}`,
      );
    }
    throw new TlsFileError(
      sslPassword
        ? `The passphrase of the client key ${keyFile} is wrong (sslpassword).`
        : `The client key ${keyFile} is encrypted: give its passphrase (sslpassword).`,
    );
  }
  return {
    cert: readTlsFile(certFile, 'client certificate file'),
    key,
    ...(sslPassword ? { passphrase: sslPassword } : {}),
  };
}

/**
 * The TLS options of an SSL mode, or false for none. `prefer` asks for TLS
 * without verifying it (as libpq does); the fall-back to plain text when the
 * server refuses TLS happens in `connectPool` and `testConnection`. The host
 * name is sent as SNI whenever it is a name (pg leaves it out for addresses).
 */
export function tlsOptionsFor(target: TlsTarget, sslPassword?: string): ConnectionOptions | false {
  // libpq never uses TLS over a Unix socket, whatever sslmode says.
  if (isSocketHost(target.host)) return false;
  if (target.sslMode === 'disable') return false;
  const client = clientCertificate(target, sslPassword);
  // As libpq: with a CA file, require checks the chain, like verify-ca.
  const mode = target.sslMode === 'require' && target.sslRootCert ? 'verify-ca' : target.sslMode;
  switch (mode) {
    case 'prefer':
    case 'require':
      return { rejectUnauthorized: false, ...client };
    case 'verify-ca': {
      const ca = rootCertificates(target);
      // The chain is verified; the host name is not, exactly like libpq's verify-ca.
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined, ...(ca ? { ca } : {}), ...client };
    }
    case 'verify-full': {
      const ca = rootCertificates(target);
      // SNI and the name checked; an address is checked too (pg passes it as host) but is never sent as SNI.
      const servername = isIP(target.host) === 0 ? { servername: target.host } : {};
      return { rejectUnauthorized: true, ...servername, ...(ca ? { ca } : {}), ...client };
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
  options: { plain?: boolean; transport?: Transport } = {},
): pg.PoolConfig {
  const tunnel = options.transport?.tunnel;
  return {
    host: target.host,
    port: target.port,
    database: target.database,
    user: target.user,
    ...(password !== undefined ? { password } : {}),
    ssl: options.plain ? false : tlsOptionsFor(target, options.transport?.sslPassword),
    application_name: target.applicationName || APPLICATION_NAME,
    ...(target.options ? { options: target.options } : {}),
    ...(tunnel ? { stream: tunnel.stream } : {}),
    connectionTimeoutMillis: connectTimeoutMs(target),
    // TCP keepalives from the first idle minute, so that a dead server or NAT is noticed by the OS.
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    max: 10,
    idleTimeoutMillis: 30_000,
  };
}

export const KEEPALIVE_IDLE_MS = 60_000;

export function connectTimeoutMs(target: Pick<ConnectionTarget, 'connectTimeoutSeconds'>): number {
  return target.connectTimeoutSeconds ? target.connectTimeoutSeconds * 1000 : CONNECT_TIMEOUT_MS;
}

/** The tunnel for a profile with SSH settings; undefined without. The caller closes it. */
export function tunnelFor(
  target: ConnectionTarget,
  sshSecret: string | undefined,
  knownHostsFile?: string,
): SshTunnel | undefined {
  if (!target.ssh) return undefined;
  return new SshTunnel({
    ...target.ssh,
    secret: sshSecret,
    knownHostsFile,
    readyTimeoutMs: connectTimeoutMs(target),
  });
}

const SSL_REFUSED = 'The server does not support SSL connections';

function isTlsRefused(error: unknown): boolean {
  return error instanceof Error && error.message === SSL_REFUSED;
}

/**
 * Connects a client; a failed attempt is ended without waiting (pg's end()
 * never settles for a connection the server or TLS already dropped).
 */
async function connectClient(client: pg.Client): Promise<void> {
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    void client.end().catch(() => undefined);
    throw error;
  }
}

export interface PoolSize {
  /** Most connections open at once (default 10). */
  max?: number;
  /** The server cancels any statement of the pool's sessions that runs longer (default: the server's setting). */
  statementTimeoutMs?: number;
}

/**
 * A pool for a profile. For `prefer`, one probe connection decides between TLS
 * and plain text, so that every pooled connection does not pay for a refused
 * TLS request first.
 */
export async function connectPool(
  target: ConnectionTarget,
  password: string | undefined,
  transport: Transport = {},
  size: PoolSize = {},
): Promise<pg.Pool> {
  let plain = false;
  if (target.sslMode === 'prefer' && !isSocketHost(target.host)) {
    const probe = new pg.Client(poolConfigFor(target, password, { transport }));
    try {
      await connectClient(probe);
      await probe.end().catch(() => undefined);
    } catch (error) {
      if (!isTlsRefused(error)) throw error;
      plain = true;
    }
  }
  const pool = new pg.Pool({
    ...poolConfigFor(target, password, { plain, transport }),
    ...(size.max ? { max: size.max } : {}),
    // Sent in the startup packet, so it is the session's default: a statement
    // that sets its own (SET LOCAL) still can.
    ...(size.statementTimeoutMs ? { statement_timeout: size.statementTimeoutMs } : {}),
  });
  // An idle connection dropped by the server must not take the process down;
  // the next query gets a fresh connection.
  pool.on('error', () => undefined);
  return pool;
}

interface ErrorLike {
  code?: string;
  message?: string;
  reason?: string;
}

/** The server's certificate chain does not lead to a CA the client trusts. */
const UNKNOWN_CA_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** TLS alerts the server sends when it does not accept the client's certificate. */
const CLIENT_CERTIFICATE_ALERTS = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
]);

function where(target: ConnectionTarget): string {
  return isSocketHost(target.host)
    ? `the Unix socket ${path.join(target.host, `.s.PGSQL.${target.port}`)}`
    : `${target.host}:${target.port}`;
}

function caSource(target: ConnectionTarget): string {
  if (target.sslRootCert) return `the CA file ${target.sslRootCert}`;
  if (process.env.PGSSLROOTCERT) return `PGSSLROOTCERT (${process.env.PGSSLROOTCERT})`;
  return existsSync(path.join(os.homedir(), '.postgresql', 'root.crt'))
    ? '~/.postgresql/root.crt'
    : "the system's CA certificates";
}

/** Which TLS check failed, in one line; null when the error is not about TLS. */
function tlsFailure(error: ErrorLike, target: ConnectionTarget): string | null {
  const code = error.code ?? '';
  const message = error.message ?? '';
  if (UNKNOWN_CA_CODES.has(code)) {
    return `TLS check failed (unknown CA): the certificate of ${where(target)} is not signed by a CA in ${caSource(target)}.`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS check failed (host name): the certificate of ${where(target)} is not valid for "${target.host}": ${(error.reason ?? message).replace(/[:.\s]+$/, '')}.`;
  }
  if (code === 'CERT_HAS_EXPIRED')
    return `TLS check failed (expired): the certificate of ${where(target)} has expired.`;
  if (code === 'CERT_NOT_YET_VALID')
    return `TLS check failed (not yet valid): the certificate of ${where(target)} is not valid yet.`;
  if (CLIENT_CERTIFICATE_ALERTS.has(code)) {
    return `TLS check failed (client certificate refused): ${where(target)} does not accept the client certificate${target.sslCert ? ` ${target.sslCert}` : ''} (${/(?:tlsv1|tlsv13|sslv3) alert [^:]+/.exec(message)?.[0] ?? code}).`;
  }
  if (code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH' || /key values mismatch/i.test(message)) {
    return `The client key ${target.sslKey ?? ''} does not belong to the client certificate ${target.sslCert ?? ''}.`.replace(
      /  +/g,
      ' ',
    );
  }
  if (code.startsWith('ERR_OSSL_') || code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'EPROTO') {
    return `TLS with ${where(target)} failed: ${message.split('\n')[0]}`;
  }
  return null;
}

/** One cause and one line for anything a connection attempt can throw. */
export function classifyConnectError(
  error: unknown,
  target: ConnectionTarget,
  timeoutMs: number,
): { failure: ConnectionFailure; message: string } {
  if (error instanceof TunnelError) return { failure: error.failure, message: error.message };
  if (error instanceof TlsFileError) return { failure: 'ssl', message: error.message };
  const errorLike = (typeof error === 'object' && error !== null ? error : {}) as ErrorLike;
  const { code, message = String(error) } = errorLike;
  if (isTlsRefused(error)) {
    return {
      failure: 'ssl',
      message: `${where(target)} does not accept TLS, and SSL mode "${target.sslMode}" requires it.`,
    };
  }
  const tls = tlsFailure(errorLike, target);
  if (tls) return { failure: 'ssl', message: tls };
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
      if (/certificate/i.test(message)) {
        return {
          failure: 'auth',
          message: `TLS check failed (client certificate refused): the server refused user "${target.user}": ${message}`,
        };
      }
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
  transport: Transport,
): Promise<{ version: string; versionNum: number; tls: boolean }> {
  const client = new pg.Client({
    ...poolConfigFor(target, password, { plain, transport }),
    connectionTimeoutMillis: timeoutMs,
  });
  await connectClient(client);
  try {
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

/**
 * Connects once, reads the server version, and says in one line what
 * happened. With an SSH tunnel in the profile, a tunnel is made for the test
 * alone (unless one is given) and closed after it.
 */
export async function testConnection(
  target: ConnectionTarget,
  password: string | undefined,
  options: {
    timeoutMs?: number;
    sshSecret?: string;
    sslPassword?: string;
    knownHostsFile?: string;
    transport?: Transport;
  } = {},
): Promise<ConnectionTestResult> {
  const timeoutMs = options.timeoutMs ?? connectTimeoutMs(target);
  const ownTunnel = options.transport ? undefined : tunnelFor(target, options.sshSecret, options.knownHostsFile);
  const transport = options.transport ?? { tunnel: ownTunnel, sslPassword: options.sslPassword };
  let server: Awaited<ReturnType<typeof tryConnect>>;
  try {
    try {
      server = await tryConnect(target, password, timeoutMs, false, transport);
    } catch (error) {
      if (target.sslMode !== 'prefer' || !isTlsRefused(error)) throw error;
      server = await tryConnect(target, password, timeoutMs, true, transport);
    }
  } catch (error) {
    const hostKey = error instanceof TunnelError ? error.hostKey : undefined;
    return {
      ok: false,
      ...classifyConnectError(error, target, timeoutMs),
      ...(hostKey ? { sshHostKey: hostKey } : {}),
    };
  } finally {
    await ownTunnel?.close();
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
  const transportName = isSocketHost(target.host) ? 'Unix socket' : server.tls ? 'TLS' : 'no TLS';
  const via = target.ssh ? ` through the SSH tunnel via ${target.ssh.host}` : '';
  return {
    ok: true,
    serverVersion: server.version,
    message: `Connected to PostgreSQL ${server.version} (${transportName})${via}.`,
  };
}
