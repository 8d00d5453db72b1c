// The Sandbox connection: a private PostgreSQL that Partwise starts itself from
// the embedded binaries, seeded once with sample data, so that the app shows
// something real on a machine without a server.
//
// How it is reached:
// - Linux and macOS: a Unix socket inside the private data directory, trust
//   authentication, no TCP listener at all. No password exists; only this OS
//   user (and root) can open the socket.
// - Windows: 127.0.0.1 with SCRAM and a random password that lives in memory
//   only. Each start sets a new one through single-user mode (which needs
//   file access to the data directory, not a password), so nothing secret is
//   ever written to disk.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import type { ConnectionProfile } from '../../shared/connection.js';
import type { ConnectionTarget } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import { ident } from '../db/sql.js';
import { BUNDLED_MAJOR } from '../embedded/binaries.js';
import { isRoot, runAsUser, traversableByOthers } from '../embedded/run-as.js';
import { freePort, serverBinaries, startCluster, stopStaleServer, type RunningCluster } from '../embedded/cluster.js';
import { seedSandbox, type SeedOutcome } from './seed.js';

export const SANDBOX_ID = 'sandbox';
export const SANDBOX_NAME = 'Sandbox';
export const SANDBOX_DATABASE = 'sandbox';
const SUPERUSER = 'postgres';
/** Over a Unix socket the port only names the socket file, which sits in a private directory: no clash possible. */
const SOCKET_PORT = 5432;
/** sun_path holds 104 bytes on macOS, 108 on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH = 103;
/** Where root's sandboxes go when the data directory is out of reach of the `postgres` OS user. */
const ROOT_FALLBACK_DIR = '/var/lib/partwise-sandbox';

export type SandboxListen = 'socket' | 'tcp';
export type SandboxStatus = 'stopped' | 'starting' | 'running';

export interface SandboxOptions {
  /** The app's data directory; the sandbox lives in `<dataDir>/sandbox`. */
  dataDir: string;
  onLog?: (line: string) => void;
  /** Defaults to `tcp` on Windows and `socket` elsewhere. */
  listen?: SandboxListen;
}

export interface SandboxConnection {
  profile: ConnectionProfile;
  target: ConnectionTarget;
  /** Only for `tcp`: the password of this run, never stored. */
  password: string | undefined;
  seed: SeedOutcome;
}

export interface Sandbox {
  status(): SandboxStatus;
  /** Whether the sandbox's cluster was created by an earlier start. */
  exists(): Promise<boolean>;
  /** The profile as listed, running or not. */
  profile(): Promise<ConnectionProfile>;
  /** Starts the server (creating and seeding it the first time); concurrent and repeated calls share one start. */
  start(): Promise<SandboxConnection>;
  stop(): Promise<void>;
}

export function defaultListen(platform: NodeJS.Platform = process.platform): SandboxListen {
  return platform === 'win32' ? 'tcp' : 'socket';
}

/**
 * The sandbox's home directory. Under root the server runs as `postgres`, which
 * must be able to reach its data directory; when the app's data directory is
 * private (e.g. under /root), the sandbox moves to a root-owned place outside it.
 */
export async function sandboxHome(dataDir: string): Promise<string> {
  const preferred = path.join(path.resolve(dataDir), 'sandbox');
  if (!isRoot() || (await traversableByOthers(path.dirname(preferred)))) return preferred;
  const tag = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  return path.join(ROOT_FALLBACK_DIR, tag);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One Partwise process per sandbox: a second one would stop the first one's server as "stale". */
async function acquireOwnerLock(home: string): Promise<() => Promise<void>> {
  const file = path.join(home, 'owner.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return async () => {
        const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
        if (owner === process.pid) await fs.rm(file, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && isAlive(owner)) {
        throw new PartwiseError('conflict', `The Sandbox is in use by another Partwise process (pid ${owner}).`, {
          hint: 'Close the other Partwise window or `npm run web`, or give this one its own PARTWISE_DATA_DIR.',
        });
      }
      await fs.rm(file, { force: true }); // left by a process that is gone
    }
  }
  throw new PartwiseError('conflict', `Could not take the Sandbox lock ${file}.`);
}

