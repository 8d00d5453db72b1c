// The work of each key action, once the journal has the action and its lock
// (see run.ts). Each returns whether it changed anything and its figures.
import type pg from 'pg';
import type { Writable } from 'node:stream';
import type { KeyActionOptions, KeyProgress, KeyState } from '../../../shared/keys.js';
import { ident } from '../../db/sql.js';
import { crashPoint } from '../migration/crash-points.js';
import { inLockingTransaction, type LockRetryOptions } from '../locks.js';
import type { ManagedConfig } from '../maintain.js';
import { detachLevelOne, refuseWhileAnotherDetachPends } from './detach-partition.js';
import { keyFacts, type KeyFacts } from './facts.js';
import { beginKeyState, finishKeyState } from './state.js';
import { exportKey } from './export.js';

export interface ActionContext {
  client: pg.ClientBase;
  installSchema: string;
  config: ManagedConfig;
  keyValue: string;
  facts: KeyFacts;
  options: KeyActionOptions;
  lock: LockRetryOptions;
  signal?: AbortSignal;
  /** export: where the rows go. */
  output?: Writable;
  /** compact: rows moved per transaction. */
  compactBatchRows?: number;
  step(step: string, detail?: Record<string, unknown>): Promise<void>;
  progress(progress: KeyProgress): void;
}

export interface ActionOutcome {
  changed: boolean;
  state: KeyState;
  rows: number | null;
  bytes: number | null;
  detail?: Record<string, unknown>;
}

/** Refuses new rows of the key, then takes its level-1 partition out of the tree. */
async function refuseAndDetach(ctx: ActionContext): Promise<void> {
  await ctx.step('refusing');
  ctx.progress({ step: `refusing new rows of key ${ctx.keyValue}` });
  await crashPoint('key:after-begin');
  // Re-read: an earlier, interrupted run may have detached it already.
  const facts = await keyFacts(ctx.client, ctx.installSchema, ctx.config, ctx.keyValue, { count: false });
  if (facts.attached) {
    ctx.progress({ step: `detaching ${facts.levelOne}` });
    await detachLevelOne(ctx.client, ctx.config, facts.levelOneOid!, ctx.lock);
  }
  await ctx.step('detached');
  await crashPoint('key:after-detach');
}

export async function detachKey(ctx: ActionContext): Promise<ActionOutcome> {
  await refuseWhileAnotherDetachPends(ctx.client, ctx.installSchema, ctx.config, ctx.keyValue);
  const before = await beginKeyState(
    ctx.client,
    ctx.installSchema,
    ctx.config.configId,
    ctx.keyValue,
    'detach',
    ctx.lock,
  );
  if (before === 'detached') return { changed: false, state: 'detached', rows: ctx.facts.rows, bytes: ctx.facts.bytes };
  await refuseAndDetach(ctx);
  await finishKeyState(ctx.client, ctx.installSchema, ctx.config.configId, ctx.keyValue, 'detached', ctx.lock);
  return { changed: true, state: 'detached', rows: ctx.facts.rows, bytes: ctx.facts.bytes };
}

export async function attachKey(ctx: ActionContext): Promise<ActionOutcome> {
  const before = await beginKeyState(
    ctx.client,
    ctx.installSchema,
    ctx.config.configId,
    ctx.keyValue,
    'attach',
    ctx.lock,
  );
  if (before === 'active') return { changed: false, state: 'active', rows: ctx.facts.rows, bytes: ctx.facts.bytes };
  const facts = await keyFacts(ctx.client, ctx.installSchema, ctx.config, ctx.keyValue, { count: false });
  // A detach interrupted half way (14+) is finished first; then the partition comes back whole.
  if (facts.detachPending) await detachLevelOne(ctx.client, ctx.config, facts.levelOneOid!, ctx.lock);
  await ctx.step('attaching');
  ctx.progress({ step: `attaching ${facts.levelOne} (its rows are checked against the key)` });
  await inLockingTransaction(ctx.client, ctx.lock, async () => {
    await ctx.client.query(`SELECT ${ident(ctx.installSchema)}.key_attach_partition($1, $2)`, [
      ctx.config.configId,
      ctx.keyValue,
    ]);
  });
  await finishKeyState(ctx.client, ctx.installSchema, ctx.config.configId, ctx.keyValue, 'active', ctx.lock);
  return { changed: true, state: 'active', rows: ctx.facts.rows, bytes: ctx.facts.bytes };
}

