// The dry-run plan: everything a DBA needs to decide, read from the catalog,
// a count of the table when that is cheap (or asked for) and statistics
// otherwise (plan-counts.ts). Read-only: it never installs or changes anything.
import type pg from 'pg';
import type { MigrationPlan, MigrationTarget, PlanIssue } from '../../shared/plan.js';
import { BUCKET_COLUMN_DEFAULT, DEFAULT_WORKERS } from '../../shared/plan.js';
import { MAX_BUCKET_LIMIT } from '../../shared/bucket-limit.js';
import { displayIdentifier, displayTableName } from '../../shared/identifiers.js';
import { countOf, formatBytes } from '../../shared/text.js';
import { ident, qualified } from '../db/sql.js';
import {
  inspectTable,
  lockBudget,
  lockTableCapacity,
  serverInfo,
  type ColumnInfo,
  type ServerInfo,
  type TableInfo,
} from './catalog.js';
import { keyTypeVerdict, tableKeyTypeFacts, type KeyKind } from './key-types.js';
import {
  derivedName,
  leafNameParts,
  levelOneNameParts,
  migrationNames,
  NAME_ATTEMPTS,
  partitionNameCandidate,
} from './names.js';
import { indexPlans } from './index-ddl.js';
import { keyDistribution, type Counting, type KeyDistribution } from './plan-counts.js';
import { accessProblem, partwiseAccess } from './partwise-access.js';
import { rebuildIssues } from './rebuild-check.js';
import { partitionedTableStatements } from './table-ddl.js';
import { uniqueKeys, uniquenessIssues, uniquenessPlan } from './uniqueness.js';
import { DEFAULT_SCHEMA } from '../install/install.js';
import { workloadForPlan } from './workload/index.js';

export interface PlanOptions {
  counting: Counting;
  installSchema?: string;
  bucketColumn?: string;
  /** How many keys' partition DDL to list in full. */
  ddlKeyLimit?: number;
  /** How many statements to list at most (the count covers them all). */
  ddlStatementLimit?: number;
  /** The run that is planning its own table (its journal entry is not a conflict). */
  ignoreRunId?: number;
}

/** Blockers that only an exact count can lift: the run itself counts exactly before creating anything. */
export const UNCERTAIN_COUNT_BLOCKERS: readonly string[] = ['not_analyzed'];

