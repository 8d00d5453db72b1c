// One action on one key, start to end: find the table and the key (a clear
// error, nothing changed, for either unknown), upgrade Partwise's SQL if it
// is older, journal the action under the key's lock, do it, record how it
// ended. Running an interrupted action again continues it (see state.ts).
import type pg from 'pg';
import type { Writable } from 'node:stream';
import type { KeyActionKind, KeyActionOptions, KeyActionResult, KeyPlan, KeyProgress } from '../../../shared/keys.js';
import type { TableName } from '../../../shared/identifiers.js';
import { countOf, formatBytes } from '../../../shared/text.js';
import { PartwiseError } from '../../db/errors.js';
import { ident } from '../../db/sql.js';
import { install } from '../../install/install.js';
import { DEFAULT_LOCK_RETRY, type LockRetryOptions } from '../locks.js';
import { findManagedTable } from '../maintain.js';
import {
  attachKey,
  detachKey,
  dropKey,
  exportKeyRows,
  maintainLeaves,
  readmitKey,
  setKeyLimit,
  type ActionContext,
  type ActionOutcome,
} from './actions.js';
import { closedBuckets, compactKey, proposeCompaction } from './compact.js';
import { keyFacts, type KeyFacts } from './facts.js';
import { KeyJournal } from './journal.js';
import { isolatedMoveFacts, moveFacts, moveKey, pooledKeyIn } from './move.js';
import { isolateKey, poolFacts, shareKey } from './isolate.js';
import { ISOLATING_FIRST, planKeyAction, pooledNothingToDo, type StorageFacts } from './plan.js';
import { connectWithDefaults } from '../session-defaults.js';

export interface KeyActionRunOptions {
  installSchema: string;
  lock?: Partial<LockRetryOptions>;
  signal?: AbortSignal;
  onProgress?: (progress: KeyProgress) => void;
  /** export: where the rows go (the caller ends it). */
  output?: Writable;
  /** compact: rows moved per transaction (COMPACT_BATCH_ROWS unless given). */
  compactBatchRows?: number;
}

/** Whether the role may create temporary tables (isolate and share hold the key's rows in one). */
async function tempPrivilege(db: pg.Pool | pg.ClientBase): Promise<NonNullable<StorageFacts['temp']>> {
  const { rows } = await db.query<{ allowed: boolean; role: string; database: string }>(
    `SELECT has_database_privilege(current_database(), 'TEMP') AS allowed, current_user AS role,
            current_database() AS database`,
  );
  return rows[0]!;
}

/** Whether the role may give what the switch makes to the owner of the partitioned table (take_owner_of). */
async function ownerGiving(
  db: pg.Pool | pg.ClientBase,
  facts: KeyFacts,
): Promise<NonNullable<StorageFacts['giveToOwner']>> {
  const { rows } = await db.query<{ allowed: boolean; role: string; owner: string }>(
    // 'SET' is no privilege name before 16; the CASE evaluates only the branch of this server.
    `SELECT CASE WHEN current_setting('server_version_num')::int >= 160000 THEN pg_has_role(c.relowner, 'SET')
                 ELSE pg_has_role(c.relowner, 'MEMBER') END AS allowed,
            current_user AS role, pg_get_userbyid(c.relowner) AS owner
       FROM pg_class c WHERE c.oid = to_regclass(format('%I.%I', $1::text, $2::text))`,
    [facts.config.schema, facts.config.partitionedTable],
  );
  return rows[0]!;
}

/** Where the key's relations are (move), its closed buckets counted (compact), the pool read (isolate). */
async function storageFacts(
  db: pg.Pool | pg.ClientBase,
  installSchema: string,
  facts: KeyFacts,
  action: KeyActionKind,
  options: KeyActionOptions,
): Promise<StorageFacts> {
  if (facts.state === 'retired') return {};
  if (action === 'share' && !facts.inPool)
    return { temp: await tempPrivilege(db), giveToOwner: await ownerGiving(db, facts) };
  if ((action === 'isolate' || ISOLATING_FIRST.has(action)) && facts.inPool) {
    // No tablespace yet (the Explorer's picker asks for the plan first): the tablespaces, nothing isolated.
    if (action === 'move' && options.tablespace === undefined) return { move: await moveFacts(db, facts, undefined) };
    if (action === 'move') {
      const inPool = await moveFacts(db, facts, options.tablespace);
      if (pooledKeyIn(inPool, facts)) return { pooledInPlace: true, move: inPool };
    }
    if (pooledNothingToDo(action, facts, options, {})) return {};
    const pool = await poolFacts(db, installSchema, facts);
    return {
      pool,
      temp: await tempPrivilege(db),
      giveToOwner: await ownerGiving(db, facts),
      ...(action === 'move' && {
        move: await isolatedMoveFacts(db, facts, options.tablespace, pool.bucketLimit),
      }),
    };
  }
  // A pooled key has no partition of its own to compact (planKeyAction says so).
  if (facts.inPool) return {};
  if (action === 'move') return { move: await moveFacts(db, facts, options.tablespace) };
  if (action === 'compact') {
    const { buckets, leaves } = await closedBuckets(db, installSchema, facts);
    return { compaction: proposeCompaction(buckets, leaves) };
  }
  return {};
}

