// A throttled migration against a real streaming standby (testing/standby.ts).
// The standby's replay is paused by the test, so its lag only grows while the
// migration writes: the run must stop admitting work once the lag passes the
// bound, and the lag the test then reads, with nothing of the run under way,
// is the most the run let it reach. Replay is resumed at each pause, and
// paused again once the run goes on.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../../shared/progress.js';
import type { PostgresMajor } from '../../embedded/binaries.js';
import { install } from '../../install/install.js';
import { startStandbyPair, type StandbyPair } from '../../testing/standby.js';
import { migrate } from '../index.js';

const BOUND = 1024 * 1024;
const WORKERS = 2;
/**
 * What the bound promises (throttle.ts): no unit of work is admitted on a
 * look that found the lag over the bound, and each look is taken after the
 * asking worker's previous unit, so the lag passes the bound only by the WAL
 * of the units admitted on the last look under it: at most one per worker,
 * and the run's bookkeeping between units. The largest units here are the
 * batches of partitions, 0.63 MB of catalog WAL each (a copied chunk, a
 * quarter of the bound read, writes 0.32 MB; a group of index builds 0.26 MB;
 * measured with pg_walinspect on 18): two of them and the journal's rows stay
 * under 1.5 MB. Measured, on a loaded machine (load average 16 to 21): at
 * most 0.63 MB over the bound, on 13 and 18. A gate that looks at only every
 * third unit went 1.9 MB over it, at every fourth 1.4 to 1.6 MB (caught on 18,
 * not always on 13); unthrottled, the lag reaches the whole migration's WAL
 * (about 19 MB here) and the run never pauses.
 */
const SLACK = 1.5 * 1024 * 1024;

let pair: StandbyPair;
let app: pg.Pool;
let primaryAdmin: pg.Client;
let standbyAdmin: pg.Client;

beforeAll(async () => {
  pair = await startStandbyPair(inject('pgMajor') as PostgresMajor);
  primaryAdmin = new pg.Client({ connectionString: pair.primary.url() });
  standbyAdmin = new pg.Client({ connectionString: pair.standby.url() });
  await primaryAdmin.connect();
  await standbyAdmin.connect();
  // As users run it: the table's owner, an ordinary role, granted pg_monitor to see standbys' positions.
  await primaryAdmin.query(`CREATE ROLE app LOGIN PASSWORD 'app-secret'`);
  await primaryAdmin.query(`GRANT pg_monitor TO app`);
  await primaryAdmin.query(`CREATE DATABASE app OWNER app`);
  const url = new URL(pair.primary.url('app'));
  url.username = 'app';
  url.password = 'app-secret';
  app = new pg.Pool({ connectionString: url.toString(), application_name: 'partwise', max: 6 });
  const client = await app.connect();
  try {
    await install(client, 'partwise');
  } finally {
    client.release();
  }
}, 120_000);

afterAll(async () => {
  await app?.end();
  await primaryAdmin?.end();
  await standbyAdmin?.end();
  await pair?.stop();
});

/** Where the primary inserts WAL, written to its files or not. */
async function walPosition(): Promise<string> {
  return (await primaryAdmin.query<{ lsn: string }>(`SELECT pg_current_wal_insert_lsn()::text AS lsn`)).rows[0]!.lsn;
}

/**
 * Until no connection of the run is in a statement or a transaction (the
 * throttle's own look at the lag aside): what was admitted before the pause
 * has written all its WAL.
 */
async function runIdle(): Promise<void> {
  for (;;) {
    const { rows } = await primaryAdmin.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = 'app' AND application_name = 'partwise' AND state <> 'idle'
          AND query NOT LIKE '%pg_stat_replication%'`,
    );
    if (rows.length === 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('throttling on a streaming standby', () => {
  it('keeps the standby within the lag bound, pausing whenever it falls behind', async () => {
    await app.query(
      `CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text NOT NULL, amount numeric(12,2))`,
    );
    await app.query(
      `INSERT INTO orders (customer_id, payload, amount)
       SELECT 1 + g % 12, md5(g::text) || md5((g + 1)::text), g % 1000 FROM generate_series(1, 60000) g`,
    );
    await app.query(`CREATE INDEX ON orders (customer_id, id)`);
    await app.query(`ANALYZE orders`);
    expect(await pair.lag()).not.toBeNull();
    const start = await walPosition();
    // The setup wrote about 15 MB of WAL: replay is paused once the standby
    // has replayed it (and told the primary), or the lag the run starts from
    // is the setup's, not the run's. A run under the full suite's load read
    // 6.2 MB at its first pause: 1.57 MB of the run's, as on a quiet machine,
    // and 4.6 MB of setup the loaded standby had yet to replay.
    await pair.replayedTo(start);
    await standbyAdmin.query(`SELECT pg_wal_replay_pause()`);

    const events: RunEvent[] = [];
    let wake = (): void => undefined;
    const run = migrate(app, [{ schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: 2000 }], {
      workers: WORKERS,
      throttle: { maxStandbyLagBytes: BOUND },
      onEvent: (event) => {
        events.push(event);
        wake();
      },
    });
    let finished = false;
    void run.finally(() => {
      finished = true;
      wake();
    });
    const next = (): Promise<void> => new Promise((resolve) => (wake = resolve));
    const logged = (from: number, start: string): boolean =>
      events.slice(from).some((e) => e.type === 'log' && e.message.startsWith(start));

    const peaks: number[] = [];
    let looked = 0;
    try {
      while (!finished) {
        await next();
        if (!logged(looked, 'paused: standby replica1 lag')) {
          looked = events.length;
          continue;
        }
        // Paused, and what it admitted before is done: replay stands still, so this is the highest the lag got.
        await runIdle();
        peaks.push(await pair.behind());
        const resumedFrom = events.length;
        await standbyAdmin.query(`SELECT pg_wal_replay_resume()`);
        while (!finished && !logged(resumedFrom, 'resumed after')) await next();
        await standbyAdmin.query(`SELECT pg_wal_replay_pause()`);
        looked = events.length;
      }
    } finally {
      await standbyAdmin.query(`SELECT pg_wal_replay_resume()`);
    }
    const outcome = await run;
    expect(outcome.status, outcome.message).toBe('succeeded');
    const [{ written }] = (
      await primaryAdmin.query<{ written: string }>(
        `SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)::bigint::text AS written`,
        [start],
      )
    ).rows as [{ written: string }];
    // The migration wrote several times what the standby was ever let fall behind by.
    expect(Number(written)).toBeGreaterThan(3 * (BOUND + SLACK));
    expect(peaks.length).toBeGreaterThanOrEqual(2);
    for (const peak of peaks) {
      expect(peak).toBeGreaterThan(BOUND);
      expect(peak, `peaks: ${peaks.join(', ')}`).toBeLessThanOrEqual(BOUND + SLACK);
    }
    // And the standby has every row.
    const standbyApp = new pg.Client({ connectionString: pair.standby.url('app') });
    await standbyApp.connect();
    try {
      await pair.replayedTo(await walPosition());
      const { rows } = await standbyApp.query<{ n: number }>(`SELECT count(*)::int AS n FROM orders`);
      expect(rows[0]!.n).toBe(60000);
    } finally {
      await standbyApp.end();
    }
  });
});