export async function planMigration(
  client: pg.ClientBase,
  target: MigrationTarget,
  options: PlanOptions,
): Promise<MigrationPlan> {
  const issues: PlanIssue[] = [];
  const bucketColumn = options.bucketColumn ?? BUCKET_COLUMN_DEFAULT;
  const installSchema = options.installSchema ?? DEFAULT_SCHEMA;
  const server = await serverInfo(client);
  const info = await inspectTable(client, { schema: target.schema, name: target.table });
  const names = migrationNames(info.name, target.keyColumn);
  const key = info.columns.find((c) => c.name === target.keyColumn);
  /** How key values are made canonical (null: the key column is missing or its type refused). */
  let keyKind: KeyKind | null = null;

  checkTableKind(info, server, issues);
  await checkManagement(
    client,
    installSchema,
    info,
    names.partitionedTable,
    names.backupTable,
    options.ignoreRunId,
    issues,
  );
  if (!key) {
    issues.push({
      code: 'key_column_missing',
      severity: 'blocker',
      message: `${displayTableName(info)} has no column ${displayIdentifier(target.keyColumn)}`,
      fix: `Pick one of: ${info.columns.map((c) => displayIdentifier(c.name)).join(', ')}`,
    });
  } else {
    const verdict = keyTypeVerdict((await tableKeyTypeFacts(client, info.qualified)).get(key.name)!);
    if (verdict.usable) keyKind = verdict.kind;
    else {
      issues.push({
        code: 'key_type_unsupported',
        severity: 'blocker',
        message: `${displayIdentifier(key.name)} cannot be a partition key: ${verdict.reason}.`,
        fix: 'Partition by a column of one of the accepted types (integers, numeric, text, varchar, char, name, citext, uuid, boolean, an enum, or a domain over one of them).',
      });
    }
  }
  if (info.columns.some((c) => c.name === bucketColumn)) {
    issues.push({
      code: 'bucket_column_exists',
      severity: 'blocker',
      message: `${displayTableName(info)} already has a column named ${bucketColumn}, which Partwise adds to number the buckets`,
      fix: `Rename that column, or choose another bucket column name.`,
    });
  }

  const ddlKeyLimit = options.ddlKeyLimit ?? 25;
  // Keys are counted by their canonical text, as the migration counts them:
  // 1, 1.0 and 1.00 are one numeric key.
  const distribution: KeyDistribution = key
    ? await keyDistribution(
        client,
        info,
        key,
        keyKind,
        target.bucketLimit,
        // Counting through a view (a managed table's) or a partitioned table would scan a whole tree for a plan that cannot run.
        info.kind === 'r' ? options.counting : 'estimate',
        Math.max(10, ddlKeyLimit),
        target.shareBelow,
      )
    : {
        method: 'statistics',
        note: '',
        rows: info.rowEstimate,
        nullRows: 0,
        distinctKeys: 0,
        leaves: 0,
        maxKeys: 0,
        maxLeaves: 0,
        keys: [],
      };
  const exact = distribution.method === 'scanned';
  checkKeys(info, key, distribution, exact, issues);
  checkReplicaIdentity(info, issues);
  checkPrivileges(info, server, issues);
  checkDependants(info, server, issues);
  checkSubscriptions(info, names, issues);
  const indexes = key ? indexPlans(info, key.name, bucketColumn) : [];
  const unique = uniqueKeys(info, target.uniqueness);
  issues.push(...uniquenessIssues(info, unique, target.uniqueness), ...rebuildIssues(info, server));

  const levelOne = distribution.distinctKeys;
  const leaves = distribution.leaves;
  const indexCount = indexes.length;
  const capacity = lockTableCapacity(server);
  const placement =
    target.shareBelow !== undefined && distribution.pooled
      ? await placementCounts(client, info, target, distribution, indexCount)
      : undefined;
  // The leaves a statement that does not name the key reads are the tree's the migration makes.
  const tree = {
    leaves: placement?.leaves ?? leaves,
    levelOne: placement?.levelOne ?? levelOne,
    largestKeyRows: distribution.keys[0]?.rows ?? 0,
  };
  const workload =
    key && info.kind === 'r' ? await workloadForPlan(client, info, target, tree, server.currentUser) : null;
  issues.push(...(workload?.issues ?? []));
  // With small keys sharing, the tree that the lock table and the time are
  // sized by is the shared one: the pooled keys' partitions give way to the
  // pool and its buckets. partitions.levelOne and leaves stay one partition
  // per key; the placement's are the shared tree's (plannedTree).
  const pooledAway = placement ? levelOne - placement.levelOne + (leaves - placement.leaves) : 0;
  const treeSize: TreeSize = {
    partitions: 1 + levelOne + leaves - pooledAway,
    maxPartitions: 1 + distribution.maxKeys + distribution.maxLeaves - pooledAway,
    keys: distribution.method === 'statistics' ? distribution.distinctKeys : distribution.maxKeys,
    rows: Math.max(distribution.rows - distribution.nullRows, 0),
    exact,
  };
  // Every check that can stop the run uses the upper bound. From statistics
  // alone that bound is one key per row: enough to refuse, not to size a
  // setting or to count an application's locks, which take the estimate.
  const sized = distribution.method === 'statistics' ? treeSize.partitions : treeSize.maxPartitions;
  const lockedByFullScan = sized * (1 + indexCount);
  const recommendedMaxLocks = recommendMaxLocks(server, sized);
  const treeIssue = partitionTreeIssue(server, treeSize, target, recommendedMaxLocks);
  if (treeIssue) issues.push(treeIssue);
  const largest = distribution.keys[0];
  const keyIssue = largest
    ? largeKeyIssue(server, largest, target, indexCount, await toastPerLeaf(client, info), recommendedMaxLocks)
    : null;
  if (keyIssue) issues.push(keyIssue);
  if (lockedByFullScan > capacity * 0.25) {
    const column = displayIdentifier(target.keyColumn);
    issues.push({
      code: 'lock_table_pressure',
      severity: 'warning',
      message: `A query that does not filter by ${column} locks every partition and index: ${exact ? '' : distribution.method === 'index' ? 'up to ' : 'about '}${countOf(lockedByFullScan, 'relation')}, against the ${capacity.toLocaleString('en-US')} locks the lock table is sized for${recommendedMaxLocks ? ` (${(recommendedMaxLocks * lockSlots(server)).toLocaleString('en-US')} with the max_locks_per_transaction recommended above)` : ''}, shared by every session. Such queries plan slowly and ${lockedByFullScan > (recommendedMaxLocks ? recommendedMaxLocks * lockSlots(server) : capacity) ? 'fail' : 'can fail when several run at once'} with "out of shared memory".`,
      fix: `Filter such queries by ${column}: they then plan and lock only that key's partitions. A larger bucket limit makes fewer partitions.`,
    });
  }

  const diskBytesNeeded = Math.round(info.totalBytes * 1.1);
  issues.push({
    code: 'disk_space',
    severity: 'info',
    message: `The copy needs about ${formatBytes(diskBytesNeeded)} of free disk space in the table's tablespace (the table and its indexes once more), until the backup is finalized.`,
    fix: 'PostgreSQL does not report free disk space to clients: check it on the server before starting.',
  });
  issues.push({
    code: 'key_updates_refused',
    severity: 'info',
    message: `After the migration, an UPDATE that changes ${target.keyColumn} is refused with a clear error (the row would have to move to another key's partitions); delete and re-insert such rows instead.`,
  });
  issues.push({
    code: 'statistics',
    severity: 'info',
    message: `The new partitions are filled with autovacuum held off (it would take the copy's and the catch-up's share of the server): right after the swap each gets it back and is analyzed, before verification, and autovacuum vacuums them later. The partitioned table itself (never analyzed automatically) gets statistics from ANALYZE.`,
    fix: `ANALYZE ${qualified(info.schema, names.partitionedTable)};  -- after the migration, at a quiet time`,
  });
  issues.push({
    code: 'no_upserts',
    severity: 'warning',
    message: `After the migration, every INSERT ... ON CONFLICT (DO NOTHING as well as DO UPDATE) through ${displayTableName(info)} is refused on its first run with "INSERT with ON CONFLICT clause cannot be used with table that has INSERT or UPDATE rules", and so is MERGE. The routing view's trigger is not told about the clause, so DO NOTHING would raise the duplicate instead of skipping it; a rule on the view makes PostgreSQL refuse the statement at once rather than only when a duplicate arrives.`,
    fix: `Rewrite upserts as an UPDATE followed by an INSERT when nothing was updated (retrying on a duplicate), or run them against ${displayIdentifier(names.partitionedTable)} naming the key and bucket.`,
  });
  if (info.grants.some((g) => g.privilege === 'INSERT')) {
    issues.push({
      code: 'routing_privileges',
      severity: 'info',
      message: `Grants on ${displayTableName(info)} (table and column level) stay on it and are checked as before. Routed inserts run with the inserting role's rights, so each role that may insert is also granted INSERT on ${displayIdentifier(names.partitionedTable)} (on every column routing writes, defaults and the bucket column included: writing to that table directly, a role with column grants can set columns it cannot set through ${displayTableName(info)}), SELECT there as on ${displayTableName(info)}, and EXECUTE on the table's bucket function. A role granted INSERT on ${displayTableName(info)} after the migration receives them with its first insert.`,
      fix: `After REVOKE on ${displayTableName(info)}, inserts through it are refused at once; run SELECT ${ident(installSchema)}.sync_grants(${literal(info.schema)}, ${literal(info.name)}); to withdraw the bucket function too, and REVOKE on ${displayIdentifier(names.partitionedTable)} what the role should no longer write there directly.`,
    });
  }
  issues.push({
    code: 'routing_view',
    severity: 'info',
    message: `${displayTableName(info)} becomes a view over ${displayIdentifier(names.partitionedTable)} whose INSTEAD OF INSERT trigger routes new rows; INSERT, COPY, UPDATE, DELETE and SELECT keep working through it. TRUNCATE and ALTER TABLE must name ${displayIdentifier(names.partitionedTable)}; after altering its columns, run "partwise refresh" to rebuild the view.`,
  });

  // With small keys sharing, the DDL is that of the keys at or above the
  // threshold, then the pool's (copy.ts makes it last).
  const ownKeys = placement ? distribution.keys.filter((k) => k.rows >= placement.threshold) : distribution.keys;
  const statementLimit = options.ddlStatementLimit ?? Number.POSITIVE_INFINITY;
  const shownKeys = keysToList(ownKeys, target.bucketLimit, {
    keys: ddlKeyLimit,
    statements: statementLimit - (placement ? POOL_STATEMENTS : 0),
  });
  const shownStatements = shownKeys.reduce((sum, k) => sum + 1 + bucketsOf(k.rows, target.bucketLimit), 0);
  // The pool's buckets listed: the first (among its POOL_STATEMENTS), and the next ones within the limit.
  const poolListed = placement
    ? 1 + Math.max(0, Math.min(placement.poolBuckets - 1, statementLimit - POOL_STATEMENTS - shownStatements))
    : 0;
  const partitionNames = key
    ? await predictPartitionNames(
        client,
        info.schema,
        names.nameStem,
        shownKeys,
        target.bucketLimit,
        bucketColumn,
        poolListed,
      )
    : { keys: new Map<string, PredictedNames>() };
  checkPartitionNames(info, partitionNames, issues);
  const pooled = placement ? distribution.pooled! : { keys: 0, rows: 0, leaves: 0 };
  const planned = key
    ? planDdl(info, key, target, names.partitionedTable, bucketColumn, indexes, server.versionNum, {
        exact,
        shown: shownKeys,
        names: partitionNames,
        // The keys with a level-1 partition each: all of them, or those at or above the threshold.
        own: {
          keys: distribution.distinctKeys - pooled.keys,
          leaves: distribution.leaves - pooled.leaves,
          maxKeys: distribution.maxKeys - pooled.keys,
          maxLeaves: distribution.maxLeaves - pooled.leaves,
        },
        ...(placement ? { pool: { placement, installSchema } } : {}),
      })
    : null;
  // A statement per partition; the pool's level-1 partition and first bucket are among its POOL_STATEMENTS.
  const partitionStatements = placement
    ? placement.levelOne - 1 + (placement.leaves - 1) + POOL_STATEMENTS
    : levelOne + leaves;
  const unseen = distribution.maxKeys - distribution.distinctKeys + (distribution.maxLeaves - leaves);
  return {
    target,
    exact,
    serverVersion: server.version,
    table: { rows: distribution.rows, totalBytes: info.totalBytes, indexBytes: info.indexBytes, owner: info.owner },
    key: {
      column: target.keyColumn,
      type: key?.type ?? 'unknown',
      nullable: key ? !key.notNull : true,
      distinctKeys: distribution.distinctKeys,
      nullRows: distribution.nullRows,
      largest: distribution.keys.slice(0, 10),
    },
    counting: { method: distribution.method, note: distribution.note },
    partitions: {
      levelOne,
      leaves,
      maxLevelOne: distribution.maxKeys,
      maxLeaves: distribution.maxLeaves,
      lockedByFullScan,
      lockTableCapacity: capacity,
      recommendedMaxLocks,
      ...(placement ? { placement } : {}),
    },
    names: { partitionedTable: names.partitionedTable, backupTable: names.backupTable, bucketColumn },
    diskBytesNeeded,
    ddl: planned?.ddl ?? [],
    ddlStatements: planned ? planned.fixedStatements + partitionStatements : 0,
    maxDdlStatements: planned ? planned.fixedStatements + partitionStatements + unseen : 0,
    // A managed table's plan (or one a run is working on) says that, not what its routing view lacks as a table.
    issues: sortIssues(managementSettled(issues) ? issues.filter(onlyManagement) : issues),
    uniqueness: uniquenessPlan(unique),
    estimatedSeconds: Math.round(distribution.rows / 150_000 + (treeSize.partitions - 1) * 0.004 + 2),
    ...(workload ? { workload: workload.report } : {}),
  };
}

