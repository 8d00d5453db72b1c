// vitest globalSetup of the `db` project: one throwaway PostgreSQL cluster of
// the major named by PARTWISE_PG_MAJOR (default: the bundled one) for the whole
// run. Each test file makes its own database in it (see database.ts).
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { BUNDLED_MAJOR, isSupportedMajor } from '../embedded/binaries.js';
import { startCluster, THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgMajor: number;
  }
}

let cluster: RunningCluster | undefined;
let dataRoot: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const requested = Number(process.env.PARTWISE_PG_MAJOR ?? BUNDLED_MAJOR);
  if (!isSupportedMajor(requested)) throw new Error(`PARTWISE_PG_MAJOR=${requested} is not a supported major (13-18)`);
  dataRoot = await fs.mkdtemp(path.join(os.tmpdir(), `partwise-test-pg${requested}-`));
  // When this process is root the server runs as `postgres`, which must reach its data directory.
  await fs.chmod(dataRoot, 0o755);
  cluster = await startCluster({
    major: requested,
    dataDir: path.join(dataRoot, 'data'),
    listen: 'tcp',
    settings: { ...THROWAWAY_SETTINGS, max_connections: 200, max_locks_per_transaction: 128 },
  });
  project.provide('pgAdminUrl', cluster.url());
  project.provide('pgMajor', requested);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
  if (dataRoot) await fs.rm(dataRoot, { recursive: true, force: true });
}
