// Runs the real `partwise` command in a child process, for tests that need to
// kill it (kill -9) at a precise point and look at what it left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { CRASH_POINT_REACHED, type CrashPoint } from '../engine/migration/crash-points.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bin = path.join(root, 'bin', 'partwise.mjs');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to its end; `onLine` hears each line of its output as it comes (to act while it runs). */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  onLine?: (line: string) => void,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, PARTWISE_FROM_SOURCE: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (!onLine) return;
      pending += c.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) if (line.trim() !== '') onLine(line);
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * The children runCliUntil started that have not exited. One waits at its
 * crash point forever, holding its sessions and locks, if the test fails
 * before it kills it: killLeftChildren, after each test (children.setup.ts).
 */
const waiting = new Set<ChildProcess>();

/** SIGKILL to every child a test started at a crash point and left running; returns how many there were. */
export function killLeftChildren(): number {
  const left = [...waiting];
  for (const child of left) child.kill('SIGKILL');
  waiting.clear();
  return left.length;
}

/** Starts the CLI with a crash point armed; resolves once it waits there, with the process to kill. */
export function runCliUntil(args: string[], point: CrashPoint, timeoutMs = 90_000): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      env: { ...process.env, PARTWISE_FROM_SOURCE: '1', PARTWISE_CRASH_POINT: point },
    });
    waiting.add(child);
    child.once('exit', () => waiting.delete(child));
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`crash point ${point} not reached in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(`${CRASH_POINT_REACHED} ${point}`)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`partwise exited (${code}) before crash point ${point}:\n${output}`));
    });
  });
}

/**
 * What the crash tests vary of `partwise migrate`. The table is keyed by
 * customer_id, as mirror.ts's tables are; options left out are the CLI's defaults.
 */
export interface MigrateCliOptions {
  bucketLimit: number;
  workers?: number;
  /** --share-below: keys with fewer rows go to the pool of small keys. */
  shareBelow?: number;
}

/** `partwise migrate` of one table, confirmed beforehand (--yes) as a script would. */
function migrateArgs(url: string, table: string, options: MigrateCliOptions): string[] {
  return [
    'migrate',
    '--url',
    url,
    '--table',
    table,
    '--key',
    'customer_id',
    '--bucket-limit',
    String(options.bucketLimit),
    ...(options.shareBelow === undefined ? [] : ['--share-below', String(options.shareBelow)]),
    ...(options.workers === undefined ? [] : ['--workers', String(options.workers)]),
    '--yes',
  ];
}

/** Migrates `table` with the CLI, to its end. */
export function runMigrateCli(db: { url: string }, table: string, options: MigrateCliOptions): Promise<CliResult> {
  return runCli(migrateArgs(db.url, table, options));
}

/** Starts migrating `table` with the CLI; resolves once it waits at `point`, with the process to kill. */
export function runMigrateCliUntil(
  db: { url: string },
  table: string,
  point: CrashPoint,
  options: MigrateCliOptions,
): Promise<ChildProcess> {
  return runCliUntil(migrateArgs(db.url, table, options), point);
}

/** kill -9, then wait until the server has noticed (its sessions, and their locks, are gone). */
export async function killHard(child: ChildProcess, url: string): Promise<void> {
  child.removeAllListeners('close');
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  const client = new pg.Client(url);
  await client.connect();
  try {
    for (let i = 0; i < 100; i++) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'partwise'`,
      );
      if (rows[0]!.n === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the killed process still has sessions on the server after 10 s');
  } finally {
    await client.end();
  }
}
