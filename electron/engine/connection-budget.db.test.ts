// A run refuses, before it records anything, a worker count that the server
// cannot serve; and the connections it may open (connectionsForRun) are
// enough: the role's CONNECTION LIMIT, which the server enforces, is set so
// that a run using one connection more than the rule says would fail.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { connectionsForRun } from '../../shared/plan.js';
import { PartwiseError } from '../db/errors.js';
import { ident } from '../db/sql.js';
import { Journal } from './journal.js';
import { migrate } from './index.js';
import { connectionRoom } from './connection-budget.js';
import { useTestDatabase } from '../testing/database.js';
import { installPartwise } from '../testing/fixtures.js';
import { killHard, runCli, runCliUntil } from '../testing/cli.js';

const db = useTestDatabase('budget');

beforeAll(async () => {
  await installPartwise(db);
});

afterEach(async () => {
  await db.admin.query(`ALTER ROLE ${ident(db.owner)} CONNECTION LIMIT -1`);
  await db.admin.query(`ALTER DATABASE ${ident(db.name)} CONNECTION LIMIT -1`);
});

async function createTable(name: string): Promise<void> {
  await db.query(`CREATE TABLE ${name} (id bigserial PRIMARY KEY, tenant int NOT NULL, body text)`);
  await db.query(`INSERT INTO ${name} (tenant, body) SELECT 1 + g % 5, md5(g::text) FROM generate_series(1, 20000) g`);
}

