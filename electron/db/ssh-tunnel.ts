// An SSH tunnel through a bastion, for every connection of one profile. pg
// opens each connection on a stream this module hands it (pg's `stream`
// option), which forwards over one shared SSH session (ssh2's direct-tcpip
// channels): no local port is opened, so no other local user can borrow the
// tunnel. The session is made on first use, checked against the pinned host
// key or known_hosts, kept alive, and made again after it drops; connections
// that were on the dropped session fail like any lost connection.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import type * as Ssh2Module from 'ssh2';
import type { Client, ClientChannel, ConnectConfig, ParsedKey, PublicKeyAuthMethod } from 'ssh2';

type Ssh2 = typeof Ssh2Module;
let ssh2: Promise<Ssh2> | undefined;

/**
 * ssh2, loaded on first use: most connections have no tunnel, and loading it
 * (CommonJS, its crypto set up on load) is a large part of the CLI's start.
 * It is CommonJS: its named exports are reached through the default one.
 */
function loadSsh2(): Promise<Ssh2> {
  ssh2 ??= import('ssh2').then((module) => (module as unknown as { default: Ssh2 }).default ?? module);
  return ssh2;
}
import type { ConnectionFailure, SshTunnel as SshProfile } from '../../shared/connection.js';
import { checkHostKey, type HostKey, type HostKeyVerdict } from './known-hosts.js';

export interface SshSettings extends SshProfile {
  /** The SSH password (auth: password) or the key's passphrase (auth: key). */
  secret?: string | undefined;
  /** OpenSSH's known_hosts; default ~/.ssh/known_hosts. */
  knownHostsFile?: string | undefined;
  /** The agent's socket for auth: agent; default SSH_AUTH_SOCK. */
  agentSocket?: string | undefined;
  /** How long making the SSH session may take. */
  readyTimeoutMs?: number | undefined;
}

/** A tunnel failure, already in plain words; `failure` is the connection test's verdict. */
export class TunnelError extends Error {
  constructor(
    message: string,
    readonly failure: ConnectionFailure,
    /** The bastion's key, when it is not known yet: for the user to compare and accept. */
    readonly hostKey?: HostKey,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TunnelError';
  }
}

export const SSH_KEEPALIVE_MS = 15_000;

export function expandHome(file: string): string {
  return file.startsWith('~/') ? path.join(os.homedir(), file.slice(2)) : file;
}

export function defaultKnownHostsFile(): string {
  return path.join(os.homedir(), '.ssh', 'known_hosts');
}