/**
 * The tree's relations one level-1 partition per key, and with the keys under
 * target.shareBelow in the pool: every partition (root, level-1, leaves) with
 * one index per planned index, and each leaf's TOAST table and its index when
 * the table has TOAST (a leaf has the table's columns, so it gets one too).
 */
async function placementCounts(
  client: pg.ClientBase,
  info: TableInfo,
  target: MigrationTarget,
  distribution: KeyDistribution,
  indexCount: number,
): Promise<NonNullable<MigrationPlan['partitions']['placement']>> {
  const { rows } = await client.query<{ toast: boolean }>(
    'SELECT reltoastrelid <> 0 AS toast FROM pg_class WHERE oid = $1',
    [info.oid],
  );
  const toastPerLeaf = rows[0]?.toast ? 2 : 0;
  const relations = (levelOne: number, leaves: number): number =>
    (1 + levelOne + leaves) * (1 + indexCount) + leaves * toastPerLeaf;
  const pooled = distribution.pooled!;
  const poolBuckets = Math.max(1, Math.ceil(pooled.rows / target.bucketLimit));
  const levelOne = distribution.distinctKeys - pooled.keys + 1;
  const leaves = distribution.leaves - pooled.leaves + poolBuckets;
  return {
    threshold: target.shareBelow!,
    pooledKeys: pooled.keys,
    pooledRows: pooled.rows,
    poolBuckets,
    levelOne,
    leaves,
    relationsPerKey: relations(distribution.distinctKeys, distribution.leaves),
    relationsShared: relations(levelOne, leaves),
  };
}

/** Backends that share the lock table: its size is max_locks_per_transaction times this. */
function lockSlots(server: ServerInfo): number {
  return server.maxConnections + server.maxPreparedTransactions;
}

/**
 * The one max_locks_per_transaction to recommend, or null when the current
 * one is enough: a lock table twice the tree, so that one transaction can
 * lock every partition (a query that does not filter by the key, creating a
 * registry's row trigger) and leave the other half to the application's
 * sessions meanwhile.
 */
export function recommendMaxLocks(server: ServerInfo, partitions: number): number | null {
  if (partitions * 2 <= lockTableCapacity(server)) return null;
  return Math.ceil((partitions * 2) / lockSlots(server));
}

export interface TreeSize {
  /** Partitions counted, or estimated. */
  partitions: number;
  /** Their upper bound (the same when counted). */
  maxPartitions: number;
  /** Keys (the bound when there is one, else the estimate) and rows with a key: for the bucket limit to suggest. */
  keys: number;
  rows: number;
  exact: boolean;
}

/**
 * What the lock table allows. Everything the migration does across the tree
 * locks a bounded share of it per transaction (provisioning, the copy, the
 * indexes and verification in groups within lockBudget; the catch-up's
 * replay pruned to a batch's keys; the key guard and a unique registry's row
 * trigger on each level-1 partition, placed a group per transaction or as
 * each partition is created; the swap's change capture on the partitioned
 * table alone): a tree larger than the lock table is migrated, and what it
 * costs the application is that a query that does not filter by the key
 * locks every partition (a warning, from the estimate: nothing of the run
 * depends on it). PostgreSQL sizes its shared lock table for
 * max_locks_per_transaction x (max_connections + max_prepared_transactions)
 * locks and guarantees no more (beyond that, only spare shared memory, which
 * lock-table.db.test.ts shows to run out). A unique registry's row trigger
 * was once created on the partitioned table, every partition locked at once:
 * a tree larger than the lock table was then a blocker with a registry, and
 * the run counted every key to check it again. It is placed a group of
 * partitions per transaction now (unique-registry.ts), and that rule went.
 */
export function partitionTreeIssue(
  server: ServerInfo,
  tree: TreeSize,
  target: MigrationTarget,
  recommendedMaxLocks: number | null,
): PlanIssue | null {
  const capacity = lockTableCapacity(server);
  if (tree.partitions * 2 <= capacity) return null;
  const column = displayIdentifier(target.keyColumn);
  const sizing = `PostgreSQL's lock table is sized for ${capacity.toLocaleString('en-US')} locks (max_locks_per_transaction ${server.maxLocksPerTransaction} x (max_connections ${server.maxConnections} + max_prepared_transactions ${server.maxPreparedTransactions})), shared by every session`;
  const recommended = recommendedMaxLocks
    ? ` Recommended: max_locks_per_transaction = ${recommendedMaxLocks}, which sizes the lock table for ${(recommendedMaxLocks * lockSlots(server)).toLocaleString('en-US')} locks, twice the tree, leaving half to the rest of the application.`
    : '';
  const raise = recommendedMaxLocks
    ? `ALTER SYSTEM SET max_locks_per_transaction = ${recommendedMaxLocks};  -- then restart PostgreSQL`
    : '';
  const limit = smallestSafeBucketLimit(server, tree);
  const orLimit = limit
    ? `a bucket limit of at least ${tree.exact ? '' : 'about '}${limit.toLocaleString('en-US')} rows keeps the tree within half of the current lock table`
    : `no bucket limit helps: the keys alone need more partitions than the current lock table allows`;
  return {
    code: 'partition_tree_too_large',
    severity: 'warning',
    message: `The tree would have ${tree.exact ? '' : 'about '}${countOf(tree.partitions, 'partition')}: more than ${tree.partitions > capacity ? 'the lock table holds' : 'half of the lock table'}. ${sizing}. The migration works in transactions that each lock a bounded share of the tree, but every query that does not filter by ${column} locks every partition and ${tree.partitions > capacity ? 'fails' : 'can fail'} with "out of shared memory".${recommended}`,
    fix: `Filter every query by ${column}${raise ? `, or: ${raise}` : ''}. Or: ${orLimit}.`,
  };
}

