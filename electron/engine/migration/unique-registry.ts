// The migration's side of the unique registries (sql/functions/23_unique_registry.sql):
// prepare starts logging the rows the application changes (before any
// registry is filled, so that nothing changed after a fill's snapshot goes
// unseen); the indexes phase builds each registry from the original table in
// one snapshot and creates the partitioned table's (inert) triggers; catch-up
// and the swap apply the log; the swap gives the triggers their bodies; a
// rollback drops it all.
import type pg from 'pg';
import { ident } from '../../db/sql.js';
import { freeRelationName, inspectTable, rowIdentity, type TableInfo } from '../catalog.js';
import { registryKeys } from '../uniqueness.js';
import type { TargetContext } from './context.js';

export function registryLogName(runId: number, targetNo: number): string {
  return `changes_${runId}_${targetNo}_unique`;
}

export function registryCaptureTrigger(runId: number): string {
  return `partwise_capture_unique_${runId}`;
}

/**
 * Prepare, inside the transaction that starts change capture: decide which
 * keys get a registry (the target's choices, else the plan's defaults) and
 * start logging changed rows for them.
 */
export async function startRegistryLog(context: TargetContext, client: pg.ClientBase, info: TableInfo): Promise<void> {
  const { target, sql } = context;
  if (target.saved.registries) return;
  const keys = registryKeys(info, target.saved.uniqueness ?? {});
  if (keys.length > 0) {
    const log = registryLogName(target.runId, target.targetNo);
    await client.query(`SELECT ${sql.install}.start_change_capture($1, $2::regclass, $3, $4, $5)`, [
      log,
      sql.source,
      rowIdentity(info),
      target.keyColumn,
      registryCaptureTrigger(target.runId),
    ]);
    target.saved = { ...target.saved, registryLog: log };
  }
  target.saved = { ...target.saved, registries: keys.map((key) => key.name) };
  await context.journal.updateTarget(client, target.runId, target.targetNo, { saved: target.saved });
}

/**
 * Indexes phase: each chosen key's registry, built from the original table in
 * one snapshot (REPEATABLE READ) in one transaction, so that it either exists
 * filled or not at all; then the rows changed since are applied.
 */
export async function buildRegistries(context: TargetContext, control: pg.ClientBase): Promise<void> {
  const { target, sql, reporter } = context;
  const wanted = target.saved.registries ?? [];
  if (wanted.length === 0) return;
  const { rows: built } = await control.query<{ name: string }>(
    `SELECT constraint_name AS name FROM ${sql.install}.unique_registry WHERE config_id = $1`,
    [target.configId],
  );
  const done = new Set(built.map((r) => r.name));
  const info = await inspectTable(control, { schema: target.schema, name: target.table });
  const keys = registryKeys(info, Object.fromEntries(wanted.map((name) => [name, 'table' as const])));
  for (const key of keys.filter((k) => wanted.includes(k.name) && !done.has(k.name))) {
    const registry = await freeRelationName(control, context.options.installSchema, key.name, '_registry');
    const indexName = await freeRelationName(control, context.options.installSchema, key.name, '');
    reporter.log('info', `building the registry that keeps ${key.name} unique across the table`, context.label);
    await control.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    try {
      const { rows } = await control.query<{ rows: string }>(
        `SELECT ${sql.install}.build_unique_registry($1, $2, $3, $4, $5, $6, $7, $8, $9) AS rows`,
        [
          target.configId,
          key.name,
          registry,
          indexName,
          key.keyColumns,
          rowIdentity(info),
          key.index.nullsNotDistinct,
          key.index.deferrable,
          key.index.deferred,
        ],
      );
      await control.query('COMMIT');
      reporter.log(
        'info',
        `registry of ${key.name}: ${Number(rows[0]!.rows).toLocaleString('en-US')} keys`,
        context.label,
      );
    } catch (error) {
      await control.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    await control.query(`ANALYZE ${sql.install}.${ident(registry)}`);
  }
  // Inert until the swap; cloned onto every partition here rather than under its lock.
  await control.query(`SELECT ${sql.install}.install_unique_triggers($1, false)`, [target.configId]);
  await syncRegistries(context, control);
}

/**
 * Applies the rows logged since the last sync, in one REPEATABLE READ
 * transaction (the log, the registries and the original table read in one
 * snapshot). Returns the log entries consumed.
 */
export async function syncRegistries(context: TargetContext, client: pg.ClientBase): Promise<number> {
  const { target, sql } = context;
  if (!target.saved.registryLog) return 0;
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT ${sql.install}.sync_unique_registries($1, $2) AS n`, [
      target.configId,
      target.saved.registryLog,
    ]);
    await client.query('COMMIT');
    return Number(rows[0]!.n);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * The swap, in its transaction with the original table locked: the last
 * logged rows are applied, logging stops, and the partitioned table's
 * triggers take over (sql/functions/23_unique_registry.sql).
 */
export async function enforceRegistries(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { target, sql } = context;
  if (!target.saved.registries?.length) return;
  if (target.saved.registryLog) {
    await client.query(`SELECT ${sql.install}.sync_unique_registries($1, $2)`, [
      target.configId,
      target.saved.registryLog,
    ]);
    await stopRegistryLog(context, client);
  }
  await client.query(`SELECT ${sql.install}.install_unique_triggers($1, true)`, [target.configId]);
}

/** Removes the registry log's trigger (from the original table, while it has one) and the log. */
export async function stopRegistryLog(context: TargetContext, client: pg.ClientBase): Promise<void> {
  const { target, sql } = context;
  if (!target.saved.registryLog) return;
  const { rows } = await client.query<{ kind: string | null }>(
    `SELECT (SELECT relkind::text FROM pg_class WHERE oid = to_regclass($1)) AS kind`,
    [sql.source],
  );
  await client.query(`SELECT ${sql.install}.stop_change_capture($1, $2::regclass, $3)`, [
    target.saved.registryLog,
    rows[0]?.kind === 'r' ? sql.source : null,
    registryCaptureTrigger(target.runId),
  ]);
}
