// Deterministic sample answers for every command, shaped by the contract's
// schemas: for component tests. Never imported by the app itself.
import type { TableDetail, TableSummary } from '../../shared/catalog';
import type { ConnectionProfile } from '../../shared/connection';
import type {
  LeafSizes,
  LevelOneNode,
  MaintenanceReport,
  ManagedTable,
  PartitionTree,
  SizesReport,
  TrackerRow,
} from '../../shared/explorer';
import type { MigrationPlan, MigrationTarget } from '../../shared/plan';
import type { RunStep, RunSummary } from '../../shared/runs';
import type { KeyActionEntry } from '../../shared/keys';

/** A small seeded PRNG (mulberry32) so fixtures are the same on every run. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sandboxProfile: ConnectionProfile = {
  id: 'sandbox',
  name: 'Sandbox',
  kind: 'sandbox',
  host: '127.0.0.1',
  port: 54329,
  database: 'sandbox',
  user: 'postgres',
  sslMode: 'disable',
  hasPassword: true,
};

export const serverProfiles: ConnectionProfile[] = [
  {
    id: 'c-prod',
    name: 'orders-db (replica test)',
    kind: 'server',
    host: 'db-orders.internal',
    port: 5432,
    database: 'orders',
    user: 'partwise',
    sslMode: 'verify-full',
    hasPassword: true,
  },
  {
    id: 'c-local',
    name: 'Local 16',
    kind: 'server',
    host: 'localhost',
    port: 5433,
    database: 'app',
    user: 'postgres',
    sslMode: 'prefer',
    hasPassword: false,
  },
];

/**
 * `count` tables of two schemas with skewed sizes; `public.orders` is managed
 * by Partwise (a routing view showing its tree's figures) and comes with its
 * partitioned table and backup, and `payments` is partitioned by hand.
 */
export function tableSummaries(count = 40): TableSummary[] {
  const rand = random(7);
  const names = [
    'custom_module_data',
    'orders',
    'order_items',
    'events',
    'invoices',
    'payments',
    'audit_log',
    'sessions',
    'customers',
    'products',
  ];
  const tables: TableSummary[] = [];
  for (let i = 0; i < count; i++) {
    const base = names[i % names.length]!;
    const schema = i % 3 === 2 ? 'billing' : 'public';
    const name = i < names.length ? base : `${base}_${2020 + (i % 6)}`;
    const rows = Math.round(rand() ** 3 * 80_000_000);
    const totalBytes = Math.round(rows * (120 + rand() * 200));
    const common = { schema, name, rowEstimate: rows, totalBytes, managedTable: null, partOf: null };
    if (i === 1) {
      tables.push(
        {
          ...common,
          kind: 'view',
          leaves: 130,
          managedTable: {
            configId: 2,
            partitionedTable: 'orders_partitioned',
            backupTable: 'orders_backup',
            keyColumn: 'module_id',
            bucketLimit: 500_000,
            keys: 48,
            mode: 'routing',
          },
        },
        {
          ...common,
          name: 'orders_partitioned',
          kind: 'partitioned',
          leaves: 130,
          partOf: { table: 'orders', role: 'partitioned' },
        },
        {
          ...common,
          name: 'orders_backup',
          kind: 'table',
          totalBytes: Math.round(totalBytes * 0.8),
          leaves: null,
          partOf: { table: 'orders', role: 'backup' },
        },
      );
    } else {
      tables.push({ ...common, kind: i === 5 ? 'partitioned' : 'table', leaves: i === 5 ? 24 : null });
    }
  }
  return tables;
}