function readOptional(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

function bastion(settings: SshSettings): string {
  return `${settings.user}@${settings.host}:${settings.port}`;
}

/**
 * The private key, parsed now so that a wrong passphrase is named as such
 * rather than as a refused login, and parsed once: with a passphrase, the
 * parse derives the key with bcrypt (about a second of this process's CPU,
 * the Electron main process's), which ssh2 would do again from the file's
 * bytes.
 */
function privateKey(settings: SshSettings, utils: Ssh2['utils']): ParsedKey {
  const file = expandHome(settings.keyFile!);
  let data: Buffer;
  try {
    data = readFileSync(file);
  } catch (error) {
    throw new TunnelError(`SSH key file ${file} cannot be read: ${(error as Error).message}`, 'ssh', undefined, {
      cause: error,
    });
  }
  const parsed = utils.parseKey(data, settings.secret);
  if (parsed instanceof Error) {
    const encrypted = /encrypted|passphrase/i.test(parsed.message);
    const message = !encrypted
      ? `SSH key file ${file} is not a private key ssh2 can read: ${parsed.message}`
      : settings.secret
        ? `The passphrase of the SSH key file ${file} is wrong.`
        : `SSH key file ${file} is protected by a passphrase, and none is saved.`;
    throw new TunnelError(message, 'ssh', undefined, { cause: parsed });
  }
  // A file of the newer OpenSSH format parses to a list of its keys (one),
  // which ssh2's types leave out.
  const keys = parsed as ParsedKey | ParsedKey[];
  return Array.isArray(keys) ? keys[0]! : keys;
}

function authConfig(settings: SshSettings, utils: Ssh2['utils']): Partial<ConnectConfig> {
  switch (settings.auth) {
    case 'key': {
      // The parsed key goes to ssh2 as an authentication method: its
      // privateKey setting is typed for the file's bytes, which it parses again.
      const method: PublicKeyAuthMethod = {
        type: 'publickey',
        username: settings.user,
        key: privateKey(settings, utils),
      };
      return { authHandler: [method] };
    }
    case 'password':
      if (!settings.secret) throw new TunnelError(`No SSH password is saved for ${bastion(settings)}.`, 'ssh');
      return { password: settings.secret };
    case 'agent': {
      const agent = settings.agentSocket ?? process.env.SSH_AUTH_SOCK;
      if (!agent) {
        throw new TunnelError(
          'No SSH agent is running (SSH_AUTH_SOCK is not set): choose a key file or a password.',
          'ssh',
        );
      }
      return { agent };
    }
  }
}

function verdictError(settings: SshSettings, verdict: HostKeyVerdict): TunnelError {
  const key = { fingerprint: verdict.fingerprint, keyType: verdict.keyType };
  switch (verdict.status) {
    case 'unknown':
      return new TunnelError(
        `The SSH host key of ${settings.host}:${settings.port} is not known yet: ${verdict.keyType} ${verdict.fingerprint}. Compare it with the bastion's (ssh-keygen -lf /etc/ssh/ssh_host_${verdict.keyType.replace(/^ssh-|-.*$/g, '')}_key.pub) before accepting it.`,
        'ssh_host_key',
        key,
      );
    // A changed or revoked key is not offered for acceptance: replacing a pin is a deliberate edit.
    case 'changed':
      return new TunnelError(
        `The SSH host key of ${settings.host}:${settings.port} has changed: it is now ${verdict.keyType} ${verdict.fingerprint}, but ${verdict.where} expects ${verdict.expected}. Someone may be intercepting the connection; nothing was sent.`,
        'ssh_host_key',
      );
    case 'revoked':
      return new TunnelError(
        `The SSH host key of ${settings.host}:${settings.port} (${verdict.fingerprint}) is marked @revoked in ${verdict.where}.`,
        'ssh_host_key',
      );
    case 'trusted':
      throw new Error('a trusted key is not an error');
  }
}

/** ssh2's errors (and the socket's), in plain words naming the bastion. */
function sessionError(settings: SshSettings, error: Error & { level?: string; code?: string }): TunnelError {
  const where = `the SSH server ${settings.host}:${settings.port}`;
  const say = (message: string, failure: ConnectionFailure) =>
    new TunnelError(message, failure, undefined, { cause: error });
  if (error.level === 'client-authentication') {
    const how = { key: 'the key', password: 'the password', agent: "the agent's keys" }[settings.auth];
    return say(`The SSH server ${settings.host}:${settings.port} refused user "${settings.user}" with ${how}.`, 'ssh');
  }
  if (error.level === 'client-timeout') {
    return say(`The SSH server ${settings.host}:${settings.port} did not complete the handshake in time.`, 'timeout');
  }
  switch (error.code) {
    case 'ECONNREFUSED':
      return say(`Nothing is listening on ${where} (connection refused).`, 'ssh');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return say(`The SSH host name "${settings.host}" could not be resolved.`, 'ssh');
    case 'ETIMEDOUT':
      return say(`The SSH server ${settings.host}:${settings.port} did not answer in time.`, 'timeout');
  }
  return say(`The SSH connection to ${where} failed: ${error.message}`, 'ssh');
}

export class SshTunnel {
  private session: Promise<Client> | undefined;
  private closed = false;
  private readonly sessions = new Set<Client>();
  /** How many SSH sessions were made (a dropped one is made again): for tests and logs. */
  opened = 0;

  constructor(private readonly settings: SshSettings) {}

  /** pg's `stream` option: one forwarded stream per database connection. */
  readonly stream = (): Duplex => new TunnelStream(this);

  /** A channel to host:port as the bastion sees it. */
  async forward(host: string, port: number): Promise<ClientChannel> {
    const client = await this.connected();
    return new Promise<ClientChannel>((resolve, reject) => {
      try {
        client.forwardOut('127.0.0.1', 0, host, port, (error, channel) => {
          if (error) {
            reject(
              new TunnelError(
                `The bastion ${this.settings.host} could not open a connection to ${host}:${port}: ${error.message.replace(/^\(SSH\) /, '')}`,
                'refused',
                undefined,
                { cause: error },
              ),
            );
          } else resolve(channel);
        });
      } catch (error) {
        // The session went away between the check and the call ("Not connected").
        reject(sessionError(this.settings, error as Error));
      }
    });
  }

  /** The current SSH session, made (again) when there is none. */
  private connected(): Promise<Client> {
    if (this.closed) return Promise.reject(new TunnelError('The SSH tunnel is closed.', 'ssh'));
    if (!this.session) {
      const forget = (): void => {
        if (this.session === made) this.session = undefined;
      };
      const made = this.open(forget);
      this.session = made;
      made.catch(() => {
        forget();
      });
    }
    return this.session;
  }

  /** A new session; `onClose` runs when it ends (or fails), so that the next use makes another. */
  private async open(onClose: () => void): Promise<Client> {
    const settings = this.settings;
    const { Client, utils } = await loadSsh2();
    if (this.closed) throw new TunnelError('The SSH tunnel is closed.', 'ssh');
    const config: ConnectConfig = authConfig(settings, utils);
    const knownHostsFile = expandHome(settings.knownHostsFile ?? defaultKnownHostsFile());
    let verdict: HostKeyVerdict | undefined;
    const client = new Client();
    const made = new Promise<Client>((resolve, reject) => {
      let ready = false;
      client.on('ready', () => {
        ready = true;
        this.opened++;
        resolve(client);
      });
      client.on('error', (error: Error & { level?: string }) => {
        if (ready) return; // a drop after the handshake: 'close' follows and the next use reconnects
        if (verdict && verdict.status !== 'trusted') reject(verdictError(settings, verdict));
        else reject(sessionError(settings, error));
      });
      client.on('close', () => {
        this.sessions.delete(client);
        onClose();
        if (!ready)
          reject(
            new TunnelError(
              `The SSH server ${settings.host}:${settings.port} closed the connection during the handshake.`,
              'ssh',
            ),
          );
      });
    });
    this.sessions.add(client);
    client.connect({
      ...config,
      host: settings.host,
      port: settings.port,
      username: settings.user,
      readyTimeout: settings.readyTimeoutMs ?? 20_000,
      keepaliveInterval: SSH_KEEPALIVE_MS,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        verdict = checkHostKey({
          host: settings.host,
          port: settings.port,
          key,
          pinned: settings.hostKey,
          knownHosts: readOptional(knownHostsFile),
          knownHostsFile,
        });
        return verdict.status === 'trusted';
      },
    });
    return made;
  }

  /** Ends the session; streams still open through it close with it. */
  async close(): Promise<void> {
    this.closed = true;
    this.session = undefined;
    for (const client of this.sessions) client.end();
    this.sessions.clear();
  }
}

