// The workload check against a real server with pg_stat_statements loaded:
// an application role runs key-less and keyed statements; the plan (as the
// table's owner, an ordinary role) lists them with their calls, blocks on the
// frequent key-less ones until they are accepted, the acceptance is kept with
// the run, and after the migration the live table's list comes through the
// same dispatcher the app uses, and through the browser bridge.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { BRIDGE_WS_PATH, ServerMessage } from '../../../shared/bridge-protocol.js';
import type { MigrationPlan, MigrationTarget } from '../../../shared/plan.js';
import type { WorkloadReport, WorkloadStatement } from '../../../shared/workload.js';
import { startBridge } from '../../bridge/server.js';
import { createDispatcher } from '../../services/dispatch.js';
import { createHandlers, type ConnectionHandlers } from '../../services/handlers.js';
import { runCli } from '../../testing/cli.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { migrate, planMigration } from '../index.js';
import { tableDetail } from '../tables.js';
import { testPools } from '../../testing/pools.js';

const db = useTestDatabase('workload');
let app: TestRole;

const TARGET: MigrationTarget = { schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: 400 };
const BY_ID = 'SELECT * FROM orders WHERE id = $1';
const UPDATE_BY_ID = 'UPDATE orders SET payload = $1 WHERE id = $2';
const BY_KEY_AND_ID = 'SELECT * FROM orders WHERE customer_id = $1 AND id = $2';
const RARE_SCAN = 'SELECT count(*) FROM orders WHERE payload LIKE $1';
const KEY_FROM_LOOKUP = 'SELECT o.* FROM orders o WHERE o.customer_id = (SELECT id FROM customers WHERE name = $1)';
const INSERT = 'INSERT INTO orders (customer_id, payload) VALUES ($1, $2)';
const SCRATCH_JOIN = 'SELECT count(*) FROM orders JOIN orders_scratch USING (id)';
const SCRATCH_ONLY = 'SELECT count(*) FROM orders_scratch';
const FREQUENT = 1_200;

async function repeat(client: pg.Client, times: number, text: string, values: (i: number) => unknown[]): Promise<void> {
  for (let i = 0; i < times; i++) await client.query(text, values(i));
}