export function tableDetail(schema: string, name: string, rows = 2_400_000): TableDetail {
  return {
    schema,
    name,
    rowEstimate: rows,
    analyzed: name !== 'sessions',
    suggestedBucketLimit: 1_000_000,
    columns: [
      {
        name: 'id',
        type: 'bigint',
        nullable: false,
        distinctEstimate: rows,
        nullFraction: 0,
        usableAsKey: false,
        reason: 'Unique: every row would get its own partition.',
      },
      {
        name: 'customer_id',
        type: 'integer',
        nullable: false,
        distinctEstimate: 12_000,
        nullFraction: 0,
        usableAsKey: true,
      },
      {
        name: 'module_id',
        type: 'integer',
        nullable: true,
        distinctEstimate: 48,
        nullFraction: 0.02,
        usableAsKey: true,
      },
      {
        name: 'created_at',
        type: 'timestamp with time zone',
        nullable: false,
        distinctEstimate: rows * 0.9,
        nullFraction: 0,
        usableAsKey: false,
        reason: 'Too many distinct values (about one per row).',
      },
      {
        name: 'payload',
        type: 'jsonb',
        nullable: true,
        distinctEstimate: null,
        nullFraction: 0.31,
        usableAsKey: false,
        reason: 'jsonb has no btree equality operator.',
      },
      { name: 'note', type: 'text', nullable: true, distinctEstimate: 3_100, nullFraction: 0.87, usableAsKey: true },
    ],
  };
}

/** Small keys sharing: nine keys in ten under the threshold, 40 rows each, in buckets of the limit. */
function placementOf(threshold: number, bucketLimit: number, distinct: number, leaves: number) {
  const pooledKeys = Math.floor(distinct * 0.9);
  const pooledRows = pooledKeys * 40;
  const poolBuckets = Math.max(1, Math.ceil(pooledRows / bucketLimit));
  const levelOne = distinct - pooledKeys + 1;
  const sharedLeaves = leaves - pooledKeys + poolBuckets;
  const relations = (levelOnes: number, leafCount: number) => (1 + levelOnes + leafCount) * 3 + leafCount * 2;
  return {
    threshold,
    pooledKeys,
    pooledRows,
    poolBuckets,
    levelOne,
    leaves: sharedLeaves,
    relationsPerKey: relations(distinct, leaves),
    relationsShared: relations(levelOne, sharedLeaves),
  };
}