/** Sessions of the owner role now, as the server counts them for its CONNECTION LIMIT. */
async function ownerSessions(): Promise<number> {
  const [row] = await db.admin.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND backend_type = 'client backend'`,
    [db.owner],
  );
  return row!.n;
}

/** A pool of its own for one run, as the app gives each run, that records the most connections it held at once. */
function runPool(workers: number): { pool: pg.Pool; peak: () => number } {
  const pool = new pg.Pool({ connectionString: db.url, max: connectionsForRun(workers) + 5 });
  let peak = 0;
  pool.on('connect', () => {
    peak = Math.max(peak, pool.totalCount);
  });
  return { pool, peak: () => peak };
}

const target = (table: string) => ({ schema: 'public', table, keyColumn: 'tenant', bucketLimit: 1500 });

describe('connections a run needs', () => {
  it("refuses more workers than the role's CONNECTION LIMIT allows, records nothing, and runs within the rule", async () => {
    await createTable('budget_role');
    // Room for exactly one worker's run (1 + 3 connections) beside the sessions open now.
    await db.admin.query(
      `ALTER ROLE ${ident(db.owner)} CONNECTION LIMIT ${(await ownerSessions()) + connectionsForRun(1)}`,
    );
    const refused = runPool(4);
    try {
      const error = await migrate(refused.pool, [target('budget_role')], { workers: 4 }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(PartwiseError);
      expect((error as PartwiseError).kind).toBe('blocked');
      expect((error as PartwiseError).message).toMatch(
        /^4 workers need up to 7 connections, 6 more than this run holds, and only \d+ can be opened \(the role's CONNECTION LIMIT \d+, \d+ in use\)\. Choose at most 1 worker, or free connections first\.$/,
      );
    } finally {
      await refused.pool.end();
    }
    expect(await new Journal('partwise').listRuns(db.pool)).toEqual([]);
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'budget_role'::regclass`)).toEqual([
      { relkind: 'r' },
    ]);

    // One worker fits: the server would refuse a connection beyond the rule's count.
    const allowed = runPool(1);
    try {
      const outcome = await migrate(allowed.pool, [target('budget_role')], { workers: 1 });
      expect(outcome.status, outcome.message).toBe('succeeded');
      expect(allowed.peak()).toBeLessThanOrEqual(connectionsForRun(1));
    } finally {
      await allowed.pool.end();
    }
    expect(await db.query(`SELECT count(*)::int AS n FROM budget_role`)).toEqual([{ n: 20000 }]);
  });

  it("names the database's CONNECTION LIMIT when that is the tighter one", async () => {
    await createTable('budget_database');
    const [{ n }] = (await db.admin.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1`,
      [db.name],
    )) as [{ n: number }];
    await db.admin.query(`ALTER DATABASE ${ident(db.name)} CONNECTION LIMIT ${n + 2}`);
    const { pool } = runPool(2);
    try {
      await expect(migrate(pool, [target('budget_database')], { workers: 2 })).rejects.toThrow(
        /^2 workers need up to 5 connections, 4 more than this run holds, and only \d+ can be opened \(the database's CONNECTION LIMIT \d+, \d+ in use\)\. /,
      );
    } finally {
      await pool.end();
    }
  });

  it('counts the room that opening connections takes, and names the server when nothing else limits', async () => {
    // Other test files share the server, so its count moves on its own: only the words are checked here.
    expect((await connectionRoom(db.pool)).limitedBy).toMatch(/^the server: max_connections \d+, \d+ in use/);
    // This database's sessions are this file's alone: its limit makes the count exact.
    await db.admin.query(`ALTER DATABASE ${ident(db.name)} CONNECTION LIMIT 50`);
    const client = await db.connect();
    try {
      const before = await connectionRoom(client);
      const extra = await Promise.all([db.connect(), db.connect(), db.connect()]);
      try {
        const after = await connectionRoom(client);
        expect(after.limitedBy).toMatch(/^the database's CONNECTION LIMIT 50, \d+ in use$/);
        // Three fewer, unless the test pool closed an idle connection meanwhile (which only gives room back).
        expect(after.free).toBeGreaterThanOrEqual(before.free - 3);
        expect(after.free).toBeLessThanOrEqual(before.free - 3 + db.pool.idleCount);
      } finally {
        await Promise.all(extra.map((c) => c.end()));
      }
    } finally {
      await client.end();
    }
  });

  it('refuses to resume with more workers than fit, leaving the run resumable', async () => {
    await createTable('budget_resume');
    const args = ['--url', db.url, '--table', 'budget_resume', '--key', 'tenant', '--bucket-limit', '1500'];
    const child = await runCliUntil(['migrate', ...args, '--workers', '1', '--yes'], 'indexes:before');
    await killHard(child, db.url);
    const [run] = await new Journal('partwise').listRuns(db.pool);
    expect(run).toMatchObject({ status: 'interrupted', canResume: true });

    await db.admin.query(
      `ALTER ROLE ${ident(db.owner)} CONNECTION LIMIT ${(await ownerSessions()) + connectionsForRun(1)}`,
    );
    const refused = await runCli(['resume', '--url', db.url, '--run', String(run!.runId), '--workers', '8', '--yes']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /8 workers need up to 11 connections, 10 more than this run holds, and only \d+ can be opened \(the role's CONNECTION LIMIT/,
    );
    expect((await new Journal('partwise').listRuns(db.pool))[0]).toMatchObject({
      status: 'interrupted',
      canResume: true,
    });

    const resumed = await runCli(['resume', '--url', db.url, '--run', String(run!.runId), '--workers', '1', '--yes']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    expect(resumed.stdout).toContain(`Run ${run!.runId} succeeded`);
  });

  it("refuses a pool smaller than the run's budget before it records anything", async () => {
    await createTable('budget_pool');
    const runsBefore = (await new Journal('partwise').listRuns(db.pool)).length;
    // One connection short: the run's parts could all end up waiting for the pool.
    const pool = new pg.Pool({ connectionString: db.url, max: connectionsForRun(2) - 1 });
    try {
      await expect(migrate(pool, [target('budget_pool')], { workers: 2 })).rejects.toThrow(
        `A run with 2 workers needs a pool of ${connectionsForRun(2)} connections; this one holds ${connectionsForRun(2) - 1}`,
      );
    } finally {
      await pool.end();
    }
    expect((await new Journal('partwise').listRuns(db.pool)).length).toBe(runsBefore);
  });
});