/**
 * Relations each leaf adds for its TOAST table and the TOAST table's index: a
 * leaf has the table's columns, so it has a TOAST table when the table does.
 */
async function toastPerLeaf(client: pg.ClientBase, info: TableInfo): Promise<number> {
  const { rows } = await client.query<{ toast: boolean }>(
    'SELECT reltoastrelid <> 0 AS toast FROM pg_class WHERE oid = $1',
    [info.oid],
  );
  return rows[0]?.toast ? 2 : 0;
}

/**
 * One key's buckets against a transaction's share of the lock table.
 * Provisioning, the copy, the indexes and verification work on such a key a
 * range of its buckets per transaction (leavesPerTransaction), so the
 * migration itself stays within its share. What still locks every bucket of
 * the key, with their indexes, in one transaction: the catch-up's replay and
 * the swap when that key's rows change during the migration, and any
 * statement on that key that does not name its bucket (a rollback's
 * carry-back reads only the buckets written since the swap). (Before the ranges, a key of 8,000 buckets,
 * one row each, filled the lock table of the default settings during its
 * migration: another session's query failed with "out of shared memory".)
 */
function largeKeyIssue(
  server: ServerInfo,
  key: { keyValue: string; rows: number },
  target: MigrationTarget,
  indexCount: number,
  toast: number,
  recommendedMaxLocks: number | null,
): PlanIssue | null {
  const share = lockBudget(server, DEFAULT_WORKERS);
  const buckets = Math.max(1, Math.ceil(key.rows / target.bucketLimit));
  // As the engine counts a key (replay_key_room in 20_change_capture.sql):
  // its level-1 partition and leaves with their indexes, and each leaf's
  // TOAST table and its index.
  const locked = (1 + buckets) * (1 + indexCount) + buckets * toast;
  if (locked <= share) return null;
  const fittingBuckets = Math.floor((share - (1 + indexCount)) / (1 + indexCount + toast));
  const limit = fittingBuckets >= 1 ? Math.ceil(key.rows / fittingBuckets) : null;
  const maxLocks = Math.ceil((locked * 2 * (DEFAULT_WORKERS + 1)) / lockSlots(server));
  const column = displayIdentifier(target.keyColumn);
  return {
    code: 'key_exceeds_lock_share',
    severity: 'info',
    message: `${column} ${key.keyValue} alone would have ${countOf(buckets, 'bucket')}, with their indexes${toast > 0 ? ' and TOAST tables' : ''} ${countOf(locked, 'relation')}: more than a transaction's share of the lock table (${share.toLocaleString('en-US')} of ${lockTableCapacity(server).toLocaleString('en-US')} with ${DEFAULT_WORKERS} workers). The migration provisions, copies, indexes and verifies it a range of buckets per transaction. Still locking all of them at once: replaying that key's changes made during the migration (in the catch-up and the swap), and every statement on that key that does not name a bucket; beyond the share the server lends spare shared memory, and when that runs out, such a step and other sessions' statements fail with "out of shared memory".`,
    // One max_locks_per_transaction per plan: the tree's, when it has one.
    fix: `${limit !== null && limit <= MAX_BUCKET_LIMIT ? `A bucket limit of at least ${limit.toLocaleString('en-US')} rows keeps that key within the share. Or: ` : ''}${recommendedMaxLocks === null ? `ALTER SYSTEM SET max_locks_per_transaction = ${maxLocks};  -- then restart PostgreSQL` : `a larger max_locks_per_transaction (a share is ${(DEFAULT_WORKERS + 1) * 2} times smaller than the lock table)`}`,
  };
}

/**
 * The smallest bucket limit whose tree takes at most half of the lock table:
 * leaves <= rows / limit + keys (each key's last bucket partly full), so
 * 1 + keys + rows / limit + keys <= capacity / 2.
 */
function smallestSafeBucketLimit(server: ServerInfo, tree: TreeSize): number | null {
  const room = lockTableCapacity(server) / 2 - 1 - 2 * tree.keys;
  if (room < 1) return null;
  const limit = Math.ceil(tree.rows / room);
  return limit <= MAX_BUCKET_LIMIT ? Math.max(limit, 1) : null;
}

function sortIssues(issues: PlanIssue[]): PlanIssue[] {
  const order = { blocker: 0, warning: 1, info: 2 } as const;
  return [...issues].sort((a, b) => order[a.severity] - order[b.severity]);
}

function checkTableKind(info: TableInfo, server: ServerInfo, issues: PlanIssue[]): void {
  const name = displayTableName(info);
  const kinds: Record<string, string> = {
    v: 'a view',
    m: 'a materialized view',
    f: 'a foreign table',
    p: 'already a partitioned table',
    S: 'a sequence',
    i: 'an index',
  };
  if (info.kind !== 'r') {
    issues.push({
      code: info.kind === 'p' ? 'already_partitioned' : 'not_a_table',
      severity: 'blocker',
      message: `${name} is ${kinds[info.kind] ?? `not an ordinary table (relkind ${info.kind})`}; Partwise migrates ordinary tables.`,
    });
  }
  if (info.isPartition) {
    issues.push({ code: 'is_partition', severity: 'blocker', message: `${name} is a partition of another table.` });
  } else if (info.hasInheritanceParents || info.hasInheritanceChildren) {
    issues.push({
      code: 'inheritance',
      severity: 'blocker',
      message: `${name} ${info.hasInheritanceParents ? 'inherits from another table' : 'has inheritance children'}; table inheritance cannot be combined with declarative partitioning.`,
      fix: `Remove the inheritance (ALTER TABLE ... NO INHERIT) first.`,
    });
  }
  if (info.persistence !== 'p') {
    issues.push({
      code: 'not_permanent',
      severity: 'blocker',
      message: `${name} is ${info.persistence === 't' ? 'a temporary' : 'an unlogged'} table; Partwise migrates permanent tables.`,
      fix: info.persistence === 'u' ? `ALTER TABLE ${info.qualified} SET LOGGED;` : undefined,
    });
  }
  if (info.rowSecurity && server.versionNum < 150000) {
    issues.push({
      code: 'row_security_needs_pg15',
      severity: 'blocker',
      message: `${name} uses row-level security. The routing view can apply the querying user's policies only on PostgreSQL 15 and later (security_invoker views); this server is ${server.version}.`,
      fix: 'Upgrade PostgreSQL to 15 or later, or disable row-level security on this table.',
    });
  }
}

