// The engine-backed commands through the same dispatcher the app uses, against
// a real database: validation at the boundary, then real work and real events.
import { describe, expect, it, beforeAll } from 'vitest';
import type { RunEvent } from '../../shared/progress.js';
import { createDispatcher } from './dispatch.js';
import { createHandlers, type ConnectionHandlers } from './handlers.js';
import type { ServiceContext } from './context.js';
import { useTestDatabase } from '../testing/database.js';
import { checkEveryRunAction, checkPauseAndContinue, RUN_STATES, type ActionHarness } from '../testing/run-actions.js';
import { resultOf } from '../testing/envelope.js';
import { testPools } from '../testing/pools.js';

const db = useTestDatabase('services');
const events: RunEvent[] = [];
let dispatch: ReturnType<typeof createDispatcher>;

async function call<T>(command: string, input: unknown): Promise<T> {
  return resultOf<T>(await dispatch(command, input));
}

/** The next `finished` event of a run after the first `skip` ones. */
async function waitForFinish(runId: number, skip = 0): Promise<RunEvent> {
  for (let i = 0; i < 600; i++) {
    const finished = events.filter((e) => e.type === 'finished' && e.runId === runId)[skip];
    if (finished) return finished;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

beforeAll(async () => {
  const context: ServiceContext = {
    pools: testPools(db),
    emit: (event, payload) => {
      if (event === 'run.event') events.push(payload as RunEvent);
    },
    onShutdown: () => undefined,
    installSchema: 'partwise',
  };
  const connections = {} as ConnectionHandlers;
  dispatch = createDispatcher(createHandlers(context, connections));
  await db.query(
    `CREATE TABLE tickets (id bigserial PRIMARY KEY, tenant_id int NOT NULL, body text, opened date DEFAULT current_date)`,
  );
  await db.query(
    `INSERT INTO tickets (tenant_id, body) SELECT 1 + g % 6, repeat('x', 50) FROM generate_series(1, 6000) g`,
  );
  await db.query(`ANALYZE tickets`);
});

describe('engine-backed commands', () => {
  it('lists tables and describes columns with their suitability as keys', async () => {
    const tables = await call<{ name: string; rowEstimate: number; managedTable: unknown }[]>('tables.list', {
      connectionId: 'main',
    });
    expect(tables.find((t) => t.name === 'tickets')).toMatchObject({ rowEstimate: 6000, managedTable: null });
    const detail = await call<{
      columns: { name: string; usableAsKey: boolean; reason?: string; distinctEstimate: number }[];
      suggestedBucketLimit: number;
    }>('tables.detail', { connectionId: 'main', schema: 'public', table: 'tickets' });
    expect(detail.columns.find((c) => c.name === 'tenant_id')).toMatchObject({
      usableAsKey: true,
      distinctEstimate: 6,
    });
    expect(detail.columns.find((c) => c.name === 'opened')).toMatchObject({ usableAsKey: false });
    expect(detail.columns.find((c) => c.name === 'id')!.reason).toContain('nearly every row');
    expect(detail.suggestedBucketLimit).toBeGreaterThanOrEqual(10_000);
  });

  it('rejects malformed input at the boundary', async () => {
    const response = await dispatch('plan.create', {
      connectionId: 'main',
      targets: [{ schema: 'public', table: 'tickets', keyColumn: 'tenant_id', bucketLimit: -1 }],
      exact: false,
    });
    expect(response).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
    const badChoice = await dispatch('runs.start', {
      connectionId: 'main',
      targets: [
        {
          schema: 'public',
          table: 'tickets',
          keyColumn: 'tenant_id',
          bucketLimit: 10,
          uniqueness: { tickets_pkey: 'always' },
        },
      ],
    });
    expect(badChoice).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
    const tickets = [{ schema: 'public', table: 'tickets', keyColumn: 'tenant_id', bucketLimit: 10 }];
    const badSlot = await dispatch('runs.start', {
      connectionId: 'main',
      targets: tickets,
      throttle: { maxStandbyLagBytes: 8 * 1024 * 1024, slot: 'Replica-1' },
    });
    expect(badSlot).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
    // Well formed, but no such slot: the engine refuses it before recording a run.
    const missingSlot = await dispatch('runs.start', {
      connectionId: 'main',
      targets: tickets,
      throttle: { maxStandbyLagBytes: 8 * 1024 * 1024, slot: 'no_such_slot' },
    });
    expect(missingSlot).toMatchObject({
      ok: false,
      error: { kind: 'invalid_input', message: 'There is no replication slot "no_such_slot" on this server' },
    });
    expect(await dispatch('no.such.command', {})).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
  });

  it('plans, migrates with progress events, explores, maintains and rolls back', async () => {
    const target = { schema: 'public', table: 'tickets', keyColumn: 'tenant_id', bucketLimit: 400 };
    const [plan] = await call<{ issues: { severity: string }[]; partitions: { levelOne: number } }[]>('plan.create', {
      connectionId: 'main',
      targets: [target],
      exact: true,
    });
    expect(plan!.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    expect(plan!.partitions.levelOne).toBe(6);
    // How each unique key stays enforced, and the choice of the target.
    const [perBucket] = await call<
      { uniqueness: { name: string; enforcement: string; defaultEnforcement: string }[] }[]
    >('plan.create', {
      connectionId: 'main',
      targets: [{ ...target, uniqueness: { tickets_pkey: 'bucket' } }],
      exact: false,
    });
    expect(perBucket!.uniqueness).toEqual([
      expect.objectContaining({ name: 'tickets_pkey', enforcement: 'bucket', defaultEnforcement: 'table' }),
    ]);

    const { runId } = await call<{ runId: number }>('runs.start', { connectionId: 'main', targets: [target] });
    expect(await waitForFinish(runId)).toMatchObject({ status: 'succeeded' });
    expect(await db.query(`SELECT constraint_name FROM partwise.unique_registry`)).toEqual([
      { constraint_name: 'tickets_pkey' },
    ]);
    const progress = events.filter((e) => e.type === 'progress' && e.runId === runId && e.phase === 'copy');
    expect(progress.at(-1)).toMatchObject({ done: 6000, total: 6000, unit: 'rows' });

    const runs = await call<{ runId: number; status: string; canFinalize: boolean }[]>('runs.list', {
      connectionId: 'main',
    });
    expect(runs[0]).toMatchObject({ runId, status: 'succeeded', canFinalize: true });

    const managed = await call<{ configId: number; keys: number; leaves: number; backupTable: string }[]>(
      'managed.list',
      { connectionId: 'main' },
    );
    expect(managed[0]).toMatchObject({ keys: 6, leaves: 18, backupTable: 'tickets_backup' });
    const configId = managed[0]!.configId;

    const tree = await call<{
      levelOne: { keyValue: string; buckets: { leaf: string; assigned: number; rows: number; capacity: number }[] }[];
      totals: { rows: number };
    }>('explorer.tree', { connectionId: 'main', configId, exactCounts: true });
    expect(tree.totals.rows).toBe(6000);
    expect(tree.levelOne.find((l) => l.keyValue === '1')!.buckets.map((b) => [b.assigned, b.rows, b.capacity])).toEqual(
      [
        [400, 400, 400],
        [400, 400, 400],
        [200, 200, 400],
      ],
    );
    // Sizes come apart from the tree, one figure per leaf: what PostgreSQL's own total says.
    const onDisk = await db.query<{ leaf: string; bytes: string }>(
      `SELECT c.relname AS leaf, pg_total_relation_size(c.oid) AS bytes
         FROM partwise.partition_bucket b JOIN pg_class c ON c.oid = b.leaf_partition WHERE b.config_id = $1`,
      [configId],
    );
    const leafSizes = await call<{ bytes: Record<string, number>; totalBytes: number }>('explorer.leafSizes', {
      connectionId: 'main',
      configId,
    });
    expect(leafSizes.bytes).toEqual(Object.fromEntries(onDisk.map((r) => [r.leaf, Number(r.bytes)])));
    const total = onDisk.reduce((sum, r) => sum + Number(r.bytes), 0);
    expect(leafSizes.totalBytes).toBe(total);
    const leavesOfKey1 = tree.levelOne.find((l) => l.keyValue === '1')!.buckets.map((b) => leafSizes.bytes[b.leaf]);
    expect(leavesOfKey1.every((bytes) => bytes! > 0)).toBe(true);

    const sizes = await call<{
      fillBands: { buckets: number }[];
      tableBytes: number;
      indexBytes: number;
      toastBytes: number;
      largestLevelOne: { keyValue: string; bytes: number }[];
    }>('explorer.sizes', { connectionId: 'main', configId });
    expect(sizes.fillBands.reduce((sum, b) => sum + b.buckets, 0)).toBe(18);
    expect(sizes.tableBytes).toBeGreaterThan(0);
    expect(sizes.indexBytes).toBeGreaterThan(0);
    expect(sizes.tableBytes + sizes.indexBytes + sizes.toastBytes).toBe(total);
    expect(sizes.largestLevelOne).toHaveLength(6);
    expect(sizes.largestLevelOne.reduce((sum, l) => sum + l.bytes, 0)).toBe(total);

    const tracker = await call<{ rows: { keyValue: string; currentBucketId: number; rowsAssigned: number }[] }>(
      'tracker.list',
      { connectionId: 'main', configId },
    );
    expect(tracker.rows.find((r) => r.keyValue === '1')).toMatchObject({ currentBucketId: 2, rowsAssigned: 1000 });
    expect(await call('tracker.setBucketLimit', { connectionId: 'main', configId, bucketLimit: 500 })).toMatchObject({
      bucketLimit: 500,
    });

    const report = await call<{ keysChecked: number; findings: { kind: string }[] }>('maintenance.run', {
      connectionId: 'main',
      configId,
      ahead: 0.4,
    });
    expect(report.keysChecked).toBe(6);
    expect(report.findings.map((f) => f.kind)).toEqual(Array(6).fill('created_ahead'));

    await call('runs.rollback', { connectionId: 'main', runId });
    expect(await waitForFinish(runId, 1)).toMatchObject({ status: 'rolled_back' });
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'tickets'::regclass`)).toEqual([{ relkind: 'r' }]);
  });

  it('plans and migrates with small keys sharing (shareBelow), and refuses a threshold that is not a whole number of rows', async () => {
    await db.query(`CREATE TABLE tenants_skewed (id bigserial PRIMARY KEY, tenant_id int NOT NULL, body text)`);
    await db.query(
      `INSERT INTO tenants_skewed (tenant_id, body)
       SELECT t, 'b' FROM generate_series(1, 40) t, generate_series(1, CASE WHEN t <= 3 THEN 1000 ELSE 10 END) g`,
    );
    const target = { schema: 'public', table: 'tenants_skewed', keyColumn: 'tenant_id', bucketLimit: 400 };
    for (const shareBelow of [0, -1, 1.5]) {
      for (const command of ['plan.create', 'runs.start']) {
        const response = await dispatch(command, {
          connectionId: 'main',
          targets: [{ ...target, shareBelow }],
          exact: true,
        });
        expect(response, `${command} ${shareBelow}`).toMatchObject({ ok: false, error: { kind: 'invalid_input' } });
      }
    }
    const [plan] = await call<{ partitions: { placement: Record<string, number> } }[]>('plan.create', {
      connectionId: 'main',
      targets: [{ ...target, shareBelow: 100 }],
      exact: true,
    });
    expect(plan!.partitions.placement).toMatchObject({
      threshold: 100,
      pooledKeys: 37,
      pooledRows: 370,
      poolBuckets: 1,
      levelOne: 4,
      leaves: 3 * 3 + 1,
    });
    const { runId } = await call<{ runId: number }>('runs.start', {
      connectionId: 'main',
      targets: [{ ...target, shareBelow: 100 }],
    });
    expect(await waitForFinish(runId)).toMatchObject({ status: 'succeeded' });
    expect(
      await db.query(
        `SELECT c.placement, count(*) FILTER (WHERE t.in_pool)::int AS pooled, count(*) FILTER (WHERE NOT t.in_pool)::int AS own
           FROM partwise.partition_config c JOIN partwise.partition_tracker t USING (config_id)
          WHERE c.table_name = 'tenants_skewed' GROUP BY 1`,
      ),
    ).toEqual([{ placement: 'shared', pooled: 37, own: 3 }]);
    expect(await db.query(`SELECT count(*)::int AS n FROM tenants_skewed`)).toEqual([{ n: 3 * 1000 + 37 * 10 }]);
  });
});

describe('every run action on every run state answers, and says what happened', () => {
  const harness: ActionHarness = {
    db,
    connectionId: 'main',
    call: (command, input) => dispatch(command, input),
    events: () => events,
  };
  for (const state of RUN_STATES) {
    it(`a run that is ${state}`, () => checkEveryRunAction(harness, state), 120_000);
  }

  it('pauses a running migration and lets it go on', () => checkPauseAndContinue(harness), 120_000);
});