export function plan(target: MigrationTarget, exact: boolean): MigrationPlan {
  const rows = target.table === 'events' ? 48_300_000 : 2_412_118;
  const distinct = target.keyColumn === 'module_id' ? 48 : 12_000;
  const leaves = Math.ceil(rows / target.bucketLimit) + distinct;
  const blocked = target.table === 'events';
  // One row per bucket: a tree past the lock table, as the engine warns of it.
  const tooLarge = target.bucketLimit === 1;
  const placement = target.shareBelow ? placementOf(target.shareBelow, target.bucketLimit, distinct, leaves) : null;
  const treeStatements = placement ? placement.levelOne + placement.leaves + 3 : distinct + leaves;
  const partitioned = `${target.table}_p`;
  const ddl = [
    `CREATE TABLE ${target.schema}.${partitioned} (LIKE ${target.schema}.${target.table} INCLUDING DEFAULTS, bucket_id integer NOT NULL DEFAULT 0) PARTITION BY LIST (${target.keyColumn})`,
  ];
  for (let key = 1; key <= Math.min(distinct, 120); key++) {
    ddl.push(
      `CREATE TABLE ${target.schema}.${partitioned}_${key} PARTITION OF ${target.schema}.${partitioned} FOR VALUES IN (${key}) PARTITION BY LIST (bucket_id)`,
    );
    ddl.push(
      `CREATE TABLE ${target.schema}.${partitioned}_${key}_0 PARTITION OF ${target.schema}.${partitioned}_${key} FOR VALUES IN (0);`,
    );
  }
  return {
    target,
    exact,
    counting: exact
      ? { method: 'scanned', note: 'Counted exactly by scanning the table (512 MB, 1.2 s).' }
      : {
          method: 'statistics',
          note: 'The table is 12 GB, more than the 1.0 GB counted by default: estimated from statistics, which sampled 30,000 rows of about 2,412,118.',
        },
    serverVersion: '17.2',
    table: { rows, totalBytes: rows * 212, indexBytes: rows * 48, owner: 'app_owner' },
    key: {
      column: target.keyColumn,
      type: 'integer',
      nullable: blocked,
      distinctKeys: distinct,
      nullRows: blocked ? 1_204 : 0,
      largest: [
        { keyValue: '1042', rows: 310_552 },
        { keyValue: '77', rows: 201_004 },
        { keyValue: '5120', rows: 98_113 },
        { keyValue: '9', rows: 40_221 },
      ],
    },
    partitions: {
      levelOne: distinct,
      leaves,
      maxLevelOne: exact ? distinct : distinct * 2,
      maxLeaves: exact ? leaves : leaves + distinct,
      lockedByFullScan: leaves * 3 + distinct,
      lockTableCapacity: 64 * 120,
      recommendedMaxLocks: null,
      ...(placement ? { placement } : {}),
    },
    names: {
      partitionedTable: `${target.schema}.${partitioned}`,
      backupTable: `${target.schema}.${target.table}_old`,
      bucketColumn: 'bucket_id',
    },
    diskBytesNeeded: rows * 260,
    ddl,
    // A statement per partition (the pool's five beyond its further buckets, as the engine counts them).
    ddlStatements: 1 + treeStatements + 3,
    maxDdlStatements: exact ? 1 + treeStatements + 3 : 1 + treeStatements + distinct + distinct + 3,
    issues: [
      ...(blocked
        ? [
            {
              code: 'null_keys',
              severity: 'blocker' as const,
              message: `1,204 rows have a NULL ${target.keyColumn}; LIST partitions cannot take them without a default partition.`,
              fix: `DELETE FROM ${target.schema}.${target.table} WHERE ${target.keyColumn} IS NULL;`,
            },
          ]
        : []),
      ...(tooLarge
        ? [
            {
              code: 'partition_tree_too_large',
              severity: 'warning' as const,
              message: `The tree would have ${(1 + distinct + leaves).toLocaleString('en-US')} partitions: more than the lock table holds. The migration works in transactions that each lock a bounded share of the tree, but every query that does not filter by ${target.keyColumn} locks every partition and fails with "out of shared memory".`,
              fix: `Filter every query by ${target.keyColumn}, or: ALTER SYSTEM SET max_locks_per_transaction = 40446;  -- then restart PostgreSQL. Or: a bucket limit of at least 1,234 rows keeps the tree within half of the current lock table.`,
            },
          ]
        : []),
      {
        code: 'unique_index_widened',
        severity: 'warning' as const,
        message: `The primary key (id) becomes (id, ${target.keyColumn}, bucket_id): uniqueness of id alone is no longer enforced.`,
        fix: 'Check that the application does not rely on id being unique on its own.',
      },
      {
        code: 'lock_table',
        severity: 'info' as const,
        message: 'Queries that do not filter by the key lock every partition; max_locks_per_transaction is 64.',
        fix: 'ALTER SYSTEM SET max_locks_per_transaction = 256;',
      },
    ],
    uniqueness: [
      {
        name: `${target.table}_pkey`,
        kind: 'primary' as const,
        columns: 'id',
        enforcement: target.uniqueness?.[`${target.table}_pkey`] ?? ('table' as const),
        defaultEnforcement: 'table' as const,
        registryAvailable: true,
        deferrable: false,
        registryBytes: rows * 40,
      },
      {
        name: `${target.table}_live_code`,
        kind: 'unique' as const,
        columns: 'lower(code)',
        enforcement: 'bucket' as const,
        defaultEnforcement: 'bucket' as const,
        registryAvailable: false,
        reason: 'No registry can keep it across the table: it indexes expressions.',
        deferrable: false,
        registryBytes: rows * 30,
      },
    ],
    estimatedSeconds: rows / 90_000,
  };
}

export function managedTables(): ManagedTable[] {
  return [
    {
      configId: 1,
      schema: 'public',
      table: 'custom_module_data',
      partitionedTable: 'custom_module_data_partitioned',
      keyColumn: 'customer_id',
      bucketColumn: 'bucket_id',
      bucketLimit: 1000,
      mode: 'routing',
      keys: 12_000,
      leaves: 31_870,
      backupTable: 'custom_module_data_backup',
      createdAt: '2025-11-20T08:12:44Z',
      updatedAt: '2025-11-24T09:40:02Z',
    },
    {
      configId: 2,
      schema: 'public',
      table: 'orders',
      partitionedTable: 'orders_partitioned',
      keyColumn: 'module_id',
      bucketColumn: 'bucket_id',
      bucketLimit: 500_000,
      mode: 'routing',
      keys: 48,
      leaves: 130,
      backupTable: null,
      createdAt: '2025-10-02T14:00:00Z',
      updatedAt: '2025-11-22T16:05:31Z',
    },
  ];
}

