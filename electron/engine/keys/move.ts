// partwise key move: a key's leaves and their indexes to another tablespace.
//
// ALTER TABLE ... SET TABLESPACE rewrites a table under ACCESS EXCLUSIVE: on
// the whole key's partition that would block every read and write of the key
// for the time of copying all of it. Leaf by leaf instead, each leaf with its
// indexes in a transaction of its own: one leaf holds at most the bucket
// limit's rows, so each lock lasts as long as copying one such leaf. The
// key's level-1 partition and its partitioned indexes get the tablespace
// first (a catalog change only), so that buckets opened during the move and
// after it land there too. Run again after an interruption, it moves what is
// not there yet: the catalog says where each relation lives.
import type pg from 'pg';
import { PartwiseError } from '../../db/errors.js';
import { ident, qualified } from '../../db/sql.js';
import type { Queryable } from '../catalog.js';
import { crashPoint } from '../migration/crash-points.js';
import { inLockingTransaction } from '../locks.js';
import type { ActionContext, ActionOutcome } from './actions.js';
import type { KeyFacts } from './facts.js';

export interface RelationPlace {
  /** Quoted, qualified, as the catalog prints it. */
  name: string;
  /** Its tablespace's name (the database's default when it has none of its own). */
  tablespace: string;
}

export interface MoveFacts {
  /** The tablespace asked for, as the catalog spells it; null when none was given. */
  tablespace: string | null;
  /** The tablespaces this role may create in. */
  usable: string[];
  levelOne: RelationPlace[];
  leaves: Array<RelationPlace & { indexes: RelationPlace[]; bytes: number }>;
}

/** The tablespaces this role may use; the one asked for, refused before anything changes if it does not exist or may not be used. */
export async function chosenTablespace(
  db: Queryable,
  tablespace: string | undefined,
): Promise<Pick<MoveFacts, 'tablespace' | 'usable'>> {
  const { rows: spaces } = await db.query<{ spcname: string; usable: boolean }>(
    // The database's default tablespace needs no privilege (PostgreSQL checks none for it).
    `SELECT spcname, has_tablespace_privilege(oid, 'CREATE')
                     OR oid = (SELECT dattablespace FROM pg_database WHERE datname = current_database()) AS usable
       FROM pg_tablespace WHERE spcname <> 'pg_global' ORDER BY spcname`,
  );
  const usable = spaces.filter((s) => s.usable).map((s) => s.spcname);
  if (tablespace !== undefined) {
    const found = spaces.find((s) => s.spcname === tablespace);
    if (!found)
      throw new PartwiseError('invalid_input', `tablespace ${tablespace} does not exist`, {
        hint: `Tablespaces this role may use: ${usable.join(', ') || 'none'}.`,
      });
    if (!found.usable) {
      const { rows } = await db.query<{ role: string }>('SELECT current_user AS role');
      throw new PartwiseError(
        'invalid_input',
        `role ${rows[0]!.role} has no CREATE privilege on tablespace ${tablespace}`,
        {
          hint: `A superuser or the tablespace's owner grants it: GRANT CREATE ON TABLESPACE ${ident(tablespace)} TO ${ident(rows[0]!.role)};`,
        },
      );
    }
  }
  return { tablespace: tablespace ?? null, usable };
}

/** Where the key's relations are, and whether the tablespace asked for exists and may be used. */
export async function moveFacts(db: Queryable, facts: KeyFacts, tablespace: string | undefined): Promise<MoveFacts> {
  const { usable } = await chosenTablespace(db, tablespace);
  // Every relation of the key's partition: the partitioned ones (level-1
  // partition and its indexes: where future leaves go) and the leaves with
  // their indexes (what is rewritten).
  const { rows } = await db.query<{
    name: string;
    relkind: string;
    leaf: string;
    tablespace: string;
    bytes: string;
  }>(
    `WITH tree AS (SELECT relid, isleaf FROM pg_partition_tree($1::oid::regclass))
     SELECT c.oid::regclass::text AS name, c.relkind::text AS relkind, coalesce(i.indrelid, c.oid)::regclass::text AS leaf,
            coalesce(ts.spcname, dts.spcname) AS tablespace, pg_relation_size(c.oid) AS bytes
       FROM pg_class c
       LEFT JOIN pg_index i ON i.indexrelid = c.oid
       LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
       CROSS JOIN (SELECT t.spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
                    WHERE d.datname = current_database()) dts
      WHERE c.oid IN (SELECT relid FROM tree) OR i.indrelid IN (SELECT relid FROM tree)
      ORDER BY leaf, c.relkind DESC, name`,
    [facts.levelOneOid],
  );
  const levelOne = rows
    .filter((r) => r.relkind === 'p' || r.relkind === 'I')
    .map((r) => ({ name: r.name, tablespace: r.tablespace }));
  const leaves = new Map<string, MoveFacts['leaves'][number]>();
  for (const r of rows.filter((row) => row.relkind === 'r'))
    leaves.set(r.name, { name: r.name, tablespace: r.tablespace, indexes: [], bytes: Number(r.bytes) });
  for (const r of rows.filter((row) => row.relkind === 'i')) {
    const leaf = leaves.get(r.leaf);
    if (leaf) {
      leaf.indexes.push({ name: r.name, tablespace: r.tablespace });
      leaf.bytes += Number(r.bytes);
    }
  }
  return {
    tablespace: tablespace ?? null,
    usable,
    levelOne,
    leaves: [...leaves.values()],
  };
}

/** The statements that put one relation in the tablespace; none when it is there already. */
function setTablespace(place: RelationPlace, kind: 'TABLE' | 'INDEX', tablespace: string): string[] {
  return place.tablespace === tablespace ? [] : [`ALTER ${kind} ${place.name} SET TABLESPACE ${ident(tablespace)}`];
}