async function checkManagement(
  client: pg.ClientBase,
  installSchema: string,
  info: TableInfo,
  partitionedTable: string,
  backupTable: string,
  ignoreRunId: number | undefined,
  issues: PlanIssue[],
): Promise<void> {
  const access = await partwiseAccess(client, installSchema);
  const problem = accessProblem(access, 'run');
  if (problem) {
    issues.push({ code: 'partwise_rights', severity: 'blocker', message: `${problem.message}.`, fix: problem.fix });
  }
  const running = access.canRead ? await runningMigration(client, installSchema, info, ignoreRunId) : null;
  if (running !== null) {
    issues.push({
      code: 'migration_in_progress',
      severity: 'blocker',
      message: `Run ${running} is migrating ${displayTableName(info)} (or was interrupted while doing so).`,
      fix: `partwise status; then partwise resume --run ${running} or partwise rollback --run ${running}`,
    });
    return; // the names below are that run's
  }
  const managed = access.canRead ? await managedBy(client, installSchema, info) : null;
  if (managed) {
    issues.push(managementIssue(displayTableName(info), managed));
    return; // what else the plan would say is about the view, not the table
  }
  const { rows } = await client.query<{ taken: string | null }>(
    `SELECT string_agg(relname, ', ') AS taken FROM pg_class
      WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND relname = ANY($2)`,
    [info.schema, [partitionedTable, backupTable]],
  );
  if (rows[0]?.taken) {
    issues.push({
      code: 'name_taken',
      severity: 'blocker',
      message: `The migration needs the names ${partitionedTable} and ${backupTable} in schema ${info.schema}, and ${rows[0].taken} already exists.`,
      fix: 'Rename or drop that table (an earlier migration\'s backup is dropped with "partwise finalize").',
    });
  }
}

const MANAGEMENT = ['already_managed', 'migration_in_progress', 'partwise_rights'];
const onlyManagement = (issue: PlanIssue): boolean => MANAGEMENT.includes(issue.code);
const managementSettled = (issues: PlanIssue[]): boolean =>
  issues.some((i) => i.code === 'already_managed' || i.code === 'migration_in_progress');

interface Management {
  partitionedTable: string;
  keyColumn: string;
  bucketLimit: number;
}

async function managedBy(client: pg.ClientBase, installSchema: string, info: TableInfo): Promise<Management | null> {
  const { rows } = await client.query<{ partitioned_table: string; key_column: string; bucket_limit: string }>(
    `SELECT partitioned_table, key_column, bucket_limit::text FROM ${ident(installSchema)}.partition_config
      WHERE table_schema = $1 AND table_name = $2`,
    [info.schema, info.name],
  );
  const row = rows[0];
  return row
    ? { partitionedTable: row.partitioned_table, keyColumn: row.key_column, bucketLimit: Number(row.bucket_limit) }
    : null;
}

function managementIssue(name: string, managed: Management): PlanIssue {
  return {
    code: 'already_managed',
    severity: 'blocker',
    message: `${name} is already partitioned by Partwise: it is the routing view over ${managed.partitionedTable} (by ${managed.keyColumn}, at most ${managed.bucketLimit.toLocaleString('en-US')} rows per bucket).`,
    fix: 'Change its bucket limit in the Tracker; undo the migration with "partwise rollback --run N" (see "partwise status").',
  };
}

async function runningMigration(
  client: pg.ClientBase,
  installSchema: string,
  info: TableInfo,
  ignoreRunId: number | undefined,
): Promise<number | null> {
  const { rows } = await client.query<{ run_id: string }>(
    `SELECT r.run_id FROM ${ident(installSchema)}.migration_target t JOIN ${ident(installSchema)}.migration_run r USING (run_id)
      WHERE t.table_schema = $1 AND t.table_name = $2 AND r.status = 'running' AND r.run_id IS DISTINCT FROM $3`,
    [info.schema, info.name, ignoreRunId ?? null],
  );
  return rows[0] ? Number(rows[0].run_id) : null;
}

function checkKeys(
  info: TableInfo,
  key: ColumnInfo | undefined,
  distribution: KeyDistribution,
  exact: boolean,
  issues: PlanIssue[],
): void {
  if (!key) return;
  const column = ident(key.name);
  if (distribution.nullRows > 0) {
    issues.push({
      code: 'null_keys',
      severity: 'blocker',
      message: `${exact ? '' : 'About '}${countOf(distribution.nullRows, 'row')} ${distribution.nullRows === 1 ? 'has' : 'have'} no ${key.name} (NULL); every row needs a key to be placed in a partition.`,
      fix: `UPDATE ${info.qualified} SET ${column} = <a key value> WHERE ${column} IS NULL;  -- or delete those rows`,
    });
  } else if (!key.notNull && !exact) {
    issues.push({
      code: 'nullable_key',
      severity: 'warning',
      message: `${key.name} allows NULL. Statistics show none, but only an exact plan scans for them; the migration checks every row and stops, changing nothing, if it finds one.`,
      fix: `ALTER TABLE ${info.qualified} ALTER COLUMN ${column} SET NOT NULL;  -- makes it certain (scans the table)`,
    });
  }
  if (!info.analyzed && !exact) {
    // Without numbers, no check that protects the run (the lock table above all) can be made.
    issues.push({
      code: 'not_analyzed',
      severity: 'blocker',
      message: `${displayTableName(info)} has no statistics, so its row and key counts, and the partitions the migration would create, are unknown.`,
      fix: `ANALYZE ${info.qualified};  -- or count exactly`,
    });
  }
}

function checkReplicaIdentity(info: TableInfo, issues: PlanIssue[]): void {
  const hasIdentity = info.indexes.some(
    (i) =>
      (i.isPrimary || i.isUnique) &&
      i.isValid &&
      i.keyColumns.every((c) => c !== null && info.columns.find((col) => col.name === c)?.notNull),
  );
  if (!hasIdentity) {
    issues.push({
      code: 'no_row_identity',
      severity: 'blocker',
      message: `${displayTableName(info)} has no primary key (nor a unique index on NOT NULL columns). The online migration identifies the rows changed during the copy by such a key.`,
      fix: `ALTER TABLE ${info.qualified} ADD PRIMARY KEY (...);`,
    });
  }
}

