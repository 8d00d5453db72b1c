// A command whose server cannot be reached fails in plain words that name the
// server ("Nothing is listening on db:5432 (connection refused)."), with the
// text node or PostgreSQL gave (`connect ECONNREFUSED 10.0.0.5:5432`) kept as
// the detail. The screens tell a lost server apart from any other failure by
// the error's kind: `connection`, or `auth` for a refused login.
import path from 'node:path';
import { CONNECT_TIMEOUT_MS, classifyConnectError, isSocketHost, type ConnectionTarget } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import { TunnelError } from '../db/ssh-tunnel.js';

interface ErrorLike {
  code?: string;
  message?: string;
}

/** node's socket errors: the server or the network is not there. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ENOENT',
]);

/** The server closed the session: shut down (fast or immediate), crashed, or not accepting connections yet. */
const SERVER_GONE = new Set(['57P01', '57P02', '57P03']);

function where(target: ConnectionTarget): string {
  return isSocketHost(target.host)
    ? `the Unix socket ${path.join(target.host, `.s.PGSQL.${target.port}`)}`
    : `${target.host}:${target.port}`;
}

/**
 * The error to show for a failure that is about reaching the server or
 * logging in to it; null for anything else (a failed query, a missing table),
 * which keeps its own message.
 */
export function connectionFailure(error: unknown, target: ConnectionTarget): PartwiseError | null {
  if (typeof error !== 'object' || error === null) return null;
  if (error instanceof TunnelError) {
    // A refused SSH login is the user's to fix like a refused password; anything else is the way to the server.
    const kind =
      error.failure === 'ssh' && /refused user|passphrase|password/.test(error.message) ? 'auth' : 'connection';
    return new PartwiseError(kind, error.message, { cause: error });
  }
  // A TLS check that failed (unknown CA, host name, expiry, client certificate) or a certificate file that cannot be read.
  const tls = classifyConnectError(error, target, CONNECT_TIMEOUT_MS);
  if (tls.failure === 'ssl') return new PartwiseError('connection', tls.message, { cause: error });
  const { code, message = '' } = error as ErrorLike;
  const raw = code && !message.includes(code) ? `${code}: ${message}` : message;
  const auth = (text: string) => new PartwiseError('auth', text, { detail: raw, cause: error });
  const lost = (text: string) => new PartwiseError('connection', text, { detail: raw, cause: error });

  if (code && SERVER_GONE.has(code)) {
    return lost(
      code === '57P03'
        ? `The server at ${where(target)} is starting up or shutting down and does not accept connections yet.`
        : `The server at ${where(target)} closed the connection: it is shutting down or restarting.`,
    );
  }
  // pg's own words when the socket closes under a query or a connection attempt runs out of time.
  if (!code && /^Connection terminated/.test(message)) {
    return /timeout/i.test(message)
      ? lost(`${where(target)} did not complete the connection within ${CONNECT_TIMEOUT_MS / 1000} s.`)
      : lost(`The connection to ${where(target)} was lost: the server closed it or the network dropped it.`);
  }
  const isSocket = code !== undefined && SOCKET_CODES.has(code);
  const isConnectionState = code !== undefined && code.startsWith('08');
  const isAuth = code?.startsWith('28') || (!code && /SASL|password must be a string|client password/i.test(message));
  const isTimeout = !code && /timeout expired/i.test(message);
  if (!isSocket && !isConnectionState && !isAuth && !isTimeout) return null;
  const classified = classifyConnectError(error, target, CONNECT_TIMEOUT_MS);
  if (isAuth || classified.failure === 'auth') return auth(classified.message);
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    return lost(`The connection to ${where(target)} was reset: the server closed it or the network dropped it.`);
  }
  return lost(classified.message);
}
