// An OpenSSH server (Debian's openssh-server) on 127.0.0.1, started by the
// tests of SSH tunnels as the real thing a bastion runs: a host key generated
// per run, a test OS user that may only forward ports, a password and two
// client keys (one protected by a passphrase), and an ssh-agent holding the
// plain key. Needs root (to create the user and set its password) and sshd:
// without them the tests fail, saying what to install, instead of skipping.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../embedded/cluster.js';
import { isRoot } from '../embedded/run-as.js';
import { fingerprintOf } from '../db/known-hosts.js';

export const SSH_TEST_USER = 'partwise-ssh';
const SSHD = '/usr/sbin/sshd';

export interface SshServer {
  host: '127.0.0.1';
  port: number;
  user: string;
  password: string;
  /** Private keys accepted for the user; `passphraseKey` needs `passphrase`. */
  key: string;
  passphraseKey: string;
  passphrase: string;
  /** A key the server does not accept. */
  strangerKey: string;
  /** An ssh-agent socket holding `key`. */
  agentSocket: string;
  /** The server's host key: its fingerprint, and a known_hosts line for it. */
  hostKey: { fingerprint: string; knownHostsLine: string; keyType: string };
  /** A known_hosts file listing the host key (and nothing else). */
  knownHostsFile: string;
  /** Kills the server and every session it serves: the bastion goes away. */
  kill(): Promise<void>;
  /** Starts it again on the same port, with its first host key unless `newHostKey` makes it present another one. */
  start(options?: { newHostKey?: boolean }): Promise<void>;
  /** How many forwarded connections sshd logged so far. */
  forwardedConnections(): number;
  stop(): Promise<void>;
}

function requireSshd(): void {
  const missing: string[] = [];
  if (!existsSync(SSHD)) missing.push(`${SSHD} (apt-get install openssh-server)`);
  for (const tool of ['ssh-keygen', 'ssh-agent', 'ssh-add']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      missing.push(`${tool} (apt-get install openssh-client)`);
    }
  }
  if (missing.length > 0) throw new Error(`The SSH tunnel tests need OpenSSH: missing ${missing.join(', ')}.`);
  if (!isRoot()) throw new Error('The SSH tunnel tests start sshd with a test OS user and must run as root.');
}

/**
 * The test user's password, one per machine: test files that start a server
 * at the same time (the db suite runs files in parallel) share the OS user,
 * and a password set by each would lock the others out mid-test. Made once,
 * published atomically (a link fails if another file made it first), read by
 * every later server.
 */
function sharedPassword(): string {
  const file = path.join(os.tmpdir(), `${SSH_TEST_USER}.password`);
  if (!existsSync(file)) {
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
    writeFileSync(draft, randomBytes(12).toString('base64url'), { mode: 0o600 });
    try {
      linkSync(draft, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(draft, { force: true });
    }
  }
  return readFileSync(file, 'utf8');
}

function ensureUser(password: string): void {
  const exists = () => {
    try {
      execFileSync('id', ['-u', SSH_TEST_USER], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  };
  if (!exists()) {
    try {
      execFileSync(
        'useradd',
        ['--system', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', SSH_TEST_USER],
        { stdio: 'ignore' },
      );
    } catch (error) {
      // Another test file's server made it meanwhile.
      if (!exists()) throw error;
    }
  }
  // chpasswd locks /etc/shadow, and refuses at once while another holds it.
  for (let attempt = 1; ; attempt++) {
    try {
      execFileSync('chpasswd', { input: `${SSH_TEST_USER}:${password}\n`, stdio: ['pipe', 'ignore', 'pipe'] });
      return;
    } catch (error) {
      if (attempt === 10) throw error;
      execFileSync('sleep', ['0.2']);
    }
  }
}

function keygen(file: string, passphrase = ''): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', path.basename(file), '-f', file]);
}

/** The pids of a process's children, from /proc (sshd forks one per session). */
function childPids(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

function killTree(pid: number): void {
  for (const child of childPids(pid)) killTree(child);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

async function waitForBanner(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd exited during start-up:\n${log()}`);
    const banner = await new Promise<string>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString());
      });
      socket.once('error', () => resolve(''));
    });
    if (banner.startsWith('SSH-')) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd did not answer on 127.0.0.1:${port} within 20 s:\n${log()}`);
}

export async function startSshServer(): Promise<SshServer> {
  requireSshd();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-test-ssh-'));
  // sshd reads authorized_keys as the test user.
  await fs.chmod(dir, 0o711);
  const password = sharedPassword();
  const passphrase = randomBytes(9).toString('base64url');
  ensureUser(password);
  const file = (name: string) => path.join(dir, name);
  keygen(file('host_key'));
  keygen(file('client_key'));
  keygen(file('passphrase_key'), passphrase);
  keygen(file('stranger_key'));
  await fs.writeFile(
    file('authorized_keys'),
    `${await fs.readFile(file('client_key.pub'), 'utf8')}${await fs.readFile(file('passphrase_key.pub'), 'utf8')}`,
    { mode: 0o644 },
  );
  // sshd's privilege separation directory, which Debian's package makes at boot.
  await fs.mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const config = (hostKey: string) =>
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${file('sshd.pid')}`,
      `AuthorizedKeysFile ${file('authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      'PermitRootLogin no',
      `AllowUsers ${SSH_TEST_USER}`,
      'AllowTcpForwarding yes',
      'PermitTTY no',
      'X11Forwarding no',
      'LogLevel VERBOSE',
      '',
    ].join('\n');
  let hostKeyFile: string;
  let child: ChildProcess | undefined;
  let log = '';
  const start = async (options: { newHostKey?: boolean } = {}) => {
    hostKeyFile = file('host_key');
    if (options.newHostKey) {
      hostKeyFile = file(`host_key_${randomBytes(3).toString('hex')}`);
      keygen(hostKeyFile);
    }
    await fs.writeFile(file('sshd_config'), config(hostKeyFile));
    const started = spawn(SSHD, ['-D', '-e', '-f', file('sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    started.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child = started;
    await waitForBanner(port, started, () => log);
  };
  const kill = async () => {
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    killTree(child.pid);
    await exited;
  };

  const hostKeyLine = (await fs.readFile(file('host_key.pub'), 'utf8')).trim().split(/\s+/);
  const knownHostsLine = `[127.0.0.1]:${port} ${hostKeyLine[0]} ${hostKeyLine[1]}`;
  await fs.writeFile(file('known_hosts'), `${knownHostsLine}\n`);

  const agentSocket = file('agent.sock');
  const agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(agentSocket); i++) await new Promise((r) => setTimeout(r, 50));
  execFileSync('ssh-add', ['-q', file('client_key')], {
    env: { ...process.env, SSH_AUTH_SOCK: agentSocket },
    stdio: 'ignore',
  });

  await start();
  return {
    host: '127.0.0.1',
    port,
    user: SSH_TEST_USER,
    password,
    key: file('client_key'),
    passphraseKey: file('passphrase_key'),
    passphrase,
    strangerKey: file('stranger_key'),
    agentSocket,
    hostKey: {
      fingerprint: fingerprintOf(Buffer.from(hostKeyLine[1]!, 'base64')),
      keyType: hostKeyLine[0]!,
      knownHostsLine,
    },
    knownHostsFile: file('known_hosts'),
    kill,
    start,
    forwardedConnections: () =>
      (log.match(/direct-tcpip|Connection from|channel \d+: new \[direct-tcpip\]/g) ?? []).length,
    async stop() {
      await kill();
      agent.kill('SIGTERM');
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}
