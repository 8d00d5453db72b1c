// The copy holds no snapshot for its whole length: each chunk is counted and
// copied in short transactions of its own (copy.ts). Chunks are made small
// here (chunkBlocks) so that a small table takes dozens of them, while a
// sampler watches pg_stat_activity for Partwise's connections (known by their
// application_name) and the application writes all along, each write recorded
// in a ledger (mirror.ts) in the same transaction.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../index.js';
import type { RunEvent } from '../../../shared/progress.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createMirroredTable, expectMirrored, mirroredWrites } from '../../testing/mirror.js';
import { startSnapshotSampler, type TransactionSample } from '../../testing/snapshot-sampler.js';
import { startRoundWriters } from '../../testing/round-writers.js';

const db = useTestDatabase('short_snapshots');
let partwise: pg.Pool;

beforeAll(async () => {
  await installPartwise(db);
  partwise = new pg.Pool({ connectionString: db.url, application_name: 'partwise', max: 6 });
});

afterAll(async () => {
  await partwise.end();
});

describe('copy without a long snapshot', () => {
  it('copies chunk by chunk in short transactions, losing no write made meanwhile', async () => {
    const table = 'steady';
    await createMirroredTable(db, table, 40_000, 20);
    const writers = await Promise.all([db.pool.connect(), db.pool.connect()]);
    // Paced: each round adds a key, which the catch-up gives partitions.
    const writing = startRoundWriters(writers, (client, round) => mirroredWrites(client, table, round), {
      lastRound: 3900,
      pauseMs: 20,
    });
    const events: RunEvent[] = [];
    // Every open transaction, a snapshot or not: none may have begun before the copy.
    const sampler = startSnapshotSampler(db, { everyMs: 5, holdingHorizon: false });
    try {
      await writing.moreRounds(5);
      const outcome = await migrate(
        partwise,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: 1000 }],
        {
          workers: 2,
          chunkBlocks: 16,
          catchUpThreshold: 20,
          onEvent: (event) => events.push(event),
          beforePhase: async (phase) => {
            if (phase === 'indexes') await writing.moreRounds(5);
            // This test is about the copy: the writes it must not lose are those made while
            // chunks are counted and copied. Catching up while the application keeps
            // writing is catch-up-load.db.test.ts's (a new key in every write, as here,
            // is a load catch-up does not keep up with on PostgreSQL 13 under CPU
            // contention: see the catch-up's known limit in the README's How it works).
            if (phase === 'catch_up') await writing.stop();
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
    } finally {
      await writing.stop();
      for (const client of writers) client.release();
      await sampler.stop();
    }
    expect(writing.errors).toEqual([]);
    await expectMirrored(db, table);

    // Dozens of chunks, so dozens of transactions each way.
    const counted = events.find((e) => e.type === 'log' && / chunks? of up to /.test(e.message));
    const chunks = Number(/in (\d+) chunks/.exec(counted?.type === 'log' ? counted.message : '')?.[1]);
    expect(chunks).toBeGreaterThanOrEqual(20);

    const [copy] = await db.query<{ started: string; finished: string }>(
      `SELECT started_at::text AS started, finished_at::text AS finished FROM partwise.migration_step WHERE phase = 'copy'`,
    );
    // The sampler saw the copy at work, and no transaction it saw then had
    // begun before the copy did: nothing read for the count was held through it.
    // (Except the statement that records the copy's start: its clock_timestamp()
    // comes a fraction of a millisecond after its own transaction began.)
    const [seen] = await db.query<{ samples: number; older: Omit<TransactionSample, 'ageMs'>[] }>(
      `SELECT count(*)::int AS samples,
              coalesce(json_agg(s) FILTER (WHERE s.xact < $2::timestamptz
                                            AND s.query NOT LIKE 'INSERT INTO %migration_step (run_id, target_no, phase)%'), '[]') AS older
         FROM json_to_recordset($1::json) AS s(at timestamptz, pid int, xact timestamptz, query text)
        WHERE s.at BETWEEN $2::timestamptz AND $3::timestamptz`,
      [JSON.stringify(sampler.samples), copy!.started, copy!.finished],
    );
    expect(seen!.samples).toBeGreaterThan(0);
    expect(seen!.older, `the copy ran from ${copy!.started} to ${copy!.finished}`).toEqual([]);

    // Every leaf within the limit, though rows moved between chunks while they were copied.
    const leaves = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${table}_partitioned GROUP BY tableoid`,
    );
    expect(Math.max(...leaves.map((l) => l.n))).toBeLessThanOrEqual(1000);
  });
});
