// vitest globalSetup of the `db` project: one throwaway PostgreSQL cluster of
// the major named by PARTWISE_PG_MAJOR (default: the bundled one) for the whole
// run. Each test file makes its own database in it (see database.ts).
import type { TestProject } from 'vitest/node';
import { THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';
import { requestedMajor, startTemporaryCluster } from '../embedded/temporary-cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgMajor: number;
  }
}

let cluster: RunningCluster | undefined;

export async function setup(project: TestProject): Promise<void> {
  const major = requestedMajor();
  cluster = await startTemporaryCluster(major, `test-pg${major}`, {
    ...THROWAWAY_SETTINGS,
    max_connections: 200,
    max_locks_per_transaction: 128,
    // Loaded as on most production servers, so that tests can read the workload (CREATE EXTENSION per database).
    shared_preload_libraries: 'pg_stat_statements',
  });
  project.provide('pgAdminUrl', cluster.url());
  project.provide('pgMajor', major);
}

export async function teardown(): Promise<void> {
  await cluster?.stop();
}