/** A tree of `keys` level-1 partitions, each with 1-6 buckets; a few over-full. */
export function partitionTree(table: ManagedTable, keys = 12_000, exact = false): PartitionTree {
  const rand = random(table.configId * 101);
  const levelOne: LevelOneNode[] = [];
  let rows = 0;
  let leaves = 0;
  for (let k = 0; k < keys; k++) {
    const keyValue = String(1000 + k);
    const bucketCount = 1 + Math.floor(rand() ** 2 * 6);
    const buckets = [];
    let keyRows = 0;
    for (let b = 0; b < bucketCount; b++) {
      const last = b === bucketCount - 1;
      const over = k % 997 === 13 && b === 0;
      const assigned = last
        ? Math.round(rand() * table.bucketLimit)
        : over
          ? Math.round(table.bucketLimit * 1.12)
          : table.bucketLimit;
      const bucketRows = exact ? assigned : Math.round(assigned * (0.93 + rand() * 0.07));
      buckets.push({
        bucketId: b,
        leaf: `custom_module_data_customer_id_${keyValue}_bucket_id_${b}`,
        assigned,
        rows: bucketRows,
        rowsExact: exact,
        capacity: table.bucketLimit,
      });
      keyRows += bucketRows;
    }
    rows += keyRows;
    leaves += bucketCount;
    levelOne.push({
      keyValue,
      partition: `custom_module_data_customer_id_${keyValue}`,
      rows: keyRows,
      currentBucketId: bucketCount - 1,
      buckets,
      state: 'active',
      bucketLimit: null,
      pooled: false,
    });
  }
  return {
    table,
    levelOne,
    pool: null,
    retired: [],
    totals: { rows, leaves, levelOne: keys, detached: { keys: 0, rows: 0, leaves: 0 } },
  };
}

/**
 * `tree` with `pooledKeys` more keys (9000, 9001...) sharing a pool of
 * `buckets` full buckets (the last one half full), as a table whose small keys
 * share shows it.
 */
export function withPool(tree: PartitionTree, pooledKeys: number, buckets = 3, exact = false): PartitionTree {
  const capacity = tree.table.bucketLimit;
  const pool = {
    partition: `${tree.table.table}_${tree.table.keyColumn}_shared`,
    keys: pooledKeys,
    currentBucketId: buckets - 1,
    buckets: Array.from({ length: buckets }, (_, b) => {
      const rows = b === buckets - 1 ? Math.round(capacity / 2) : capacity;
      return {
        bucketId: b,
        leaf: `${tree.table.table}_${tree.table.keyColumn}_shared_bucket_id_${b}`,
        assigned: rows,
        rows,
        rowsExact: exact,
        capacity,
      };
    }),
    rows: 0,
  };
  pool.rows = pool.buckets.reduce((sum, b) => sum + b.rows, 0);
  const pooled = Array.from({ length: pooledKeys }, (_, k) => ({
    keyValue: String(9000 + k),
    partition: pool.partition,
    rows: exact ? Math.floor(pool.rows / pooledKeys) : 0,
    currentBucketId: pool.currentBucketId,
    buckets: [],
    state: 'active' as const,
    bucketLimit: null,
    pooled: true,
  }));
  return {
    ...tree,
    levelOne: [...tree.levelOne, ...pooled],
    pool,
    totals: {
      ...tree.totals,
      rows: tree.totals.rows + pool.rows,
      leaves: tree.totals.leaves + buckets,
      levelOne: tree.totals.levelOne + 1,
    },
  };
}

/** Bytes of every leaf of `tree`: about 180 bytes a row plus a page. */
export function leafSizes(tree: PartitionTree): LeafSizes {
  const bytes: Record<string, number> = {};
  let totalBytes = 0;
  for (const bucket of [...tree.levelOne.flatMap((node) => node.buckets), ...(tree.pool?.buckets ?? [])]) {
    bytes[bucket.leaf] = bucket.rows * 180 + 8192;
    totalBytes += bytes[bucket.leaf]!;
  }
  return { configId: tree.table.configId, bytes, totalBytes };
}