/** The application's day: what an ORM does (by id), what a careful query does (by key and id), and the odd report. */
async function applicationWorkload(): Promise<void> {
  const client = await app.connect();
  try {
    await repeat(client, FREQUENT, BY_ID, (i) => [1 + (i % 3000)]);
    await repeat(client, FREQUENT, UPDATE_BY_ID, (i) => [`p${i}`, 1 + (i % 3000)]);
    await repeat(client, FREQUENT, BY_KEY_AND_ID, (i) => [1 + (i % 6), 1 + (i % 3000)]);
    await repeat(client, 20, RARE_SCAN, () => ['p1%']);
    await repeat(client, 20, KEY_FROM_LOOKUP, (i) => [`c${1 + (i % 6)}`]);
    await repeat(client, 50, INSERT, (i) => [1 + (i % 6), 'new']);
    // Its own temporary table, gone when its session ends, and a utility statement.
    await client.query(`CREATE TEMP TABLE orders_scratch AS SELECT * FROM orders WHERE customer_id = 1`);
    await repeat(client, 3, SCRATCH_JOIN, () => []);
    await repeat(client, 3, SCRATCH_ONLY, () => []);
    await client.query('BEGIN');
    await client.query('LOCK TABLE orders IN ACCESS SHARE MODE');
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}

async function plan(target: MigrationTarget = TARGET): Promise<MigrationPlan> {
  const client = await db.connect();
  try {
    return await planMigration(client, target, { counting: 'auto' });
  } finally {
    await client.end();
  }
}

function statement(report: WorkloadReport | undefined, query: string): WorkloadStatement | undefined {
  return report?.statements.find((s) => s.query === query);
}

beforeAll(async () => {
  await db.admin.query('CREATE EXTENSION pg_stat_statements');
  await db.query(`CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text)`);
  await db.query(
    `INSERT INTO orders (customer_id, payload) SELECT 1 + g % 6, 'p' || g FROM generate_series(1, 3000) g`,
  );
  await db.query(`CREATE INDEX ON orders (customer_id)`);
  await db.query(`CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)`);
  await db.query(`INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 6) g`);
  await db.query(`ANALYZE orders, customers`);
  app = await db.createRole('app');
  await db.query(`GRANT SELECT, INSERT, UPDATE ON orders TO ${app.sql}`);
  await db.query(`GRANT SELECT ON customers TO ${app.sql}`);
  await db.query(`GRANT USAGE ON SEQUENCE orders_id_seq TO ${app.sql}`);
  await applicationWorkload();
});

describe('before the migration', () => {
  it("says so when the owner may not read the application's statements", async () => {
    const result = await plan();
    const source = result.workload!.source;
    expect(source).toMatchObject({ available: true, seesAllRoles: false });
    if (!source.available) throw new Error('unreachable');
    expect(source.hidden.statements).toBeGreaterThanOrEqual(6);
    expect(source.hidden.calls).toBeGreaterThanOrEqual(3 * FREQUENT);
    expect(statement(result.workload, BY_ID)).toBeUndefined();
    const hidden = result.issues.find((i) => i.code === 'workload_hidden');
    expect(hidden).toMatchObject({ severity: 'warning', fix: `GRANT pg_read_all_stats TO "${db.owner}";` });
    expect(result.issues.some((i) => i.code === 'keyless_queries')).toBe(false);
  });

  it('lists what does not filter by the key, with calls, leaves and measured cost, and blocks on the frequent ones', async () => {
    await db.admin.query(`GRANT pg_read_all_stats TO "${db.owner}"`);
    const result = await plan();
    const workload = result.workload!;
    expect(workload.source).toMatchObject({ available: true, seesAllRoles: true });
    const leaves = result.partitions.leaves;
    expect(leaves).toBe(12); // 6 keys of 500 rows, 400 rows per bucket

    expect(statement(workload, BY_ID)).toMatchObject({
      verdict: 'keyless',
      calls: FREQUENT,
      roles: [app.name],
      leaves,
      frequent: true,
    });
    expect(statement(workload, UPDATE_BY_ID)).toMatchObject({ verdict: 'keyless', calls: FREQUENT, frequent: true });
    expect(statement(workload, BY_KEY_AND_ID)).toMatchObject({ verdict: 'key', calls: FREQUENT, leaves: 2 });
    expect(statement(workload, RARE_SCAN)).toMatchObject({ verdict: 'keyless', calls: 20, frequent: false });
    expect(statement(workload, KEY_FROM_LOOKUP)).toMatchObject({ verdict: 'key_at_run_time', calls: 20, leaves });
    // An INSERT ... VALUES reads nothing: routing finds its leaf by the key.
    expect(statement(workload, INSERT)).toBeUndefined();
    expect(statement(workload, SCRATCH_JOIN)).toMatchObject({
      verdict: 'not_analysed',
      reason: expect.stringContaining('does not exist'),
    });
    // orders_scratch is another relation: its name only starts like the table's.
    expect(statement(workload, SCRATCH_ONLY)).toBeUndefined();
    expect(statement(workload, 'LOCK TABLE orders IN ACCESS SHARE MODE')).toMatchObject({
      verdict: 'not_analysed',
      reason: expect.stringContaining('cannot prepare'),
    });

    // Measured now, on an empty temporary tree of the same 12 leaves, then gone.
    expect(workload.cost).toMatchObject({ leaves, measuredLeaves: leaves, extrapolated: false });
    expect(workload.cost!.planningMs).toBeGreaterThan(0);
    const byId = statement(workload, BY_ID)!;
    expect(byId.expectedMeanMs).toBeCloseTo(
      byId.meanMs +
        workload.cost!.planningMs +
        workload.cost!.executionMs -
        workload.cost!.todayPlanningMs -
        workload.cost!.todayExecutionMs,
      6,
    );
    expect(await db.query(`SELECT relname FROM pg_class WHERE relname LIKE 'partwise_workload%'`)).toEqual([]);

    const blocker = result.issues.find((i) => i.code === 'keyless_queries');
    expect(blocker).toMatchObject({ severity: 'blocker' });
    expect(blocker!.message).toContain('2 frequent statements');
    expect(blocker!.message).toContain(`all ${leaves} leaves`);
    expect(blocker!.message).toContain('measured on this server');
    expect(blocker!.fix).toContain('--accept-keyless');
  });

  it('prints the list from the CLI, exits 1 on the blocker, and takes the acceptance as a flag or in a targets file', async () => {
    const args = ['plan', '--url', db.url, '--table', 'orders', '--key', 'customer_id', '--bucket-limit', '400'];
    const blocked = await runCli(args);
    expect(blocked.code).toBe(1);
    expect(blocked.stdout).toContain('3 do not filter by customer_id: plan, lock and read all 12 leaves');
    expect(blocked.stdout).toMatch(/1,200 calls .*SELECT \* FROM orders WHERE id = \$1 +\[frequent\]/);
    expect(blocked.stdout).toContain('cost: a lookup by row identity takes');
    expect((await runCli([...args, '--accept-keyless'])).code).toBe(0);

    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-workload-'));
    try {
      const file = path.join(dir, 'targets.json');
      const entry = { table: 'public.orders', key: 'customer_id', bucketLimit: 400 };
      await fs.writeFile(file, JSON.stringify({ targets: [{ ...entry, acceptKeylessQueries: true }] }));
      const json = await runCli(['plan', '--url', db.url, '--config', file, '--json']);
      expect(json.code).toBe(0);
      const [planned] = JSON.parse(json.stdout) as MigrationPlan[];
      expect(planned!.target.acceptKeylessQueries).toBe(true);
      expect(statement(planned!.workload, BY_ID)).toMatchObject({ verdict: 'keyless', frequent: true });
      await fs.writeFile(file, JSON.stringify({ targets: [{ ...entry, acceptKeylessQueries: 'yes' }] }));
      const bad = await runCli(['plan', '--url', db.url, '--config', file]);
      expect(bad.stderr).toContain('"acceptKeylessQueries" must be true or false');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("suggests a bucket limit per key column, whose leaves the plan's agree with", async () => {
    const detail = await tableDetail(db.pool, 'public', 'orders');
    const key = detail.columns.find((c) => c.name === 'customer_id')!;
    expect(key.suggestedBucketLimit).toBeGreaterThanOrEqual(detail.suggestedBucketLimit);
    const planned = await plan({ ...TARGET, bucketLimit: key.suggestedBucketLimit! });
    expect(key.suggestedLeaves).toBe(planned.partitions.leaves);
    expect(detail.columns.find((c) => c.name === 'id')!.suggestedBucketLimit).toBeUndefined();
  });

  it('still lists and blocks, by calls alone, when the cost cannot be measured here', async () => {
    await db.admin.query(`REVOKE TEMPORARY ON DATABASE "${db.name}" FROM PUBLIC, "${db.owner}"`);
    try {
      const result = await plan();
      expect(result.workload!.cost).toBeNull();
      expect(result.workload!.costNote).toContain('lacks the TEMP privilege');
      expect(statement(result.workload, BY_ID)).toMatchObject({
        verdict: 'keyless',
        frequent: true,
        expectedMeanMs: null,
      });
      expect(result.issues.find((i) => i.code === 'keyless_queries')!.message).toContain('TEMP privilege');
    } finally {
      await db.admin.query(`GRANT TEMPORARY ON DATABASE "${db.name}" TO PUBLIC, "${db.owner}"`);
    }
  });

  it('turns the blocker into a warning once accepted', async () => {
    const result = await plan({ ...TARGET, acceptKeylessQueries: true });
    expect(result.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    expect(result.issues.find((i) => i.code === 'keyless_queries_accepted')).toMatchObject({ severity: 'warning' });
  });
});

describe('the migration and after it', () => {
  it('refuses to migrate without the acceptance, and keeps the acceptance with the run', async () => {
    // Refused before a run is recorded: nothing is left behind.
    await expect(migrate(db.pool, [TARGET])).rejects.toMatchObject({
      kind: 'blocked',
      message: expect.stringContaining('do not filter by customer_id'),
    });
    expect(await db.query(`SELECT count(*)::int AS n FROM partwise.migration_run`)).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'orders'::regclass`)).toEqual([{ relkind: 'r' }]);

    const done = await migrate(db.pool, [{ ...TARGET, acceptKeylessQueries: true }]);
    expect(done.status).toBe('succeeded');
    const [accepted] = await db.query<{
      code: string;
      accepted_by: string;
      detail: { statements: { query: string }[] };
    }>(`SELECT code, accepted_by, detail FROM partwise.migration_acceptance WHERE run_id = $1`, [done.runId]);
    expect(accepted).toMatchObject({ code: 'keyless_queries', accepted_by: db.owner });
    expect(accepted!.detail.statements.map((s) => s.query)).toEqual(expect.arrayContaining([BY_ID, UPDATE_BY_ID]));
    const log = await db.query<{ message: string }>(
      `SELECT message FROM partwise.migration_log WHERE run_id = $1 AND message LIKE '%accepted%'`,
      [done.runId],
    );
    expect(log[0]!.message).toContain(`${db.owner} accepted 4 statements that do not filter by customer_id`);
  });

  it('lists the statements that still read every leaf of the live table, through the dispatcher', async () => {
    // The application keeps running after the swap, through the routing view.
    const client = await app.connect();
    try {
      await repeat(client, 10, BY_ID, (i) => [1 + i]);
      await repeat(client, 10, BY_KEY_AND_ID, (i) => [1 + (i % 6), 1 + i]);
    } finally {
      await client.end();
    }
    const dispatch = createDispatcher(
      createHandlers(
        {
          pools: testPools(db),
          emit: () => undefined,
          onShutdown: () => undefined,
          installSchema: 'partwise',
        },
        {} as ConnectionHandlers,
      ),
    );
    const [managed] = await db.query<{ config_id: number }>(`SELECT config_id FROM partwise.partition_config`);
    const [tree] = await db.query<{ leaves: number }>(
      `SELECT count(*)::int AS leaves FROM pg_partition_tree('orders_partitioned') WHERE isleaf`,
    );
    const response = await dispatch('workload.live', { connectionId: 'main', configId: managed!.config_id });
    if (!response.ok) throw new Error(response.error.message);
    const live = response.result as WorkloadReport;
    expect(live).toMatchObject({ phase: 'after', table: 'orders', leaves: tree!.leaves });
    expect(statement(live, BY_ID)).toMatchObject({
      verdict: 'keyless',
      leaves: tree!.leaves,
      calls: FREQUENT + 10,
      frequent: true,
    });
    expect(statement(live, BY_ID)!.planningMs).toBeGreaterThan(0);
    expect(statement(live, UPDATE_BY_ID)).toMatchObject({ verdict: 'keyless', leaves: tree!.leaves });
    expect(statement(live, BY_KEY_AND_ID)).toMatchObject({ verdict: 'key', calls: FREQUENT + 10 });
    expect(statement(live, KEY_FROM_LOOKUP)).toMatchObject({ verdict: 'key_at_run_time' });

    const invalid = await dispatch('workload.live', { connectionId: 'main', configId: -1 });
    expect(invalid).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
  });

  it('serves the same list over the browser bridge', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-workload-bridge-'));
    await fs.mkdir(path.join(root, 'renderer'));
    await fs.writeFile(path.join(root, 'renderer', 'index.html'), '<!doctype html><title>Partwise</title>');
    const bridge = await startBridge({
      dataDir: path.join(root, 'data'),
      rendererDir: path.join(root, 'renderer'),
      sandbox: false,
    });
    const origin = `http://127.0.0.1:${bridge.port}`;
    const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}${BRIDGE_WS_PATH}?token=${bridge.token}`, { origin });
    try {
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      let nextId = 0;
      const call = (command: string, input: unknown): Promise<ServerMessage & { kind: 'response' }> =>
        new Promise((resolve) => {
          const id = ++nextId;
          const onMessage = (data: WebSocket.RawData): void => {
            const message = ServerMessage.parse(JSON.parse(data.toString()));
            if (message.kind === 'response' && message.id === id) {
              ws.off('message', onMessage);
              resolve(message);
            }
          };
          ws.on('message', onMessage);
          ws.send(JSON.stringify({ id, command, input }));
        });
      const url = new URL(db.url);
      const saved = await call('connections.save', {
        name: 'workload',
        host: url.hostname,
        port: Number(url.port),
        database: url.pathname.slice(1),
        user: decodeURIComponent(url.username),
        sslMode: 'disable',
        password: decodeURIComponent(url.password),
      });
      if (!saved.response.ok) throw new Error(saved.response.error.message);
      const connectionId = (saved.response.result as { id: string }).id;
      const [managed] = await db.query<{ config_id: number }>(`SELECT config_id FROM partwise.partition_config`);
      const live = await call('workload.live', { connectionId, configId: managed!.config_id });
      if (!live.response.ok) throw new Error(live.response.error.message);
      expect(statement(live.response.result as WorkloadReport, BY_ID)).toMatchObject({ verdict: 'keyless' });
    } finally {
      ws.close();
      await bridge.close();
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