/**
 * What pg writes to and reads from: a Duplex that looks enough like a socket
 * (connect, setNoDelay, setKeepAlive) and carries the bytes over an SSH
 * channel once `connect(port, host)` has opened it.
 */
class TunnelStream extends Duplex {
  private channel: ClientChannel | undefined;

  constructor(private readonly tunnel: SshTunnel) {
    super();
  }

  connect(port: number, host: string): this {
    this.tunnel.forward(host, port).then(
      (channel) => {
        if (this.destroyed) {
          channel.close();
          return;
        }
        this.channel = channel;
        channel.on('data', (chunk: Buffer) => {
          if (!this.push(chunk)) channel.pause();
        });
        channel.on('end', () => this.push(null));
        channel.on('close', () => this.destroy());
        channel.on('error', (error: Error) => this.destroy(error));
        this.emit('connect');
      },
      (error: Error) => this.destroy(error),
    );
    return this;
  }

  // The bastion's TCP connection carries the SSH keepalives; these are settings of a socket, which this is not.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  // pg's pool refs and unrefs idle sockets; the SSH session's own socket is what keeps the process alive.
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  override _read(): void {
    this.channel?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (!this.channel) {
      callback(new Error('The SSH channel is not open.'));
      return;
    }
    this.channel.write(chunk, callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.channel?.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.channel?.close();
    // TLS destroys this stream before it emits its own error (unknown CA, expired...); closing a
    // turn later lets pg hear that error first, rather than "Connection terminated unexpectedly".
    setImmediate(() => callback(error));
  }
}
