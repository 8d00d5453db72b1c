// A PostgreSQL cluster for benchmarks: the bundled major, durable settings
// (fsync on: what users run), roomy enough that checkpoints do not dominate.
import pg from 'pg';
import type { RunningCluster } from '../electron/embedded/cluster.js';
import { requestedMajor, startTemporaryCluster } from '../electron/embedded/temporary-cluster.js';

export interface BenchCluster {
  cluster: RunningCluster;
  version: string;
  newDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function benchCluster(settings: Record<string, string | number> = {}): Promise<BenchCluster> {
  const cluster = await startTemporaryCluster(requestedMajor(), 'bench', {
    shared_buffers: '512MB',
    max_wal_size: '4GB',
    max_connections: 100,
    ...settings,
  });
  const admin = new pg.Client(cluster.url());
  await admin.connect();
  const version = (await admin.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)).rows[0]!.v;
  return {
    cluster,
    version,
    async newDatabase(name) {
      await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      return cluster.url(name);
    },
    async stop() {
      await admin.end();
      await cluster.stop();
    },
  };
}

export function formatRate(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}