export function sizes(table: ManagedTable): SizesReport {
  const rand = random(table.configId * 31);
  const largest = Array.from({ length: 20 }, (_, i) => {
    const bytes = Math.round((1 - i / 24) * 2.4e9 * (0.8 + rand() * 0.2));
    return {
      keyValue: String(1042 + i * 37),
      partition: `custom_module_data_customer_id_${1042 + i * 37}`,
      bytes,
      rows: Math.round(bytes / 190),
    };
  }).sort((a, b) => b.bytes - a.bytes);
  const counts = [1210, 830, 790, 802, 760, 811, 795, 903, 1100, 24_400, 11];
  return {
    configId: table.configId,
    backup: table.backupTable ? { table: table.backupTable, bytes: 41.5e9 } : null,
    largestLevelOne: largest,
    fillBands: counts.map((buckets, i) => ({ band: i === 10 ? '>100%' : `${i * 10}-${i * 10 + 10}%`, buckets })),
    tableBytes: 38.2e9,
    indexBytes: 11.9e9,
    toastBytes: 2.1e9,
  };
}

export function trackerRows(table: ManagedTable, keys = 12_000): TrackerRow[] {
  const rand = random(table.configId * 17);
  const rows: TrackerRow[] = [];
  for (let k = 0; k < keys; k++) {
    const keyValue = String(1000 + k);
    const bucket = Math.floor(rand() ** 2 * 6);
    const assigned = Math.round(rand() * table.bucketLimit);
    rows.push({
      keyValue,
      levelOnePartition: `custom_module_data_customer_id_${keyValue}`,
      currentBucketId: bucket,
      currentLeaf: `custom_module_data_customer_id_${keyValue}_bucket_id_${bucket}`,
      currentCapacity: table.bucketLimit,
      currentAssigned: assigned,
      rowsAssigned: bucket * table.bucketLimit + assigned,
      lastUpdated: new Date(Date.UTC(2025, 10, 24, 9, 0, 0) - Math.round(rand() * 86_400_000 * 5)).toISOString(),
    });
  }
  return rows;
}

export function maintenanceReport(table: ManagedTable, ahead: number | null): MaintenanceReport {
  return {
    configId: table.configId,
    keysChecked: table.keys,
    findings: [
      {
        keyValue: '1013',
        kind: 'over_full',
        bucketId: 0,
        leaf: 'custom_module_data_customer_id_1013_bucket_id_0',
        rows: 1120,
        capacity: 1000,
        detail: 'Rows were written around the router (COPY into the leaf).',
      },
      {
        keyValue: '2010',
        kind: 'over_full',
        bucketId: 0,
        leaf: 'custom_module_data_customer_id_2010_bucket_id_0',
        rows: 1120,
        capacity: 1000,
        detail: 'Rows were written around the router.',
      },
      {
        keyValue: '4410',
        kind: 'tracker_drift',
        bucketId: 2,
        leaf: 'custom_module_data_customer_id_4410_bucket_id_2',
        rows: 640,
        capacity: 1000,
        detail: 'Tracker said 610 tickets; counted 640. Tracker updated.',
      },
      {
        keyValue: '7001',
        kind: 'empty',
        bucketId: 3,
        leaf: 'custom_module_data_customer_id_7001_bucket_id_3',
        rows: 0,
        capacity: 1000,
        detail: 'Created ahead, not used yet.',
      },
      ...(ahead !== null
        ? [
            {
              keyValue: '1042',
              kind: 'created_ahead' as const,
              bucketId: 6,
              leaf: 'custom_module_data_customer_id_1042_bucket_id_6',
              rows: null,
              capacity: 1000,
              detail: `Current bucket was over ${Math.round(ahead * 100)}% full.`,
            },
          ]
        : []),
    ],
  };
}

/** Steps as the journal records them: one per phase, back to back from `start`. */
export function runSteps(
  start: string,
  phases: [RunStep['phase'], number, Partial<RunStep>?][],
  targetNo = 1,
): RunStep[] {
  let at = Date.parse(start);
  return phases.map(([phase, durationMs, extra]) => {
    const step: RunStep = {
      targetNo,
      phase,
      startedAt: new Date(at).toISOString(),
      finishedAt: new Date(at + durationMs).toISOString(),
      durationMs,
      count: null,
      unit: null,
      lockMs: null,
      ...extra,
    };
    at += durationMs;
    return step;
  });
}

