// Where the CLI connects, read as psql reads it: --url (a postgresql:// URL or
// a key=value string such as "service=prod"), then the service it names (or
// PGSERVICE) from pg_service.conf, then libpq's environment variables, then
// libpq's defaults. A password comes from the URL, the service, PGPASSWORD or
// ~/.pgpass. --ssh adds a tunnel through a bastion: the agent by default,
// --ssh-key FILE otherwise, secrets from the environment (never arguments,
// which other users can read in the process list).
import os from 'node:os';
import { HostKeyFingerprint, type SshTunnel as SshProfile } from '../../shared/connection.js';
import { ConnectionStringError, parseConnectionString, type ConnectionParams } from '../../shared/connection-url.js';
import type { ConnectionTarget } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import { findService, pgpassPassword } from '../db/libpq-files.js';

type Env = Record<string, string | undefined>;

export interface CliConnectionOptions {
  url?: string | undefined;
  ssh?: string | undefined;
  sshKey?: string | undefined;
  sshHostKey?: string | undefined;
}

export interface CliConnection {
  target: ConnectionTarget;
  password: string | undefined;
  sshSecret: string | undefined;
  sslPassword: string | undefined;
}

function invalid(message: string): PartwiseError {
  return new PartwiseError('invalid_input', message);
}

/** `user@host[:port]` (an IPv6 host in brackets). */
export function parseSshDestination(text: string): Pick<SshProfile, 'user' | 'host' | 'port'> {
  const match = /^([^@\s]+)@(\[[^\]]+\]|[^:@\s]+)(?::(\d+))?$/.exec(text.trim());
  if (!match) throw invalid(`--ssh: expected user@host or user@host:port, got "${text}"`);
  const port = match[3] === undefined ? 22 : Number(match[3]);
  if (port < 1 || port > 65535) throw invalid(`--ssh: port ${match[3]} is not from 1 to 65535`);
  return { user: match[1]!, host: match[2]!.replace(/^\[|\]$/g, ''), port };
}

function sshProfile(
  options: CliConnectionOptions,
  env: Env,
): { ssh: SshProfile; secret: string | undefined } | undefined {
  if (!options.ssh) {
    if (options.sshKey || options.sshHostKey) throw invalid('--ssh-key and --ssh-host-key go with --ssh user@host');
    return undefined;
  }
  const destination = parseSshDestination(options.ssh);
  let hostKey: string | undefined;
  if (options.sshHostKey) {
    const parsed = HostKeyFingerprint.safeParse(options.sshHostKey);
    if (!parsed.success)
      throw invalid(`--ssh-host-key: ${parsed.error.issues[0]!.message}, got "${options.sshHostKey}"`);
    hostKey = parsed.data;
  }
  const base = { ...destination, ...(hostKey ? { hostKey } : {}) };
  if (options.sshKey) {
    return { ssh: { ...base, auth: 'key', keyFile: options.sshKey }, secret: env.PARTWISE_SSH_PASSPHRASE };
  }
  if (env.PARTWISE_SSH_PASSWORD !== undefined) {
    return { ssh: { ...base, auth: 'password' }, secret: env.PARTWISE_SSH_PASSWORD };
  }
  return { ssh: { ...base, auth: 'agent' }, secret: undefined };
}

function parsed(text: string | undefined): ConnectionParams {
  if (text === undefined) return { ignored: [] };
  try {
    return parseConnectionString(text);
  } catch (error) {
    throw invalid(`--url: ${(error as Error).message}`);
  }
}

/** The connection the CLI's options and environment describe. */
export function cliConnection(options: CliConnectionOptions, rawEnv: Env = process.env): CliConnection {
  // libpq takes an empty variable for an unset one.
  const env: Env = Object.fromEntries(Object.entries(rawEnv).filter(([, value]) => value !== ''));
  const given = parsed(options.url);
  const serviceName = given.service ?? env.PGSERVICE;
  let service: ConnectionParams = { ignored: [] };
  if (serviceName) {
    try {
      service = findService(serviceName, env).params;
    } catch (error) {
      if (error instanceof ConnectionStringError) throw invalid(error.message);
      throw error;
    }
  }
  // Explicit parameters win over the service, which wins over the environment.
  const pick = <K extends keyof ConnectionParams>(key: K): ConnectionParams[K] => given[key] ?? service[key];
  const envPort = env.PGPORT;
  if (envPort !== undefined && !/^\d+$/.test(envPort)) throw invalid(`PGPORT: "${envPort}" is not a port number`);
  const user = pick('user') ?? env.PGUSER ?? os.userInfo().username;
  const sslModeText = pick('sslMode') ?? env.PGSSLMODE ?? 'prefer';
  const sslMode = parsed(`sslmode=${sslModeText}`).sslMode!;
  const envTimeout = env.PGCONNECT_TIMEOUT
    ? parsed(`connect_timeout=${env.PGCONNECT_TIMEOUT}`).connectTimeoutSeconds
    : undefined;
  const tunnel = sshProfile(options, env);
  const target: ConnectionTarget = {
    host: pick('host') ?? env.PGHOST ?? 'localhost',
    port: pick('port') ?? (envPort ? Number(envPort) : 5432),
    database: pick('database') ?? env.PGDATABASE ?? user,
    user,
    sslMode,
    sslRootCert: pick('sslRootCert'),
    sslCert: pick('sslCert'),
    sslKey: pick('sslKey'),
    applicationName: pick('applicationName') ?? env.PGAPPNAME,
    options: pick('options') ?? env.PGOPTIONS,
    connectTimeoutSeconds: pick('connectTimeoutSeconds') ?? envTimeout,
    ssh: tunnel?.ssh,
  };
  const password = pick('password') ?? env.PGPASSWORD ?? pgpassPassword(target, env);
  // libpq reads sslpassword only from the connection string (no environment variable), and so does this.
  return { target, password, sshSecret: tunnel?.secret, sslPassword: pick('sslPassword') };
}