/** Sets the superuser's password without logging in: single-user mode, statement on stdin (never on a command line). */
async function setSuperuserPassword(pgdata: string, password: string): Promise<void> {
  // Single-user mode cannot start next to a server a crashed Partwise left running.
  await stopStaleServer(pgdata);
  const binaries = await serverBinaries(BUNDLED_MAJOR);
  const libraryPath = process.platform === 'darwin' ? 'DYLD_LIBRARY_PATH' : 'LD_LIBRARY_PATH';
  const runAs = runAsUser();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(binaries.postgres, ['--single', '-D', pgdata, 'postgres'], {
      env: { ...process.env, LC_ALL: 'C', LC_MESSAGES: 'C', [libraryPath]: binaries.libDir },
      uid: runAs?.uid,
      gid: runAs?.gid,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 && !/\bERROR:/.test(text) ? resolve() : reject(new Error(text))));
    child.stdin.end(`ALTER ROLE ${SUPERUSER} PASSWORD '${password.replaceAll("'", "''")}'\n`);
  }).catch((error: Error) => {
    const redacted = error.message.split(password).join('***');
    throw new PartwiseError('internal', `Could not set the Sandbox password: ${redacted.trim().slice(-500)}`);
  });
}

/** The server's log file (postgres.log in the sandbox home), with progress lines also passed to `onLog`. */
interface SandboxLog {
  open: (dir: string) => void;
  /** The server's own output: to the file only. */
  write: (line: string) => void;
  /** Progress: to the file and to `onLog`. */
  emit: (line: string) => void;
  close: () => Promise<void>;
}

function sandboxLog(onLog: ((line: string) => void) | undefined): SandboxLog {
  let log: WriteStream | undefined;
  // The server may still print a line while it shuts down, after the log file is closed.
  const write = (line: string): void => {
    if (log && !log.writableEnded) log.write(`${line}\n`);
  };
  return {
    open: (dir) => {
      log = createWriteStream(path.join(dir, 'postgres.log'), { flags: 'w', mode: 0o600 });
      log.on('error', () => undefined); // a full disk must not take the app down
    },
    write,
    emit: (line) => {
      write(line);
      onLog?.(line);
    },
    close: async () => {
      const current = log;
      log = undefined;
      if (current && !current.writableEnded) await new Promise<void>((resolve) => current.end(resolve));
    },
  };
}

const pgdataOf = (home: string): string => path.join(home, 'pgdata');

/** tcp only: the port of the last run, so that the listed profile stays the same; a free one the first time. */
async function plannedTcpPort(home: string): Promise<number> {
  const file = path.join(home, 'state.json');
  try {
    const saved = JSON.parse(await fs.readFile(file, 'utf8')) as { port?: unknown };
    if (typeof saved.port === 'number') return saved.port;
  } catch {
    // no state yet
  }
  const port = await freePort();
  await fs.mkdir(home, { recursive: true });
  await fs.writeFile(file, `${JSON.stringify({ port })}\n`);
  return port;
}

/** tcp only: the planned port, or another free one (remembered for the next runs) when something else took it. */
async function tcpPortForStart(home: string): Promise<number> {
  const planned = await plannedTcpPort(home);
  if (await portIsFree(planned)) return planned;
  const port = await freePort();
  await fs.writeFile(path.join(home, 'state.json'), `${JSON.stringify({ port })}\n`);
  return port;
}

function sandboxProfile(where: { host: string; port: number }): ConnectionProfile {
  return {
    id: SANDBOX_ID,
    name: SANDBOX_NAME,
    kind: 'sandbox',
    host: where.host,
    port: where.port,
    database: SANDBOX_DATABASE,
    user: SUPERUSER,
    sslMode: 'disable',
    hasPassword: false,
  };
}

function requireShortSocketPath(pgdata: string): void {
  if (path.join(pgdata, `.s.PGSQL.${SOCKET_PORT}`).length > MAX_SOCKET_PATH) {
    throw new PartwiseError('blocked', `The Sandbox directory ${pgdata} is too long a path for a Unix socket.`, {
      hint: 'Start Partwise with PARTWISE_DATA_DIR set to a shorter path.',
    });
  }
}

/** Seeds the sample data (the first time; `seedSandbox` keeps what is there) over a connection of its own. */
async function seedOver(
  target: ConnectionTarget,
  password: string | undefined,
  emit: (line: string) => void,
): Promise<SeedOutcome> {
  const client = new pg.Client({ ...target, password, application_name: 'partwise-sandbox' });
  await client.connect();
  try {
    return await seedSandbox(client, emit);
  } finally {
    await client.end().catch(() => undefined);
  }
}

interface RunningSandbox {
  cluster: RunningCluster;
  connection: SandboxConnection;
  release: () => Promise<void>;
}

