// A primary and a streaming standby of it, for tests of what a migration does
// to replicas. The embedded packages ship only initdb, pg_ctl and postgres (no
// pg_basebackup), so the standby is cloned the way pg_basebackup does it, by
// hand: a non-exclusive base backup (pg_backup_start/pg_backup_stop from
// PostgreSQL 15, pg_start_backup/pg_stop_backup before) around a copy of the
// data directory, the backup label written into the copy, then standby.signal
// and primary_conninfo. A physical slot on the primary keeps the WAL the
// standby has yet to receive, from the backup's start on.
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { PostgresMajor } from '../embedded/binaries.js';
import { startCluster, THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';
import { runAsUser } from '../embedded/run-as.js';
import { startTemporaryCluster } from '../embedded/temporary-cluster.js';

export interface StandbyPair {
  primary: RunningCluster;
  standby: RunningCluster;
  /** The standby's application_name in the primary's pg_stat_replication, and its slot's name. */
  name: string;
  /** The standby's replay lag as the primary sees it, in bytes (null before it reported). */
  lag(): Promise<number | null>;
  /**
   * The WAL the primary has generated (inserted, written to its files or not)
   * that the standby has not replayed, in bytes, each position read on its
   * own server: no wait for the standby's next report, nothing left out
   * because the WAL writer has not got to it yet.
   */
  behind(): Promise<number>;
  /**
   * Until the primary knows that the standby has replayed its WAL up to `lsn`
   * (at most 60 s): then neither the standby's replay nor its report to the
   * primary, which the lag is read from, is behind that point.
   */
  replayedTo(lsn: string): Promise<void>;
  stop(): Promise<void>;
}

/** What a copy of a running data directory leaves out (as pg_basebackup does). */
const NOT_COPIED = new Set(['postmaster.pid', 'postmaster.opts', 'pg_internal.init']);
const EMPTIED = new Set([
  'pg_wal',
  'pg_replslot',
  'pg_stat_tmp',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_subtrans',
  'pg_dynshmem',
]);

export async function startStandbyPair(major: PostgresMajor, name = 'replica1'): Promise<StandbyPair> {
  const primary = await startTemporaryCluster(major, 'primary', {
    ...THROWAWAY_SETTINGS,
    wal_level: 'replica',
    max_wal_senders: 4,
    max_replication_slots: 4,
    // No WAL but the tests' own: a lag measured is what they did.
    autovacuum: 'off',
  });
  let standby: RunningCluster | undefined;
  const admin = new pg.Client({ connectionString: primary.url() });
  try {
    await admin.connect();
    await admin.query(`SELECT pg_create_physical_replication_slot($1, true)`, [name]);
    const standbyDir = path.join(path.dirname(primary.dataDir), 'standby');
    // One session from start to stop: a non-exclusive backup belongs to it.
    await admin.query(
      major >= 15
        ? `SELECT pg_backup_start('partwise standby', true)`
        : `SELECT pg_start_backup('partwise standby', true, false)`,
    );
    await fs.cp(primary.dataDir, standbyDir, {
      recursive: true,
      filter: (source) => {
        const relative = path.relative(primary.dataDir, source);
        const [top, ...rest] = relative.split(path.sep);
        if (NOT_COPIED.has(path.basename(source))) return false;
        return !(EMPTIED.has(top!) && rest.length > 0);
      },
    });
    const { rows } = await admin.query<{ labelfile: string }>(
      major >= 15 ? `SELECT labelfile FROM pg_backup_stop(true)` : `SELECT labelfile FROM pg_stop_backup(false, true)`,
    );
    await fs.writeFile(path.join(standbyDir, 'backup_label'), rows[0]!.labelfile);
    await fs.writeFile(path.join(standbyDir, 'standby.signal'), '');
    // The server runs as its own OS user when this process is root: the copy is made its own.
    const runAs = runAsUser();
    if (runAs) await chownAll(standbyDir, runAs.uid, runAs.gid);
    await fs.chmod(standbyDir, 0o700);
    const { host, port, user, password } = primary.params;
    standby = await startCluster({
      major,
      dataDir: standbyDir,
      listen: 'tcp',
      password,
      settings: {
        ...THROWAWAY_SETTINGS,
        hot_standby: 'on',
        // Replay positions reach the primary within a second, not the default 10.
        wal_receiver_status_interval: 1,
        primary_conninfo: `host=${host} port=${port} user=${user} password=${password} application_name=${name}`,
        primary_slot_name: name,
      },
    });
    await waitForStreaming(admin, name);
  } catch (error) {
    await admin.end().catch(() => undefined);
    await standby?.stop();
    await primary.stop();
    throw error;
  }
  await admin.end();
  const pair: StandbyPair = {
    primary,
    standby: standby,
    name,
    async lag() {
      const { rows } = await queryOnce<{ lag: string | null }>(
        primary,
        `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint::text AS lag FROM pg_stat_replication WHERE application_name = $1`,
        [name],
      );
      return rows[0]?.lag == null ? null : Number(rows[0].lag);
    },
    async behind() {
      // The standby first: while it replays, the later read on the primary can only add to the figure.
      const replayed = await queryOnce<{ lsn: string }>(standby!, `SELECT pg_last_wal_replay_lsn()::text AS lsn`, []);
      const { rows } = await queryOnce<{ bytes: string }>(
        primary,
        `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)::bigint::text AS bytes`,
        [replayed.rows[0]!.lsn],
      );
      return Number(rows[0]!.bytes);
    },
    async replayedTo(lsn) {
      for (let i = 0; i < 600; i++) {
        const { rows } = await queryOnce<{ done: boolean }>(
          primary,
          `SELECT replay_lsn >= $2::pg_lsn AS done FROM pg_stat_replication WHERE application_name = $1`,
          [name, lsn],
        );
        if (rows[0]?.done) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`the standby ${name} did not replay up to ${lsn} within 60 s`);
    },
    async stop() {
      await standby!.stop();
      await primary.stop();
    },
  };
  return pair;
}

async function queryOnce<R extends pg.QueryResultRow>(
  cluster: RunningCluster,
  text: string,
  values: unknown[],
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: cluster.url() });
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end();
  }
}

async function chownAll(dir: string, uid: number, gid: number): Promise<void> {
  await fs.chown(dir, uid, gid);
  for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownAll(full, uid, gid);
    else await fs.chown(full, uid, gid);
  }
}

/** Until the primary lists the standby as streaming, with a replay position. */
async function waitForStreaming(admin: pg.Client, name: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const { rows } = await admin.query(
      `SELECT 1 FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming' AND replay_lsn IS NOT NULL`,
      [name],
    );
    if (rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the standby ${name} did not start streaming within 60 s`);
}
