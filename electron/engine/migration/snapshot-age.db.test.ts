// No Partwise transaction older than 60 s at any moment of a 10M-row
// migration: vacuum's horizon (backend_xmin) never stays behind for longer,
// however long the table takes to copy. Rows are narrow (a key, a number, an
// empty text) so that the table is quick to build; its size in pages is what
// makes the copy long. A sampler reads pg_stat_activity every 250 ms for
// Partwise's sessions (known by their application_name), and two writers
// change rows while the copy runs, each write recorded in a ledger (mirror.ts)
// in the same transaction: the ledger holds the rows the writers may touch
// (the first 100,000 ids and every id inserted since), compared both ways
// with the migrated table, whose row count must also be the expected one.
// The primary key is kept unique across the table, as by default: its
// registry is filled a block range per transaction as the copy is
// (registry-fill.db.test.ts), and only its unique index is built in one
// transaction, a sort of the registry's narrow rows.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../index.js';
import type { RunEvent } from '../../../shared/progress.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { mirroredWrites } from '../../testing/mirror.js';
import { startSnapshotSampler } from '../../testing/snapshot-sampler.js';
import { startRoundWriters } from '../../testing/round-writers.js';
import { expectSameRows } from '../../testing/same-rows.js';

const db = useTestDatabase('snapshot_age');
let partwise: pg.Pool;

const ROWS = 10_000_000;
const KEYS = 100;
/** Rows the writers may change (mirroredWrites touches ids round * 10 + 1, 2 and 5). */
const LEDGER_IDS = 100_000;
const LIMIT_MS = 60_000;
const SAMPLE_MS = 250;

beforeAll(async () => {
  await installPartwise(db);
  partwise = new pg.Pool({ connectionString: db.url, application_name: 'partwise', max: 6 });
});

afterAll(async () => {
  await partwise.end();
});

describe('a 10M-row migration', () => {
  it('keeps every Partwise transaction under 60 s, losing no write made during the copy', async () => {
    const table = 'tenmillion';
    const built = Date.now();
    // Filled before its indexes: quicker than maintaining them row by row.
    await db.query(
      `CREATE TABLE ${table} (id bigserial, customer_id int NOT NULL, payload text NOT NULL, amount numeric(12,2))`,
    );
    await db.query(
      `INSERT INTO ${table} (customer_id, payload, amount) SELECT 1 + g % $2, '', NULL FROM generate_series(1, $1) g`,
      [ROWS, KEYS],
    );
    await db.query(`ALTER TABLE ${table} ADD PRIMARY KEY (id)`);
    await db.query(`CREATE TABLE ${table}_expected AS SELECT * FROM ${table} WHERE id <= $1`, [LEDGER_IDS]);
    await db.query(`VACUUM ANALYZE ${table}`);
    const buildSeconds = Math.round((Date.now() - built) / 1000);

    const writers = await Promise.all([db.pool.connect(), db.pool.connect()]);
    // Every row the writers touch is in the ledger. Into existing keys only: a
    // new key in every write, a thousand during the copy, is a load of its
    // own for the catch-up (on 13 it failed the run once: "could not create
    // partition ...: another transaction held a conflicting lock on it").
    const writing = startRoundWriters(writers, (client, round) => mirroredWrites(client, table, round, [1, 2, 3]), {
      lastRound: LEDGER_IDS / 10,
      pauseMs: 50,
    });
    const events: RunEvent[] = [];
    const sampler = startSnapshotSampler(db, { everyMs: SAMPLE_MS, holdingHorizon: true });
    const started = Date.now();
    let roundsAtCatchUp = 0;
    try {
      const outcome = await migrate(
        partwise,
        [
          {
            schema: 'public',
            table,
            keyColumn: 'customer_id',
            bucketLimit: 1_000_000,
          },
        ],
        {
          workers: 2,
          onEvent: (event) => events.push(event),
          beforePhase: async (phase) => {
            // The writes the change log must carry are those made while the
            // copy runs; a new key in every write during catch-up is
            // catch-up-load.db.test.ts's load.
            if (phase === 'catch_up') roundsAtCatchUp = await writing.stop();
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
    } finally {
      await writing.stop();
      for (const client of writers) client.release();
      await sampler.stop();
    }
    const migrateSeconds = Math.round((Date.now() - started) / 1000);
    const registryBuilt = events.find((e) => e.type === 'log' && e.message.startsWith('registry filled'));
    const oldest = sampler.oldest() ?? { ageMs: 0, at: '', query: '' };
    console.info(
      `${ROWS.toLocaleString('en-US')} rows: built in ${buildSeconds} s, migrated in ${migrateSeconds} s; oldest Partwise transaction seen ${Math.round(oldest.ageMs)} ms (${oldest.query.replace(/\s+/g, ' ').slice(0, 120)}); ${sampler.passes()} samples; ${roundsAtCatchUp} write rounds during the copy; ${registryBuilt?.type === 'log' ? registryBuilt.message : 'no registry built'}`,
    );
    expect(writing.errors).toEqual([]);
    expect(roundsAtCatchUp).toBeGreaterThan(0);
    expect(sampler.passes()).toBeGreaterThan(0);
    expect(oldest.ageMs, `at ${oldest.at}: ${oldest.query}`).toBeLessThan(LIMIT_MS);

    // The ledger both ways over the rows the writers may have touched, and the count of all.
    const columns = 'id, customer_id, payload, amount';
    const touched = `SELECT ${columns} FROM ${table} WHERE id <= ${LEDGER_IDS} OR id > ${ROWS}`;
    await expectSameRows(db, `${table}_expected`, `(${touched}) touched`, columns);
    const [counts] = await db.query<{ rows: number; expected: number }>(
      `SELECT (SELECT count(*)::int FROM ${table}) AS rows,
              (SELECT count(*)::int FROM ${table}_expected) + ${ROWS - LEDGER_IDS} AS expected`,
    );
    expect(counts!.rows).toBe(counts!.expected);
    // The registry holds every id once (its unique constraint) and no other: as many entries, none missing.
    const [registry] = await db.query<{ entries: number; missing: number }>(
      `SELECT (SELECT count(*)::int FROM partwise.${table}_pkey_registry) AS entries,
              (SELECT count(*)::int FROM ${table} t
                WHERE NOT EXISTS (SELECT 1 FROM partwise.${table}_pkey_registry r WHERE r.id = t.id)) AS missing`,
    );
    expect(registry).toEqual({ entries: counts!.rows, missing: 0 });
    const [kind] = await db.query<{ kind: string }>(
      `SELECT c.relkind::text AS kind FROM pg_class c WHERE c.oid = '${table}_partitioned'::regclass`,
    );
    expect(kind).toEqual({ kind: 'p' });
  }, 1_800_000);
});
