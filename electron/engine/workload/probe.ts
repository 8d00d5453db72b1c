// What a statement that does not name the key will cost once the table is
// partitioned, measured on this server rather than guessed: the same lookup
// by row identity on the table as it is, and on an empty temporary tree of
// the predicted shape (its columns and indexes, its number of leaves). The
// tree is built in short transactions (each takes locks on the relations it
// creates, and the lock table is shared by the whole server) and dropped the
// same way; temporary tables vanish with the session whatever happens.
//
// Trees larger than PROBE_LEAVES are measured at half and at full
// PROBE_LEAVES and extrapolated: planning time with the growth seen between
// the two (held between linear and quadratic: planning a statement over every
// leaf grows faster than linearly, more so on PostgreSQL 13), execution time
// linearly (starting a plan opens and locks each leaf and index once).
import type pg from 'pg';
import type { KeylessCost } from '../../../shared/workload.js';
import { ident } from '../../db/sql.js';
import type { TableInfo } from '../catalog.js';
import { OWN_STATEMENT_MARKER } from './source.js';

export const PROBE_LEAVES = 256;
const SAMPLES = 7;
const CHUNK = 32;
const PROBE = `${OWN_STATEMENT_MARKER}_probe`;
const KEY = `${PROBE}_key`;
const BUCKET = `${PROBE}_bucket`;

export interface ProbeShape {
  table: TableInfo;
  /** Columns of the lookup: the table's row identity. */
  lookupColumns: string[];
  leaves: number;
  levelOne: number;
}

export type ProbeResult = { ok: true; cost: KeylessCost } | { ok: false; note: string };

export interface Timing {
  planningMs: number;
  executionMs: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/** Median planning and execution time of `select` (which takes the lookup's parameters) over SAMPLES fresh plans. */
async function time(client: pg.ClientBase, select: string, parameters: number): Promise<Timing> {
  const samples: Timing[] = [];
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(
      `SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('statement_timeout', '30s', true)`,
    );
    const args = Array.from({ length: parameters }, () => 'NULL').join(', ');
    for (let i = 0; i < SAMPLES; i++) {
      // A new prepared statement each time: every sample plans afresh, as the simple protocol does.
      await client.query(`PREPARE ${PROBE} AS ${select}`);
      try {
        const { rows } = await client.query<{ 'QUERY PLAN': [{ 'Planning Time': number; 'Execution Time': number }] }>(
          `EXPLAIN (ANALYZE, SUMMARY, FORMAT JSON) EXECUTE ${PROBE}(${args})`,
        );
        const result = rows[0]!['QUERY PLAN'][0];
        samples.push({ planningMs: result['Planning Time'], executionMs: result['Execution Time'] });
      } finally {
        await client.query(`DEALLOCATE ${PROBE}`);
      }
    }
  } finally {
    await client.query('ROLLBACK');
  }
  return {
    planningMs: median(samples.map((s) => s.planningMs)),
    executionMs: median(samples.map((s) => s.executionMs)),
  };
}

function lookup(relation: string, columns: readonly string[]): string {
  return `SELECT * FROM ${relation} WHERE ${columns.map((c, i) => `${ident(c)} = $${i + 1}`).join(' AND ')}`;
}

/** Median planning and execution time of a lookup by `columns` on `relation` (quoted), as the probe measures it. */
export function timeLookup(client: pg.ClientBase, relation: string, columns: readonly string[]): Promise<Timing> {
  return time(client, lookup(relation, columns), columns.length);
}