export async function dropKey(ctx: ActionContext): Promise<ActionOutcome> {
  await refuseWhileAnotherDetachPends(ctx.client, ctx.installSchema, ctx.config, ctx.keyValue);
  await beginKeyState(ctx.client, ctx.installSchema, ctx.config.configId, ctx.keyValue, 'drop', ctx.lock);
  await refuseAndDetach(ctx);
  ctx.progress({ step: `dropping ${ctx.facts.levelOne}` });
  const dropped = await inLockingTransaction(ctx.client, ctx.lock, async () => {
    const { rows } = await ctx.client.query<{ rows_dropped: string; bytes_dropped: string }>(
      `SELECT rows_dropped, bytes_dropped FROM ${ident(ctx.installSchema)}.key_drop_partitions($1, $2, $3)`,
      [ctx.config.configId, ctx.keyValue, ctx.options.onInsert ?? 'refuse'],
    );
    return rows[0]!;
  });
  return {
    changed: true,
    state: 'retired',
    rows: Number(dropped.rows_dropped),
    bytes: Number(dropped.bytes_dropped),
    detail: { onInsert: ctx.options.onInsert ?? 'refuse' },
  };
}

export async function readmitKey(ctx: ActionContext): Promise<ActionOutcome> {
  await ctx.client.query(`SELECT ${ident(ctx.installSchema)}.key_readmit($1, $2)`, [ctx.config.configId, ctx.keyValue]);
  return { changed: true, state: 'retired', rows: null, bytes: null };
}

/** VACUUM (ANALYZE) or ANALYZE leaf by leaf: each holds SHARE UPDATE EXCLUSIVE on one leaf only. */
export async function maintainLeaves(ctx: ActionContext, action: 'vacuum' | 'analyze'): Promise<ActionOutcome> {
  const leaves = ctx.facts.leaves;
  for (const [index, leaf] of leaves.entries()) {
    if (ctx.signal?.aborted) break;
    ctx.progress({ step: `${action} ${leaf}`, done: index, total: leaves.length, unit: 'leaves' });
    // VACUUM may not run in a transaction block: one statement per leaf, with
    // the leaf named as the catalog prints it (facts.ts), nothing else.
    await ctx.client.query(`${action === 'vacuum' ? 'VACUUM (ANALYZE)' : 'ANALYZE'} ${leaf}`);
  }
  ctx.progress({ step: action, done: leaves.length, total: leaves.length, unit: 'leaves' });
  return {
    changed: true,
    state: ctx.facts.state,
    rows: ctx.facts.rows,
    bytes: ctx.facts.bytes,
    detail: { leaves: leaves.length },
  };
}

export async function setKeyLimit(ctx: ActionContext): Promise<ActionOutcome> {
  const limit = ctx.options.bucketLimit ?? null;
  await inLockingTransaction(ctx.client, ctx.lock, async () => {
    await ctx.client.query(`SELECT ${ident(ctx.installSchema)}.set_key_bucket_limit($1, $2, $3)`, [
      ctx.config.configId,
      ctx.keyValue,
      limit,
    ]);
  });
  return { changed: true, state: ctx.facts.state, rows: null, bytes: null, detail: { bucketLimit: limit } };
}

export async function exportKeyRows(ctx: ActionContext): Promise<ActionOutcome> {
  const written = await exportKey(ctx.client, ctx.config, ctx.facts, ctx.options.format ?? 'csv', ctx.output!, (p) =>
    ctx.progress(p),
  );
  return { changed: false, state: ctx.facts.state, rows: written.rows, bytes: written.bytes };
}