/** The plan of an action on one key, read-only. */
export async function planKeyActionFor(
  db: pg.Pool | pg.ClientBase,
  installSchema: string,
  table: TableName,
  keyValue: string,
  action: KeyActionKind,
  options: KeyActionOptions = {},
): Promise<KeyPlan> {
  const config = await findManagedTable(db, installSchema, table);
  const facts = await keyFacts(db, installSchema, config, keyValue);
  return planKeyAction(action, facts, options, await storageFacts(db, installSchema, facts, action, options));
}

function summary(action: KeyActionKind, plan: KeyPlan, outcome: ActionOutcome): string {
  const key = `Key ${plan.keyValue} of ${plan.schema}.${plan.table}`;
  if (!outcome.changed && action === 'move')
    return `${key} is in tablespace ${String(outcome.detail?.tablespace)} already; nothing done.`;
  if (!outcome.changed && action === 'compact') return `${key} has no sparse bucket to merge; nothing done.`;
  if (!outcome.changed && action === 'isolate') return `${key} has a partition of its own already; nothing done.`;
  if (!outcome.changed && action === 'share') return `${key} is in the pool already; nothing done.`;
  if (!outcome.changed && action === 'limit') return `${key} uses the table's bucket limit already; nothing done.`;
  if (!outcome.changed && action !== 'export') return `${key} is already ${outcome.state}; nothing done.`;
  const rows = outcome.rows === null ? '' : countOf(outcome.rows, 'row');
  const first = outcome.detail?.isolatedFirst ? ' (isolated from the pool first)' : '';
  switch (action) {
    case 'detach':
      return `${key} detached${first}: ${String(outcome.detail?.levelOne ?? plan.levelOne)} is a standalone table (${rows}, ${formatBytes(plan.bytes)}); new rows of the key are refused.`;
    case 'attach':
      return `${key} attached again: routing places its rows.`;
    case 'drop':
      return `${key} dropped${first}: ${rows}, ${formatBytes(outcome.bytes ?? 0)} deleted; a later row of the key is ${outcome.detail?.onInsert === 'recreate' ? 'placed in new partitions' : 'refused'}.`;
    case 'readmit':
      return `${key} may be created again by its next row.`;
    case 'vacuum':
    case 'analyze':
      return `${key}: ${countOf(plan.leaves.length, 'leaf', 'leaves')} ${action === 'vacuum' ? 'vacuumed and analyzed' : 'analyzed'}.`;
    case 'limit':
      return outcome.detail?.bucketLimit === null
        ? `${key} uses the table's bucket limit for buckets opened from now on${first}.`
        : `${key} has a bucket limit of ${String(outcome.detail?.bucketLimit)} for buckets opened from now on${first}.`;
    case 'export':
      return `${key}: ${rows} exported (${formatBytes(outcome.bytes ?? 0)}).`;
    case 'move':
      return `${key} moved to tablespace ${String(outcome.detail?.tablespace)}${first}: ${countOf(Number(outcome.detail?.leavesMoved), 'leaf', 'leaves')} (${formatBytes(outcome.bytes ?? 0)}) rewritten there; buckets opened from now on are created there.`;
    case 'isolate':
      return `${key} isolated: ${rows} moved out of the pool into ${String(outcome.detail?.levelOne)} (${countOf(Number(outcome.detail?.buckets), 'bucket')}); the pool and its leaves were locked for ${String(outcome.detail?.lockHeldMs)} ms, ${countOf(Number(outcome.detail?.poolLeavesRead), 'pool leaf', 'pool leaves')} read (${countOf(Number(outcome.detail?.bucketsProved), 'closed bucket')} proved free of the key, not read).`;
    case 'share':
      return `${key} shares the pool of small keys: ${rows} moved out of ${plan.levelOne}, which was dropped with its ${countOf(Number(outcome.detail?.leavesDropped), 'leaf', 'leaves')}; the table was locked for ${String(outcome.detail?.lockHeldMs)} ms.`;
    case 'compact':
      return `${key} compacted: ${rows} moved, ${countOf(Number(outcome.detail?.leavesBefore), 'leaf', 'leaves')} before, ${String(outcome.detail?.leavesAfter)} after.`;
  }
}

