// A real autovacuum in the swap's way. PostgreSQL cancels an autovacuum that
// blocks a lock request once the request has waited deadlock_timeout; a swap
// whose lock_timeout is not longer gives up first, attempt after attempt, and
// waits the vacuum out. This file runs its own server (autovacuum wakes every
// second) and makes autovacuum slow on the table (cost limit 1, delay 100 ms:
// it sleeps after nearly every page), waits until it holds its lock on the
// table, and only then lets the swap ask for its own.
import { randomBytes } from 'node:crypto';
import { describe, expect, it, beforeAll, afterAll, inject } from 'vitest';
import pg from 'pg';
import type { RunEvent } from '../../../shared/progress.js';
import { isSupportedMajor } from '../../embedded/binaries.js';
import { THROWAWAY_SETTINGS, type RunningCluster } from '../../embedded/cluster.js';
import { startTemporaryCluster } from '../../embedded/temporary-cluster.js';
import { migrate } from '../index.js';

let cluster: RunningCluster;
let admin: pg.Pool;
let ownerPool: pg.Pool;
const owner = `vacuum_owner_${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  const major = inject('pgMajor');
  if (!isSupportedMajor(major)) throw new Error(`unsupported major ${major}`);
  cluster = await startTemporaryCluster(major, 'autovacuum', {
    ...THROWAWAY_SETTINGS,
    autovacuum_naptime: 1,
    deadlock_timeout: '1s',
  });
  admin = new pg.Pool({ connectionString: cluster.url(), max: 2 });
  admin.on('error', () => undefined);
  await admin.query(`CREATE ROLE ${owner} LOGIN PASSWORD 'secret'`);
  await admin.query(`GRANT CREATE ON DATABASE postgres TO ${owner}`);
  const url = new URL(cluster.url());
  url.username = owner;
  url.password = 'secret';
  ownerPool = new pg.Pool({ connectionString: url.toString(), max: 6 });
  ownerPool.on('error', () => undefined);
}, 120_000);

afterAll(async () => {
  await ownerPool?.end();
  await admin?.end();
  await cluster?.stop();
});

/** The autovacuum worker vacuuming the table, once it holds its lock on it. */
async function autovacuumHolding(table: string): Promise<number> {
  for (let i = 0; i < 600; i++) {
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT v.pid FROM pg_stat_progress_vacuum v
         JOIN pg_stat_activity a ON a.pid = v.pid AND a.backend_type = 'autovacuum worker'
         JOIN pg_locks l ON l.pid = v.pid AND l.relation = v.relid AND l.granted AND l.mode = 'ShareUpdateExclusiveLock'
        WHERE v.relid = $1::regclass`,
      [table],
    );
    if (rows[0]) return rows[0].pid;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no autovacuum of ${table} within 60 s`);
}

describe('the swap with an autovacuum holding a lock on the table', () => {
  it('names the autovacuum, and outwaits deadlock_timeout so that PostgreSQL cancels it: the first attempt swaps', async () => {
    await ownerPool.query(`CREATE SCHEMA app`);
    await ownerPool.query(`CREATE TABLE app.events (id bigserial PRIMARY KEY, tenant int NOT NULL, note text)`);
    await ownerPool.query(
      `INSERT INTO app.events (tenant, note) SELECT g % 5, repeat('n', 40) FROM generate_series(1, 30000) g`,
    );
    let vacuumPid = 0;
    const events: RunEvent[] = [];
    const outcome = await migrate(
      ownerPool,
      [{ schema: 'app', table: 'events', keyColumn: 'tenant', bucketLimit: 5000 }],
      {
        beforePhase: async (phase) => {
          if (phase !== 'cutover') return;
          // Dead rows, a table autovacuum visits at once, and a vacuum that takes minutes.
          await ownerPool.query(
            `ALTER TABLE app.events SET (autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
             autovacuum_vacuum_cost_limit = 1, autovacuum_vacuum_cost_delay = 100)`,
          );
          await ownerPool.query(`UPDATE app.events SET note = note || '.' WHERE id % 2 = 0`);
          vacuumPid = await autovacuumHolding('app.events');
        },
        onEvent: (event) => events.push(event),
      },
    );
    expect(outcome.status, outcome.message).toBe('succeeded');
    const named = events.find((e) => e.type === 'log' && e.blockers?.some((b) => b.pid === vacuumPid));
    expect(
      named,
      JSON.stringify(
        events.filter((e) => e.type === 'log'),
        null,
        1,
      ),
    ).toBeDefined();
    if (named?.type !== 'log') return;
    expect(named.blockers!.find((b) => b.pid === vacuumPid)).toMatchObject({
      autovacuum: true,
      wraparound: false,
      modes: 'ShareUpdateExclusiveLock',
    });
    expect(named.message).toContain(`pid ${vacuumPid}: autovacuum`);
    expect(named.message).toContain('PostgreSQL cancels it once the request has waited deadlock_timeout (1 s)');
    // The first attempt got the lock: PostgreSQL cancelled the autovacuum before the attempt gave up.
    expect(events.filter((e) => e.type === 'log' && e.message.startsWith('swap gave up waiting'))).toEqual([]);
    const { rows } = await admin.query<{ alive: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_stat_progress_vacuum WHERE pid = $1 AND relid = 'app.events_backup'::regclass) AS alive`,
      [vacuumPid],
    );
    expect(rows).toEqual([{ alive: false }]);
  });
});