const MIGRATION_STEPS: [RunStep['phase'], number, Partial<RunStep>?][] = [
  ['prepare', 120],
  ['provision', 640, { count: 12_412, unit: 'partitions' }],
  ['copy', 2_900, { count: 298_952, unit: 'rows' }],
  ['indexes', 1_750, { count: 24_824, unit: 'indexes' }],
  ['catch_up', 80, { count: 17, unit: 'changes' }],
  ['cutover', 260, { lockMs: 42 }],
  ['verify', 900, { count: 298_952, unit: 'rows' }],
];

/** Actions on keys of the Sandbox's table, newest first: one running, one failed, one done. */
export function keyActions(): KeyActionEntry[] {
  const entry = (overrides: Partial<KeyActionEntry> & Pick<KeyActionEntry, 'actionId' | 'action' | 'keyValue'>) => ({
    configId: 1,
    schema: 'public',
    table: 'custom_module_data',
    status: 'succeeded' as const,
    step: 'done',
    startedBy: 'app_owner',
    startedAt: '2026-11-20T09:00:00.000Z',
    finishedAt: '2026-11-20T09:00:02.500Z',
    rows: null,
    bytes: null,
    error: null,
    ...overrides,
  });
  return [
    entry({ actionId: 3, action: 'export', keyValue: '1001', status: 'running', step: 'start', finishedAt: null }),
    entry({
      actionId: 2,
      action: 'attach',
      keyValue: '1002',
      status: 'failed',
      step: 'attaching',
      error: 'a row of table public.custom_module_data_customer_id_1002 does not belong to key 1002',
    }),
    entry({ actionId: 1, action: 'drop', keyValue: '1000', rows: 12_345, bytes: 3 * 1024 * 1024 }),
  ];
}

export function runs(): RunSummary[] {
  const target = (overrides: Partial<RunSummary['targets'][number]>): RunSummary['targets'][number] => ({
    targetNo: 1,
    schema: 'public',
    table: 'custom_module_data',
    keyColumn: 'customer_id',
    bucketLimit: 1000,
    phase: 'done',
    status: 'done',
    rowsTotal: 298_952,
    rowsCopied: 298_952,
    keysTotal: 12_000,
    keysCopied: 12_000,
    cutoverAt: '2025-11-24T09:31:10Z',
    error: null,
    ...overrides,
  });
  return [
    {
      runId: 3,
      status: 'failed',
      startedAt: '2025-11-24T10:02:00Z',
      finishedAt: '2025-11-24T10:04:41Z',
      canResume: true,
      canRollback: true,
      canFinalize: false,
      rollingBack: false,
      error: 'could not obtain lock on relation "public.invoices" within 5s',
      steps: runSteps('2025-11-24T10:02:00Z', MIGRATION_STEPS.slice(0, 5)),
      targets: [
        target({
          table: 'invoices',
          phase: 'cutover',
          status: 'failed',
          rowsTotal: 1_200_000,
          rowsCopied: 1_200_000,
          cutoverAt: null,
          error: 'lock timeout at cut-over',
        }),
      ],
    },
    {
      runId: 2,
      status: 'succeeded',
      startedAt: '2025-11-24T09:20:00Z',
      finishedAt: '2025-11-24T09:31:20Z',
      canResume: false,
      canRollback: true,
      canFinalize: true,
      rollingBack: false,
      error: null,
      targets: [target({})],
      steps: runSteps('2025-11-24T09:20:00Z', MIGRATION_STEPS),
    },
    {
      runId: 1,
      status: 'finalized',
      startedAt: '2025-10-02T13:10:00Z',
      finishedAt: '2025-10-02T14:00:00Z',
      canResume: false,
      canRollback: false,
      canFinalize: false,
      rollingBack: false,
      error: null,
      steps: runSteps('2025-10-02T13:10:00Z', [...MIGRATION_STEPS, ['finalize', 300]]),
      targets: [
        target({
          table: 'orders',
          keyColumn: 'module_id',
          status: 'finalized',
          bucketLimit: 500_000,
          rowsTotal: 24_000_000,
          rowsCopied: 24_000_000,
        }),
      ],
    },
  ];
}