async function perform(ctx: ActionContext, action: KeyActionKind, plan: KeyPlan): Promise<ActionOutcome> {
  const unchanged = { changed: false, state: ctx.facts.state, rows: ctx.facts.rows, bytes: ctx.facts.bytes };
  if (!ctx.facts.inPool) return performOn(ctx, action);
  // A pooled key is in the tree (attach); pooledNothingToDo found no reason to isolate it (no step planned).
  if (action === 'attach') return unchanged;
  if (!ISOLATING_FIRST.has(action)) return performOn(ctx, action);
  if (plan.steps.length === 0) return { ...unchanged, detail: { tablespace: ctx.options.tablespace } };
  const isolated = await isolateKey(ctx);
  const facts = await keyFacts(ctx.client, ctx.installSchema, ctx.config, ctx.keyValue);
  const outcome = await performOn({ ...ctx, facts }, action);
  return {
    ...outcome,
    // A move finds the new partition where it should be when the partitioned table is in that tablespace.
    changed: outcome.changed || isolated.changed,
    detail: { ...outcome.detail, isolatedFirst: true, levelOne: facts.levelOne },
  };
}

async function performOn(ctx: ActionContext, action: KeyActionKind): Promise<ActionOutcome> {
  switch (action) {
    case 'detach':
      return detachKey(ctx);
    case 'attach':
      return attachKey(ctx);
    case 'drop':
      return dropKey(ctx);
    case 'readmit':
      return readmitKey(ctx);
    case 'vacuum':
    case 'analyze':
      return maintainLeaves(ctx, action);
    case 'limit':
      return setKeyLimit(ctx);
    case 'export':
      return exportKeyRows(ctx);
    case 'move':
      return moveKey(ctx);
    case 'compact':
      return compactKey(ctx);
    case 'isolate':
      return isolateKey(ctx);
    case 'share':
      return shareKey(ctx);
  }
}

export async function runKeyAction(
  pool: pg.Pool,
  table: TableName,
  keyValue: string,
  action: KeyActionKind,
  options: KeyActionOptions,
  run: KeyActionRunOptions,
): Promise<KeyActionResult> {
  if (action === 'export' && !run.output) throw new PartwiseError('invalid_input', 'an export needs an output');
  if (action === 'move' && !options.tablespace)
    throw new PartwiseError('invalid_input', 'a move needs a tablespace (--tablespace NAME)');
  const started = Date.now();
  const client = await connectWithDefaults(pool);
  try {
    await install(client, run.installSchema);
    const config = await findManagedTable(client, run.installSchema, table);
    // Before the facts, which read a routed table's tree: see refuse_unfinished_uninstall.
    await client.query(`SELECT ${ident(run.installSchema)}.refuse_unfinished_uninstall($1, $2)`, [
      config.configId,
      `partwise key ${action}`,
    ]);
    const facts = await keyFacts(client, run.installSchema, config, keyValue);
    // Validates the action against the key (a dropped key, a missing limit) before anything is written.
    const plan = planKeyAction(
      action,
      facts,
      options,
      await storageFacts(client, run.installSchema, facts, action, options),
    );
    const journal = new KeyJournal(run.installSchema, client);
    const actionId = await journal.start(config, keyValue, action, options);
    try {
      const ctx: ActionContext = {
        client,
        installSchema: run.installSchema,
        config,
        keyValue,
        facts,
        options,
        lock: { ...DEFAULT_LOCK_RETRY, ...run.lock, signal: run.signal },
        signal: run.signal,
        output: run.output,
        compactBatchRows: run.compactBatchRows,
        step: (step, detail) => journal.step(actionId, step, detail),
        progress: (progress) => run.onProgress?.(progress),
      };
      const outcome = await perform(ctx, action, plan);
      const message = summary(action, plan, outcome);
      await journal.finish(actionId, 'succeeded', {
        rows: outcome.rows,
        bytes: outcome.bytes,
        changed: outcome.changed,
        ...outcome.detail,
      });
      return {
        actionId,
        action,
        schema: config.schema,
        table: config.table,
        keyValue,
        state: outcome.state,
        changed: outcome.changed,
        message,
        rows: outcome.rows,
        bytes: outcome.bytes,
        durationMs: Date.now() - started,
      };
    } catch (error) {
      const wrapped = PartwiseError.from(error);
      await journal.finish(actionId, 'failed', {}, wrapped.message).catch(() => undefined);
      throw wrapped;
    } finally {
      await journal.release(config, keyValue).catch(() => undefined);
    }
  } finally {
    client.release();
  }
}