async function inTransaction(client: pg.ClientBase, statements: string[]): Promise<void> {
  await client.query('BEGIN');
  try {
    for (const statement of statements) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** Grows the temporary tree to `leaves` leaves, `perKey` under each level-1 partition. */
async function growTree(client: pg.ClientBase, from: number, to: number, perKey: number): Promise<void> {
  const root = `pg_temp.${ident(PROBE)}`;
  for (let start = from; start < to; start += CHUNK) {
    const statements: string[] = [];
    for (let leaf = start; leaf < Math.min(to, start + CHUNK); leaf++) {
      const key = Math.floor(leaf / perKey);
      const parent = `pg_temp.${ident(`${PROBE}_${key}`)}`;
      if (leaf % perKey === 0) {
        statements.push(
          `CREATE TEMP TABLE ${ident(`${PROBE}_${key}`)} PARTITION OF ${root} FOR VALUES IN (${key}) PARTITION BY LIST (${ident(BUCKET)})`,
        );
      }
      statements.push(
        `CREATE TEMP TABLE ${ident(`${PROBE}_${key}_${leaf % perKey}`)} PARTITION OF ${parent} FOR VALUES IN (${leaf % perKey})`,
      );
    }
    await inTransaction(client, statements);
  }
}

async function dropTree(client: pg.ClientBase, levelOne: number): Promise<void> {
  for (let start = 0; start < levelOne; start += CHUNK) {
    const names = Array.from(
      { length: Math.min(CHUNK, levelOne - start) },
      (_, i) => `pg_temp.${ident(`${PROBE}_${start + i}`)}`,
    );
    await client.query(`DROP TABLE IF EXISTS ${names.join(', ')}`);
  }
  await client.query(`DROP TABLE IF EXISTS pg_temp.${ident(PROBE)}`);
}

/** t(n) = t(n2) * (n / n2)^b, b from the two measurements, kept between 1 and 2. */
function extrapolate(small: number, large: number, smallLeaves: number, largeLeaves: number, leaves: number): number {
  const growth = small > 0 && large > small ? Math.log(large / small) / Math.log(largeLeaves / smallLeaves) : 1;
  const exponent = Math.min(2, Math.max(1, growth));
  return large * (leaves / largeLeaves) ** exponent;
}

export async function measureKeylessCost(client: pg.ClientBase, shape: ProbeShape): Promise<ProbeResult> {
  const { rows: allowed } = await client.query<{ temp: boolean; standby: boolean }>(
    `SELECT has_database_privilege(current_database(), 'TEMP') AS temp, pg_is_in_recovery() AS standby`,
  );
  if (allowed[0]!.standby) return { ok: false, note: 'Not measured: this server is a standby (read-only).' };
  if (!allowed[0]!.temp) {
    return {
      ok: false,
      note: 'Not measured: measuring builds a temporary tree of the predicted shape, and this role lacks the TEMP privilege on the database.',
    };
  }
  const columns = shape.table.columns.map((c) => c.name);
  if (columns.includes(KEY) || columns.includes(BUCKET))
    return { ok: false, note: 'Not measured: column names clash.' };
  const today = await timeLookup(client, shape.table.qualified, shape.lookupColumns);

  const perKey = Math.max(1, Math.round(shape.leaves / Math.max(1, shape.levelOne)));
  const sizes = shape.leaves <= PROBE_LEAVES ? [shape.leaves] : [PROBE_LEAVES / 2, PROBE_LEAVES];
  const measured: Timing[] = [];
  const root = `pg_temp.${ident(PROBE)}`;
  const indexable = shape.table.indexes.filter((i) => i.isValid && i.keyColumns.every((c) => c !== null));
  try {
    await dropTree(client, Math.ceil(Math.max(...sizes) / perKey));
    await inTransaction(client, [
      `CREATE TEMP TABLE ${ident(PROBE)} (LIKE ${shape.table.qualified}, ${ident(KEY)} int NOT NULL, ${ident(BUCKET)} int NOT NULL) PARTITION BY LIST (${ident(KEY)})`,
      // The indexes the partitioned table will have (unique ones widened: the same columns for planning).
      ...indexable.map(
        (i) => `CREATE INDEX ON ${root} (${(i.keyColumns as string[]).map((c) => ident(c)).join(', ')})`,
      ),
    ]);
    let built = 0;
    for (const size of sizes) {
      await growTree(client, built, size, perKey);
      built = size;
      measured.push(await timeLookup(client, root, shape.lookupColumns));
    }
  } finally {
    await dropTree(client, Math.ceil(Math.max(...sizes) / perKey));
  }
  const last = measured.at(-1)!;
  const extrapolated = measured.length === 2;
  return {
    ok: true,
    cost: {
      statement: lookup(shape.table.qualified, shape.lookupColumns),
      leaves: shape.leaves,
      measuredLeaves: sizes.at(-1)!,
      extrapolated,
      planningMs: extrapolated
        ? extrapolate(measured[0]!.planningMs, last.planningMs, sizes[0]!, sizes[1]!, shape.leaves)
        : last.planningMs,
      executionMs: extrapolated ? last.executionMs * (shape.leaves / sizes[1]!) : last.executionMs,
      todayPlanningMs: today.planningMs,
      todayExecutionMs: today.executionMs,
    },
  };
}