function checkPrivileges(info: TableInfo, server: ServerInfo, issues: PlanIssue[]): void {
  if (!info.ownedByCurrentUser) {
    issues.push({
      code: 'not_owner',
      severity: 'blocker',
      message: `Role ${server.currentUser} does not own ${displayTableName(info)} (its owner is ${info.owner}); renaming it and moving its dependants needs the owner's rights.`,
      fix: `Connect as ${info.owner} or a member of it (GRANT ${ident(info.owner)} TO ${ident(server.currentUser)};)`,
    });
  } else if (info.owner !== server.currentUser && !info.canGiveToOwner) {
    // Found otherwise at the first partition made, after the change capture has started.
    issues.push({
      code: 'owner_without_set',
      severity: 'blocker',
      message: `Role ${server.currentUser} has the rights of ${displayTableName(info)}'s owner ${info.owner} but may not SET ROLE to it (PostgreSQL 16 and later grant a membership's rights and SET ROLE apart: this one has SET FALSE): each relation the migration makes must be given to ${info.owner} (ALTER ... OWNER TO), which needs that option.`,
      fix: `GRANT ${ident(info.owner)} TO ${ident(server.currentUser)} WITH SET TRUE;  -- or connect as ${info.owner}`,
    });
  } else if (info.owner !== server.currentUser) {
    issues.push({
      code: 'owner_through_membership',
      severity: 'info',
      message: `Role ${server.currentUser} works on ${displayTableName(info)} as a member of its owner ${info.owner}: each relation the migration makes (the partitioned table, every partition, the routing view) is given to ${info.owner} once made (ALTER ... OWNER TO, one statement more each, not in the DDL below), so that the tree is the owner's, as the table was.`,
    });
  }
  if (!info.canCreateInSchema) {
    issues.push({
      code: 'no_create_privilege',
      severity: 'blocker',
      message: `Role ${server.currentUser} lacks the CREATE privilege on schema ${info.schema}, needed to create the partitioned table and its partitions.`,
      fix: `GRANT CREATE ON SCHEMA ${ident(info.schema)} TO ${ident(server.currentUser)};`,
    });
  }
}

function checkDependants(info: TableInfo, server: ServerInfo, issues: PlanIssue[]): void {
  const name = displayTableName(info);
  for (const fk of info.inboundForeignKeys) {
    issues.push({
      code: 'inbound_foreign_key',
      severity: 'blocker',
      message: `Foreign key ${fk.name} of ${fk.referencingTable} references ${name}. A partitioned table can be referenced only through a unique key that includes its partition columns (the key column and ${BUCKET_COLUMN_DEFAULT}), which the referencing rows do not have.`,
      fix: `ALTER TABLE ${fk.referencingTable} DROP CONSTRAINT ${ident(fk.name)};  -- and enforce the reference in the application`,
    });
  }
  for (const con of info.constraints.filter((c) => c.type === 'x')) {
    issues.push({
      code: 'exclusion_constraint',
      severity: 'blocker',
      message: `Exclusion constraint ${con.name} cannot be carried to a partitioned table (it would have to include the partition columns with equality).`,
      fix: `ALTER TABLE ${info.qualified} DROP CONSTRAINT ${ident(con.name)};`,
    });
  }
  const outbound = info.constraints.filter((c) => c.type === 'f');
  if (outbound.length > 0) {
    issues.push({
      code: 'outbound_foreign_keys',
      severity: 'info',
      message: `Foreign keys ${outbound.map((c) => c.name).join(', ')} are re-created on the partitioned table and validated before the swap, with locks that do not block writers of the referenced tables.`,
    });
  }
  for (const view of info.dependentViews) {
    if (!view.ownedByCurrentUser) {
      issues.push({
        code: 'dependent_view_not_owned',
        severity: 'blocker',
        message: `${view.kind === 'm' ? 'Materialized view' : 'View'} ${view.schema}.${view.name} depends on ${name} and is owned by ${view.owner}; re-pointing it needs its owner's rights.`,
        fix: `Connect as a role that is a member of ${view.owner}.`,
      });
    } else if (view.kind === 'm') {
      issues.push({
        code: view.hasDependants ? 'dependent_matview_has_dependants' : 'dependent_materialized_view',
        severity: view.hasDependants ? 'blocker' : 'warning',
        message: view.hasDependants
          ? `Materialized view ${view.schema}.${view.name} depends on ${name} and has dependants of its own; it would have to be dropped and rebuilt.`
          : `Materialized view ${view.schema}.${view.name} is rebuilt over the new table after the swap (it keeps serving its old contents until the rebuilt one replaces it).`,
        fix: view.hasDependants ? `Drop its dependants, migrate, then recreate them.` : undefined,
      });
    } else {
      issues.push({
        code: 'dependent_view',
        severity: 'warning',
        message: `View ${view.schema}.${view.name} depends on ${name}; it is re-pointed to the new table during the swap (views bind to tables, not names).`,
      });
    }
  }
  // Partwise's own change-capture triggers are not the table's.
  for (const trigger of info.triggers.filter((t) => !t.name.startsWith('partwise_capture_'))) {
    if (trigger.hasTransitionTables && trigger.isRowLevel) {
      issues.push({
        code: 'transition_table_trigger',
        severity: 'blocker',
        message: `Trigger ${trigger.name} is a row-level trigger with transition tables, which PostgreSQL does not support on partitions.`,
        fix: 'Make it a statement-level trigger, or drop it.',
      });
    } else {
      issues.push({
        code: 'trigger_recreated',
        severity: 'warning',
        message: `Trigger ${trigger.name} is re-created on the partitioned table at the swap.${trigger.isRowLevel ? " Row-level triggers fire on the leaf partition: TG_TABLE_NAME is then the leaf's name, and a BEFORE trigger may not change the key." : ''}`,
      });
    }
  }
  if (info.rowSecurity && server.versionNum >= 150000) {
    issues.push({
      code: 'row_security',
      severity: 'warning',
      message: `Row-level security policies (${info.policies.map((p) => p.name).join(', ') || 'none defined'}) are re-created on the partitioned table; the view checks the querying user's policies (security_invoker), and routed inserts run with the inserting user's rights, so INSERT policies apply too.`,
    });
  }
  for (const publication of info.publications) {
    issues.push({
      code: 'publication',
      severity: 'warning',
      message: `Publication ${publication} publishes ${name}. After the swap it keeps publishing the backup table, which no longer receives writes.`,
      fix: `After the migration: ALTER PUBLICATION ${ident(publication)} ADD TABLE <schema>.<partitioned table>; and set publish_via_partition_root = true if subscribers expect one table.`,
    });
  }
  const identityAlways = info.columns.filter((c) => c.identity === 'a');
  if (identityAlways.length > 0) {
    const names = identityAlways.map((c) => c.name).join(', ');
    issues.push({
      code: 'identity_always',
      severity: 'info',
      message: `Identity column${identityAlways.length > 1 ? 's' : ''} ${names} keep${identityAlways.length > 1 ? '' : 's'} ${identityAlways.length > 1 ? 'their' : 'its'} values and sequence. Through the routing view an explicit value is refused as before (GENERATED ALWAYS: "cannot insert a non-DEFAULT value"), and so is INSERT ... OVERRIDING SYSTEM VALUE, which the table itself accepted: the view cannot pass that clause on to the table.`,
      fix: `To load rows with their own ${names} values after the migration, insert them into the partitioned table with OVERRIDING SYSTEM VALUE and the current bucket of their key (partwise.tracker_status shows it), then run "partwise maintain", which moves the key's ticket counter past them.`,
    });
  }
}

