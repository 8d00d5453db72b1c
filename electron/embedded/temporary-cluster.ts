// A PostgreSQL cluster in a fresh temporary directory, removed when the
// cluster stops: what the test suites and the benchmarks run against.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BUNDLED_MAJOR, isSupportedMajor, type PostgresMajor } from './binaries.js';
import { startCluster, type ClusterOptions, type RunningCluster } from './cluster.js';

/** The major named by PARTWISE_PG_MAJOR, or the bundled one. */
export function requestedMajor(): PostgresMajor {
  const major = Number(process.env.PARTWISE_PG_MAJOR ?? BUNDLED_MAJOR);
  if (!isSupportedMajor(major)) throw new Error(`PARTWISE_PG_MAJOR=${major} is not a supported major (13-18)`);
  return major;
}

/** A cluster listening on TCP in a new directory under the system's temporary one; stop() also removes it. */
export async function startTemporaryCluster(
  major: PostgresMajor,
  prefix: string,
  settings: ClusterOptions['settings'],
): Promise<RunningCluster> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), `partwise-${prefix}-`));
  // When this process is root the server runs as `postgres`, which must reach its data directory.
  await fs.chmod(root, 0o711);
  const removeRoot = () => fs.rm(root, { recursive: true, force: true });
  let cluster: RunningCluster;
  try {
    cluster = await startCluster({ major, dataDir: path.join(root, 'data'), listen: 'tcp', settings });
  } catch (error) {
    await removeRoot();
    throw error;
  }
  return {
    ...cluster,
    async stop() {
      await cluster.stop();
      await removeRoot();
    },
  };
}