/** One start: takes the owner lock, creates or starts the cluster, seeds it; on failure leaves nothing running. */
async function startInHome(dir: string, listen: SandboxListen, log: SandboxLog): Promise<RunningSandbox> {
  // Under root the server (user postgres) must traverse the sandbox home; the data directory itself stays 0700.
  await fs.mkdir(dir, { recursive: true, mode: isRoot() ? 0o711 : 0o700 });
  const release = await acquireOwnerLock(dir);
  let cluster: RunningCluster | undefined;
  try {
    const pgdata = pgdataOf(dir);
    if (listen === 'socket') requireShortSocketPath(pgdata);
    log.open(dir);
    const password = listen === 'tcp' ? randomBytes(24).toString('base64url') : undefined;
    const created = existsSync(path.join(pgdata, 'PG_VERSION'));
    if (password !== undefined && created) await setSuperuserPassword(pgdata, password);
    const port = listen === 'tcp' ? await tcpPortForStart(dir) : SOCKET_PORT;
    log.emit(created ? `Starting the Sandbox in ${pgdata}` : `Creating the Sandbox in ${pgdata}`);
    cluster = await startCluster({
      major: BUNDLED_MAJOR,
      dataDir: pgdata,
      listen,
      port,
      password,
      // Room for the locks of a migrated table with hundreds of partitions (each with its indexes).
      settings: { max_locks_per_transaction: 256 },
      onLog: log.write,
    });
    await ensureDatabase(cluster);
    const target: ConnectionTarget = {
      host: cluster.params.host,
      port,
      database: SANDBOX_DATABASE,
      user: SUPERUSER,
      sslMode: 'disable',
    };
    const seed = await seedOver(target, password, log.emit);
    const connection: SandboxConnection = {
      profile: sandboxProfile({ host: target.host, port }),
      target,
      password,
      seed,
    };
    log.emit(`Sandbox ready: PostgreSQL ${cluster.major}, database "${SANDBOX_DATABASE}".`);
    return { cluster, connection, release };
  } catch (error) {
    await cluster?.stop().catch(() => undefined);
    await release();
    await log.close();
    throw error instanceof PartwiseError
      ? error
      : new PartwiseError('internal', `The Sandbox could not start: ${(error as Error).message ?? String(error)}`, {
          hint: `The server's log is in ${path.join(dir, 'postgres.log')}.`,
          cause: error,
        });
  }
}

export function createSandbox(options: SandboxOptions): Sandbox {
  const listen = options.listen ?? defaultListen();
  const log = sandboxLog(options.onLog);
  let homePromise: Promise<string> | undefined;
  let running: RunningSandbox | undefined;
  let starting: Promise<SandboxConnection> | undefined;
  let stopping: Promise<void> | undefined;

  const home = (): Promise<string> => (homePromise ??= sandboxHome(options.dataDir));

  const describe = async (): Promise<{ host: string; port: number }> => {
    const dir = await home();
    if (listen === 'socket') return { host: pgdataOf(dir), port: SOCKET_PORT };
    return { host: '127.0.0.1', port: await plannedTcpPort(dir) };
  };

  const doStart = async (): Promise<SandboxConnection> => {
    running = await startInHome(await home(), listen, log);
    return running.connection;
  };

  return {
    status: () => (running ? 'running' : starting ? 'starting' : 'stopped'),
    async exists() {
      return existsSync(path.join(pgdataOf(await home()), 'PG_VERSION'));
    },
    async profile() {
      return running ? running.connection.profile : sandboxProfile(await describe());
    },
    async start() {
      if (stopping) await stopping;
      if (running) return running.connection;
      starting ??= doStart().finally(() => {
        starting = undefined;
      });
      return starting;
    },
    async stop() {
      if (starting) await starting.catch(() => undefined);
      if (!running) return;
      const current = running;
      running = undefined;
      stopping = (async () => {
        await current.cluster.stop();
        await current.release();
        log.emit('Sandbox stopped.');
        await log.close();
      })();
      try {
        await stopping;
      } finally {
        stopping = undefined;
      }
    },
  };
}

async function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function ensureDatabase(cluster: RunningCluster): Promise<void> {
  const admin = new pg.Client({ ...cluster.params, database: 'postgres' });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [SANDBOX_DATABASE]);
    if (!rowCount) await admin.query(`CREATE DATABASE ${ident(SANDBOX_DATABASE)}`);
  } finally {
    await admin.end();
  }
}

/** Starts a sandbox right away: what `sandbox.start` and the first launch do. */
export async function startSandbox(options: SandboxOptions): Promise<SandboxConnection & { sandbox: Sandbox }> {
  const sandbox = createSandbox(options);
  return { ...(await sandbox.start()), sandbox };
}