export function levelOneStatements(move: MoveFacts, levelOne: string): string[] {
  return move.levelOne.flatMap((r) => setTablespace(r, r.name === levelOne ? 'TABLE' : 'INDEX', move.tablespace!));
}

export function leafStatements(move: MoveFacts, leaf: MoveFacts['leaves'][number]): string[] {
  return [
    ...setTablespace(leaf, 'TABLE', move.tablespace!),
    ...leaf.indexes.flatMap((i) => setTablespace(i, 'INDEX', move.tablespace!)),
  ];
}

export async function moveKey(ctx: ActionContext): Promise<ActionOutcome> {
  const tablespace = ctx.options.tablespace!;
  const client: pg.ClientBase = ctx.client;
  let move = await moveFacts(client, ctx.facts, tablespace);
  const levelOne = levelOneStatements(move, ctx.facts.levelOne!);
  await ctx.step('moving', { tablespace });
  if (levelOne.length > 0) {
    ctx.progress({ step: `${ctx.facts.levelOne} and its indexes to ${tablespace} (buckets opened from now on)` });
    await inLockingTransaction(client, ctx.lock, async () => {
      for (const statement of levelOne) await client.query(statement);
    });
  }
  // Leaves opened meanwhile are in the tablespace already; the list is read again.
  move = await moveFacts(client, ctx.facts, tablespace);
  const moved: string[] = [];
  let bytes = 0;
  for (const [index, leaf] of move.leaves.entries()) {
    if (ctx.signal?.aborted) throw new PartwiseError('cancelled', 'Cancelled');
    const statements = leafStatements(move, leaf);
    ctx.progress({
      step: `moving ${leaf.name} to ${tablespace}`,
      done: index,
      total: move.leaves.length,
      unit: 'leaves',
    });
    if (statements.length === 0) continue;
    await inLockingTransaction(client, ctx.lock, async () => {
      for (const statement of statements) await client.query(statement);
    });
    moved.push(leaf.name);
    bytes += leaf.bytes;
    await ctx.step('moving', { movedLeaves: moved, leavesDone: index + 1, leavesTotal: move.leaves.length });
    await crashPoint('key:move-after-leaf');
  }
  ctx.progress({ step: `moved to ${tablespace}`, done: move.leaves.length, total: move.leaves.length, unit: 'leaves' });
  return {
    changed: moved.length > 0 || levelOne.length > 0,
    state: 'active',
    rows: ctx.facts.rows,
    bytes,
    detail: { tablespace, leavesMoved: moved.length, leaves: move.leaves.length },
  };
}

/**
 * A pooled key's move, planned before the isolation that comes first: the
 * relations that isolation will create (sql/functions/18_key_isolate.sql),
 * each where PostgreSQL will put it (the partition in the partitioned table's
 * tablespace, its indexes in those of the table's partitioned indexes), with
 * the key's rows as stored in the pool (pg_column_size) in the buckets the
 * switch fills; their indexes come on top. The names are placeholders: they exist once isolation ran.
 */
export async function isolatedMoveFacts(
  db: Queryable,
  facts: KeyFacts,
  tablespace: string | undefined,
  bucketLimit: number,
): Promise<MoveFacts> {
  // As the switch fills them: each bucket to the limit, the last with the rest.
  const buckets = Math.max(1, Math.ceil(facts.rows / bucketLimit));
  const rowsIn = (bucket: number) => Math.min(bucketLimit, facts.rows - bucket * bucketLimit);
  const { usable } = await chosenTablespace(db, tablespace);
  const { rows } = await db.query<{ name: string; relkind: string; tablespace: string }>(
    `SELECT c.oid::regclass::text AS name, c.relkind::text AS relkind, coalesce(ts.spcname, dts.spcname) AS tablespace
       FROM pg_class c
       LEFT JOIN pg_tablespace ts ON ts.oid = c.reltablespace
       CROSS JOIN (SELECT t.spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
                    WHERE d.datname = current_database()) dts
      WHERE c.oid = to_regclass($1) OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = to_regclass($1))
      ORDER BY c.relkind DESC, name`,
    [qualified(facts.config.schema, facts.config.partitionedTable)],
  );
  const table = rows.find((r) => r.relkind === 'p')!;
  const indexes = rows.filter((r) => r.relkind === 'I');
  const levelOne = isolatedLevelOne(facts.keyValue);
  return {
    tablespace: tablespace ?? null,
    usable,
    levelOne: [
      { name: levelOne, tablespace: table.tablespace },
      ...indexes.map((i) => ({ name: `<its index of ${i.name}>`, tablespace: i.tablespace })),
    ],
    leaves: Array.from({ length: buckets }, (_, bucket) => ({
      name: `<its leaf of bucket ${bucket}>`,
      tablespace: table.tablespace,
      indexes: indexes.map((i) => ({ name: `<its leaf ${bucket}'s index of ${i.name}>`, tablespace: i.tablespace })),
      bytes: facts.rows === 0 ? 0 : Math.round((facts.bytes * rowsIn(bucket)) / facts.rows),
    })),
  };
}

/** How plans name the level-1 partition that isolating a pooled key creates. */
export function isolatedLevelOne(keyValue: string): string {
  return `<the new partition of key ${keyValue}>`;
}

/** Whether a pooled key's rows are in the tablespace already (pool: moveFacts of the pooled key): each pool leaf holding them, with its indexes. */
export function pooledKeyIn(pool: MoveFacts, facts: KeyFacts): boolean {
  return pool.leaves.filter((l) => facts.leaves.includes(l.name)).every((l) => leafStatements(pool, l).length === 0);
}