/**
 * A table that a subscription of this database replicates into cannot become
 * a view: logical replication writes only to tables (partitioned ones
 * included, never views), and the subscription's record of the table follows
 * its OID to the backup.
 */
function checkSubscriptions(
  info: TableInfo,
  names: { partitionedTable: string; backupTable: string },
  issues: PlanIssue[],
): void {
  const name = displayTableName(info);
  for (const subscription of info.subscriptions) {
    issues.push({
      code: 'subscription_target',
      severity: 'blocker',
      message: `Subscription ${displayIdentifier(subscription.name)}${subscription.enabled ? '' : ' (disabled)'} replicates into ${name}. After the swap ${name} is a view over ${displayIdentifier(names.partitionedTable)}, which logical replication cannot write to, and the subscription's record of the table follows the renamed original ${displayIdentifier(names.backupTable)}: the table's replication would stop with an error, or its changes would land in the backup, which nothing reads any more.`,
      fix: `Take the table out of the subscription first: on the publisher, drop it from ${subscription.publications.length > 1 ? 'whichever of its publications publishes it' : 'its publication'} (${subscription.publications.map((p) => `ALTER PUBLICATION ${ident(p)} DROP TABLE ${info.qualified};`).join(' ')}), then here ALTER SUBSCRIPTION ${ident(subscription.name)} REFRESH PUBLICATION; (a disabled subscription must be enabled for the refresh; or DROP SUBSCRIPTION ${ident(subscription.name)}; if this table is all it replicates). Then migrate, and replicate into ${qualified(info.schema, names.partitionedTable)} if its rows must keep coming: a subscription matches tables by schema and name, and writes to a partitioned table but not to a view.`,
    });
  }
}

/** The keys whose partitions the DDL lists: the first ones, within both limits (the count covers them all). */
function keysToList(
  keys: { keyValue: string; rows: number }[],
  bucketLimit: number,
  limits: { keys: number; statements: number },
): { keyValue: string; rows: number }[] {
  let budget = limits.statements;
  const listed = [];
  for (const k of keys.slice(0, limits.keys)) {
    const statements = 1 + bucketsOf(k.rows, bucketLimit);
    if (statements > budget) break;
    budget -= statements;
    listed.push(k);
  }
  return listed;
}

function bucketsOf(rows: number, bucketLimit: number): number {
  return Math.max(1, Math.ceil(rows / bucketLimit));
}

/**
 * The pool's statements listed in full, as create_key_pool runs them
 * (17_key_pool.sql): its level-1 partition, attached as the DEFAULT one, its
 * first bucket made detached and attached, its ticket counter. Its further
 * buckets are one CREATE TABLE ... PARTITION OF each (provision_pool_buckets).
 */
const POOL_STATEMENTS = 5;

interface DdlListing {
  exact: boolean;
  /** The keys whose partitions are listed, and their names. */
  shown: { keyValue: string; rows: number }[];
  names: PlannedNames;
  /** Every key with a level-1 partition of its own, listed or not, and their upper bounds. */
  own: { keys: number; leaves: number; maxKeys: number; maxLeaves: number };
  pool?: { placement: NonNullable<MigrationPlan['partitions']['placement']>; installSchema: string };
}

function planDdl(
  info: TableInfo,
  key: ColumnInfo,
  target: MigrationTarget,
  partitionedTable: string,
  bucketColumn: string,
  indexes: ReturnType<typeof indexPlans>,
  serverVersionNum: number,
  listing: DdlListing,
): { ddl: string[]; fixedStatements: number } {
  const { shown, own, pool } = listing;
  const root = qualified(info.schema, partitionedTable);
  const ddl = partitionedTableStatements(info, {
    partitioned: root,
    key,
    bucketColumn,
    serverVersionNum,
    identitySequenceNames: new Map(),
  }).map((statement) => `${statement};`);
  const fixedStatements = ddl.length + indexes.length + 2;
  for (const k of shown) {
    const names = listing.names.keys.get(k.keyValue);
    const levelOne = names?.levelOne;
    if (!names || !levelOne) {
      ddl.push(`-- no free name for the level-1 partition of key ${literal(k.keyValue)}`);
      continue;
    }
    ddl.push(
      `CREATE TABLE ${qualified(info.schema, levelOne)} PARTITION OF ${root} FOR VALUES IN (${literal(k.keyValue)}) PARTITION BY LIST (${ident(bucketColumn)});`,
    );
    names.leaves.forEach((leaf, b) => {
      ddl.push(
        leaf
          ? `CREATE TABLE ${qualified(info.schema, leaf)} PARTITION OF ${qualified(info.schema, levelOne)} FOR VALUES IN (${b});`
          : `-- no free name for bucket ${b} of key ${literal(k.keyValue)}`,
      );
    });
  }
  // The keys not listed (past the listing limits, or not named by statistics).
  const listedLeaves = shown.reduce((sum, k) => sum + bucketsOf(k.rows, target.bucketLimit), 0);
  const moreKeys = own.keys - shown.length;
  if (moreKeys > 0) {
    const moreLeaves = Math.max(own.leaves - listedLeaves, moreKeys);
    const bounds = [
      ...(own.maxKeys > own.keys ? [countOf(own.maxKeys - shown.length, 'key')] : []),
      ...(own.maxLeaves > own.leaves ? [countOf(own.maxLeaves - listedLeaves, 'leaf', 'leaves')] : []),
    ];
    const bound = bounds.length > 0 ? ` (estimated; up to ${bounds.join(' and ')})` : '';
    ddl.push(
      `-- ... and, alike, ${listing.exact ? '' : 'about '}${countOf(moreKeys, 'more level-1 partition')} with ${countOf(moreLeaves, 'leaf', 'leaves')}${bound}`,
    );
  }
  if (pool) ddl.push(...poolDdl(info.schema, root, bucketColumn, listing.exact, pool, listing.names.pool));
  ddl.push(
    `-- each leaf made WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false) until after the swap, then given the original's setting and analyzed`,
    `-- rows copied in one pass per worker, ${bucketColumn} = (row number within the key - 1) / ${target.bucketLimit}${pool ? `; in the pool, the pooled keys' rows numbered one after the other` : ''}`,
  );
  for (const index of indexes) ddl.push(index.statement(root));
  ddl.push(
    `ALTER TABLE ${info.qualified} RENAME TO ${ident(derivedName(info.name, '_backup'))};  -- at the swap, under a short lock`,
    `CREATE VIEW ${info.qualified} AS SELECT ${info.columns.map((c) => ident(c.name)).join(', ')} FROM ${root};  -- with an INSTEAD OF INSERT trigger that routes rows`,
  );
  return { ddl, fixedStatements };
}

/** The pool of small keys' statements, as create_key_pool and provision_pool_buckets run them, after the other keys' partitions. */
function poolDdl(
  schema: string,
  root: string,
  bucketColumn: string,
  exact: boolean,
  { placement, installSchema }: NonNullable<DdlListing['pool']>,
  names: PredictedNames | undefined,
): string[] {
  const about = exact ? '' : 'about ';
  const ddl = [
    `-- the pool of small keys: ${about}${countOf(placement.pooledKeys, 'key')} under ${countOf(placement.threshold, 'row')}, ${about}${countOf(placement.pooledRows, 'row')} in ${about}${countOf(placement.poolBuckets, 'bucket')}`,
  ];
  if (!names?.levelOne) return [...ddl, '-- no free name for the pool of small keys'];
  const poolTable = qualified(schema, names.levelOne);
  const like = (parent: string): string =>
    `(LIKE ${parent} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED INCLUDING STORAGE)`;
  ddl.push(
    `CREATE TABLE ${poolTable} ${like(root)} PARTITION BY LIST (${ident(bucketColumn)});`,
    `ALTER TABLE ${root} ATTACH PARTITION ${poolTable} DEFAULT;`,
  );
  names.leaves.forEach((leaf, b) => {
    if (!leaf) ddl.push(`-- no free name for bucket ${b} of the pool`);
    else if (b > 0) ddl.push(`CREATE TABLE ${qualified(schema, leaf)} PARTITION OF ${poolTable} FOR VALUES IN (${b});`);
    else {
      ddl.push(
        `CREATE TABLE ${qualified(schema, leaf)} ${like(poolTable)};`,
        `ALTER TABLE ${poolTable} ATTACH PARTITION ${qualified(schema, leaf)} FOR VALUES IN (0);`,
        `CREATE SEQUENCE ${ident(installSchema)}.pool_ticket_N AS bigint START WITH 1 MINVALUE 1;  -- the pool's ticket counter; N is the table's config_id`,
      );
    }
  });
  const more = placement.poolBuckets - names.leaves.length;
  if (more > 0) ddl.push(`-- ... and, alike, ${about}${countOf(more, 'more pool bucket')}`);
  return ddl;
}

interface PredictedNames {
  /** Undefined when every candidate name is taken. */
  levelOne: string | undefined;
  preferredLevelOne: string;
  /** One per bucket. */
  leaves: (string | undefined)[];
  preferredLeaves: string[];
}

/** The names of the listed keys' partitions, and of the pool's and its listed buckets. */
interface PlannedNames {
  keys: Map<string, PredictedNames>;
  pool?: PredictedNames;
}

/**
 * The names the migration will give the shown keys' partitions, then the
 * pool's (made after them) when poolBuckets are listed: the first candidate
 * name that no relation or type of the schema holds (create_partition's and
 * create_key_pool's rule), read from the catalog, so that a collision with
 * another table's partitions or an unrelated table shows in the DDL. Read-only.
 */
async function predictPartitionNames(
  client: pg.ClientBase,
  schema: string,
  nameStem: string,
  keys: { keyValue: string; rows: number }[],
  bucketLimit: number,
  bucketColumn: string,
  poolBuckets: number,
): Promise<PlannedNames> {
  const levelOneParts: [string, string][] = keys.map((k) => levelOneNameParts(nameStem, k.keyValue));
  const buckets = keys.map((k) => bucketsOf(k.rows, bucketLimit));
  if (poolBuckets > 0) {
    levelOneParts.push([`${nameStem}_shared`, '']);
    buckets.push(poolBuckets);
  }
  const levelOnes = await firstFreeNames(client, schema, levelOneParts);
  const leafParts: { key: number; parts: [string, string] }[] = [];
  levelOnes.forEach((levelOne, i) => {
    if (levelOne === undefined) return;
    for (let b = 0; b < buckets[i]!; b++) {
      leafParts.push({ key: i, parts: leafNameParts(levelOne, bucketColumn, b) });
    }
  });
  const leaves = await firstFreeNames(
    client,
    schema,
    leafParts.map((l) => l.parts),
  );
  const predicted = levelOneParts.map((parts, i): PredictedNames => {
    const mine = leafParts.map((l, j) => ({ ...l, name: leaves[j] })).filter((l) => l.key === i);
    return {
      levelOne: levelOnes[i],
      preferredLevelOne: partitionNameCandidate(...parts, 0),
      leaves: mine.map((l) => l.name),
      preferredLeaves: mine.map((l) => partitionNameCandidate(...l.parts, 0)),
    };
  });
  return {
    keys: new Map(keys.map((k, i) => [k.keyValue, predicted[i]!])),
    ...(poolBuckets > 0 ? { pool: predicted[keys.length]! } : {}),
  };
}

/** For each (base, suffix), the first candidate name that no relation or type of the schema holds, nor an earlier one of the list. */
async function firstFreeNames(
  client: pg.ClientBase,
  schema: string,
  wanted: [string, string][],
): Promise<(string | undefined)[]> {
  const result: (string | undefined)[] = wanted.map(() => undefined);
  const assigned = new Set<string>();
  let open = wanted.map((_, i) => i);
  for (let attempt = 0; attempt < NAME_ATTEMPTS && open.length > 0; attempt++) {
    const candidates = open.map((i) => partitionNameCandidate(...wanted[i]!, attempt));
    const { rows } = await client.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = ANY ($2::text[])
       UNION
       SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = $1 AND t.typname = ANY ($2::text[])`,
      [schema, candidates],
    );
    const taken = new Set(rows.map((r) => r.name));
    const next: number[] = [];
    open.forEach((i, j) => {
      const candidate = candidates[j]!;
      if (taken.has(candidate) || assigned.has(candidate)) next.push(i);
      else {
        result[i] = candidate;
        assigned.add(candidate);
      }
    });
    open = next;
  }
  return result;
}

/** Partitions whose preferred names other relations hold: they take the next free one, or none is left. */
function checkPartitionNames(info: TableInfo, names: PlannedNames, issues: PlanIssue[]): void {
  const moved: string[] = [];
  const missing: string[] = [];
  for (const predicted of [...names.keys.values(), ...(names.pool ? [names.pool] : [])]) {
    const pairs: [string | undefined, string][] = [
      [predicted.levelOne, predicted.preferredLevelOne],
      ...predicted.leaves.map((leaf, b): [string | undefined, string] => [leaf, predicted.preferredLeaves[b]!]),
    ];
    for (const [name, preferred] of pairs) {
      if (name === undefined) missing.push(preferred);
      else if (name !== preferred) moved.push(`${preferred} is taken, so ${name}`);
    }
  }
  if (missing.length > 0) {
    issues.push({
      code: 'partition_name_unavailable',
      severity: 'blocker',
      message: `No free name is left for ${missing.length} partitions in schema ${info.schema}: ${missing.slice(0, 3).join(', ')} and each of its ${NAME_ATTEMPTS - 1} variants (_1, _2...) are taken.`,
      fix: 'Drop or rename the relations that hold those names.',
    });
  }
  if (moved.length > 0) {
    issues.push({
      code: 'partition_names_taken',
      severity: 'info',
      message: `Other relations of schema ${info.schema} hold some preferred partition names, so those partitions take the next free name: ${moved.slice(0, 3).join('; ')}${moved.length > 3 ? `; and ${moved.length - 3} more` : ''}. The DDL shows the names used for the keys it lists; every other key's partitions, and those added later by routing and maintenance, are named by the same rule.`,
    });
  }
}

function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
