// A migration with shared placement (target.shareBelow, issue 13): keys under
// the threshold go to the pool of small keys from the start, large keys get a
// level-1 partition each. The table must hold every row, the pool's buckets
// filled to the limit and no further, the metadata as share_small_keys and
// routing would have left it (new keys pooled without DDL), and the plan's
// relation counts must be the catalog's.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate, planMigration, verifyRun } from '../index.js';
import type { PlanOptions } from '../plan.js';
import { formatPlan } from '../../cli/plan-text.js';
import { countOf } from '../../../shared/text.js';
import { useTestDatabase } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';
import { createSkewedMirroredTable, expectMirrored, mirroredWrites } from '../../testing/mirror.js';
import { killHard, runCli, runMigrateCliUntil } from '../../testing/cli.js';
import { Journal } from '../journal.js';

const db = useTestDatabase('shared_placement');

beforeAll(async () => {
  await installPartwise(db);
});

const LIMIT = 400;
const THRESHOLD = 1000;
/** 60 small keys (20 to 119 rows), 3 large ones of 1,500 rows. */
const SHAPE = { small: 60, large: 3, largeRows: 1500 };

/** The tree's relations as the plan counts them: partitions, their indexes, each leaf's TOAST table and its index. */
async function relationsOf(partitioned: string): Promise<{ levelOne: number; leaves: number; relations: number }> {
  const [row] = await db.query<{ levelOne: number; leaves: number; relations: number }>(
    `WITH tree AS (SELECT relid, level, isleaf FROM pg_partition_tree($1::regclass)),
          tables AS (SELECT relid AS oid FROM tree
                     UNION ALL SELECT c.reltoastrelid FROM tree t JOIN pg_class c ON c.oid = t.relid WHERE c.reltoastrelid <> 0),
          relations AS (SELECT oid FROM tables UNION ALL SELECT i.indexrelid FROM pg_index i JOIN tables t ON i.indrelid = t.oid)
     SELECT (SELECT count(*) FROM tree WHERE level = 1)::int AS "levelOne",
            (SELECT count(*) FROM tree WHERE isleaf)::int AS leaves,
            (SELECT count(*) FROM relations)::int AS relations`,
    [partitioned],
  );
  return row!;
}

async function planOf(table: string, shareBelow?: number, listing: Partial<PlanOptions> = {}) {
  const client = await db.connect();
  try {
    return await planMigration(
      client,
      { schema: 'public', table, keyColumn: 'customer_id', bucketLimit: LIMIT, ...(shareBelow ? { shareBelow } : {}) },
      { counting: 'exact', ...listing },
    );
  } finally {
    await client.end();
  }
}

/** What the catalog holds of the DDL a plan lists: the tree's partitions by name, the DEFAULT one, the root's indexes, the pool's ticket counter. */
async function treeDdlOf(table: string) {
  const [row] = await db.query<{ partitions: string[]; pool: string | null; indexes: number; counters: number }>(
    `WITH tree AS (SELECT relid FROM pg_partition_tree($1::regclass) WHERE level > 0)
     SELECT ARRAY(SELECT relid::text FROM tree ORDER BY 1) AS partitions,
            (SELECT relid::text FROM tree JOIN pg_class c ON c.oid = tree.relid
              WHERE pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') AS pool,
            (SELECT count(*)::int FROM pg_index WHERE indrelid = $1::regclass) AS indexes,
            (SELECT count(*)::int FROM partwise.key_pool p JOIN partwise.partition_config c USING (config_id)
              WHERE c.partitioned_table = $2) AS counters`,
    [`${table}_partitioned`, `${table}_partitioned`],
  );
  return row!;
}

/** The statements a plan lists (comments aside), by what they make. */
function listedDdl(ddl: string[], table: string) {
  const statements = ddl.filter((s) => !s.startsWith('--'));
  const made = (pattern: RegExp): string[] =>
    statements
      .flatMap((s) => pattern.exec(s)?.[1] ?? [])
      .map((name) => name.replace(/^"public"\./, '').replace(/^"(.*)"$/, '$1'));
  return {
    statements: statements.length,
    partitions: made(/^CREATE TABLE (\S+) /)
      .filter((name) => name !== `${table}_partitioned`)
      .sort(),
    pool: made(/ATTACH PARTITION (\S+) DEFAULT;/),
    counters: statements.filter((s) => s.startsWith('CREATE SEQUENCE')).length,
    indexes: statements.filter((s) => /^(CREATE (UNIQUE )?INDEX|ALTER TABLE \S+ ADD (PRIMARY KEY|CONSTRAINT))/.test(s))
      .length,
  };
}

async function configOf(table: string): Promise<number> {
  const [row] = await db.query<{ id: number }>(
    `SELECT config_id AS id FROM partwise.partition_config WHERE table_name = $1`,
    [table],
  );
  return row!.id;
}

describe('migration with shared placement', () => {
  it('pools the keys under the threshold from the start, with the relations the plan counted', async () => {
    const table = 'skewed';
    await createSkewedMirroredTable(db, table, SHAPE);
    await createSkewedMirroredTable(db, `${table}_own`, SHAPE);
    const plan = await planOf(table, THRESHOLD);
    const placement = plan.partitions.placement!;
    const [small] = await db.query<{ rows: number }>(
      `SELECT count(*)::int AS rows FROM ${table} WHERE customer_id BETWEEN 3 AND 62`,
    );
    expect(placement).toMatchObject({
      threshold: THRESHOLD,
      pooledKeys: 60,
      pooledRows: small!.rows,
      poolBuckets: Math.ceil(small!.rows / LIMIT),
      levelOne: 3 + 1,
      leaves: 3 * Math.ceil(1500 / LIMIT) + Math.ceil(small!.rows / LIMIT),
    });

    const outcome = await migrate(db.pool, [
      { schema: 'public', table, keyColumn: 'customer_id', bucketLimit: LIMIT, shareBelow: THRESHOLD },
    ]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    const own = await migrate(db.pool, [
      { schema: 'public', table: `${table}_own`, keyColumn: 'customer_id', bucketLimit: LIMIT },
    ]);
    expect(own.status, own.message).toBe('succeeded');
    // The plan's counts both ways are the catalog's.
    expect(await relationsOf(`${table}_partitioned`)).toEqual({
      levelOne: placement.levelOne,
      leaves: placement.leaves,
      relations: placement.relationsShared,
    });
    expect((await relationsOf(`${table}_own_partitioned`)).relations).toBe(placement.relationsPerKey);
    expect(placement.relationsShared).toBeLessThan(placement.relationsPerKey / 3);
    await expectMirrored(db, table);

    // As share_small_keys and routing leave a table: placement shared, a
    // tracker row per pooled key naming the pool, no bucket of its own.
    const configId = await configOf(table);
    expect(
      await db.query(
        `SELECT placement, shared_threshold::int AS threshold FROM partwise.partition_config WHERE config_id = $1`,
        [configId],
      ),
    ).toEqual([{ placement: 'shared', threshold: THRESHOLD }]);
    const [pool] = await db.query<{ pool: string; rows: number; bucket: number; first: number }>(
      `SELECT pool_partition::text AS pool, rows_assigned::int AS rows, current_bucket_id AS bucket,
              current_first_ticket::int AS first FROM partwise.key_pool WHERE config_id = $1`,
      [configId],
    );
    expect(pool).toEqual({
      pool: `${table}_customer_id_shared`,
      rows: small!.rows,
      bucket: Math.ceil(small!.rows / LIMIT) - 1,
      first: (Math.ceil(small!.rows / LIMIT) - 1) * LIMIT + 1,
    });
    expect(
      await db.query(
        `SELECT in_pool, count(*)::int AS n, bool_and(level_one_partition::text = $2) AS named_pool,
                bool_and(current_bucket_id IS NULL) AS no_bucket
           FROM partwise.partition_tracker WHERE config_id = $1 GROUP BY 1 ORDER BY 1`,
        [configId, pool!.pool],
      ),
    ).toEqual([
      { in_pool: false, n: 3, named_pool: false, no_bucket: false },
      { in_pool: true, n: 60, named_pool: true, no_bucket: true },
    ]);
    // Every pooled row in the pool, every pool bucket full but the last.
    const leaves = await db.query<{ leaf: string; parent: string; n: number; pooled: boolean }>(
      `SELECT t.tableoid::regclass::text AS leaf, i.inhparent::regclass::text AS parent, count(*)::int AS n,
              bool_and(t.customer_id BETWEEN 3 AND 62) AS pooled
         FROM ${table}_partitioned t JOIN pg_inherits i ON i.inhrelid = t.tableoid GROUP BY 1, 2 ORDER BY 2, 1`,
    );
    const poolLeaves = leaves.filter((l) => l.parent === pool!.pool);
    expect(poolLeaves.every((l) => l.pooled)).toBe(true);
    expect(leaves.filter((l) => l.parent !== pool!.pool).every((l) => !l.pooled)).toBe(true);
    expect(poolLeaves.map((l) => l.n).sort((a, b) => b - a)).toEqual([
      ...Array<number>(Math.floor(small!.rows / LIMIT)).fill(LIMIT),
      ...(small!.rows % LIMIT ? [small!.rows % LIMIT] : []),
    ]);

    // A new key is pooled by routing with no DDL; an old small key's rows continue in the pool.
    const [before] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class`);
    await db.query(`INSERT INTO ${table} (customer_id, payload, amount) VALUES (5000, 'new', 1), (3, 'more', 1)`);
    const [after] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_class`);
    expect(after!.n).toBe(before!.n);
    expect(
      await db.query(
        `SELECT customer_id, i.inhparent::regclass::text AS parent FROM ${table}_partitioned t
           JOIN pg_inherits i ON i.inhrelid = t.tableoid WHERE payload IN ('new', 'more') ORDER BY 1`,
      ),
    ).toEqual([
      { customer_id: 3, parent: pool!.pool },
      { customer_id: 5000, parent: pool!.pool },
    ]);
    expect(
      await db.query(`SELECT in_pool FROM partwise.partition_tracker WHERE config_id = $1 AND key_value = '5000'`, [
        configId,
      ]),
    ).toEqual([{ in_pool: true }]);
    // Maintenance finds nothing wrong with the pool.
    const findings = await db.query<{ kind: string }>(`SELECT kind FROM partwise.maintain_pool($1)`, [configId]);
    expect(findings.filter((f) => f.kind !== 'created_ahead')).toEqual([]);
    // And the run verifies again.
    const again = await verifyRun(db.pool, outcome.runId);
    expect(again.status, again.message).toBe('succeeded');
  });

  it('lists and counts the DDL the migration runs, and the partitions it makes, with small keys sharing and without', async () => {
    for (const shareBelow of [THRESHOLD, undefined]) {
      const table = shareBelow ? 'listed_shared' : 'listed_own';
      await createSkewedMirroredTable(db, table, SHAPE);
      const plan = await planOf(table, shareBelow, { ddlKeyLimit: 1000 });
      const outcome = await migrate(db.pool, [
        {
          schema: 'public',
          table,
          keyColumn: 'customer_id',
          bucketLimit: LIMIT,
          ...(shareBelow ? { shareBelow } : {}),
        },
      ]);
      expect(outcome.status, outcome.message).toBe('succeeded');
      const catalog = await treeDdlOf(table);
      const listed = listedDdl(plan.ddl, table);
      // Every statement listed, and counted: each partition made by name, the pool attached as the DEFAULT one.
      expect(listed.statements).toBe(plan.ddlStatements);
      expect(plan.maxDdlStatements).toBe(plan.ddlStatements);
      expect(listed).toEqual({
        statements: plan.ddlStatements,
        partitions: [...catalog.partitions].sort(),
        pool: catalog.pool ? [catalog.pool] : [],
        counters: catalog.counters,
        indexes: catalog.indexes,
      });
      expect(catalog.pool === null).toBe(shareBelow === undefined);
      // The table, a statement per partition and per index, the rename and the
      // view; and the pool's: attached as the DEFAULT partition, its first
      // bucket made then attached, its ticket counter.
      expect(plan.ddlStatements).toBe(
        1 + catalog.partitions.length + catalog.indexes + 2 + (catalog.pool ? 2 + catalog.counters : 0),
      );
      // The partitions line gives the catalog's figures.
      const tree = await relationsOf(`${table}_partitioned`);
      expect(formatPlan(plan, { ddl: false })).toContain(
        `partitions       ${tree.levelOne} level-1${shareBelow ? ' (the pool one of them)' : ''}; ${tree.leaves} leaves${shareBelow ? `; a partition per key: ${SHAPE.small + SHAPE.large} level-1` : '\n'}`,
      );
      expect(formatPlan(plan, { ddl: true })).toContain(`DDL (${plan.ddlStatements} DDL statements):`);
      if (!shareBelow) continue;
      // A long listing is cut as before, its count unchanged: keys first, then the pool's buckets.
      const placement = plan.partitions.placement!;
      // (Planned on a table of the same shape: the migrated one is now a routing view.)
      await createSkewedMirroredTable(db, 'listed_again', SHAPE);
      const cutKeys = await planOf('listed_again', shareBelow, { ddlKeyLimit: 1 });
      expect(cutKeys.ddlStatements).toBe(plan.ddlStatements);
      expect(cutKeys.ddl).toContain(
        `-- ... and, alike, ${countOf(SHAPE.large - 1, 'more level-1 partition')} with ${(SHAPE.large - 1) * Math.ceil(SHAPE.largeRows / LIMIT)} leaves`,
      );
      expect(listedDdl(cutKeys.ddl, 'listed_again').pool).toHaveLength(1);
      const cutBuckets = await planOf('listed_again', shareBelow, { ddlStatementLimit: 20 });
      expect(cutBuckets.ddlStatements).toBe(plan.ddlStatements);
      expect(cutBuckets.ddl).toContain(`-- ... and, alike, ${countOf(placement.poolBuckets - 1, 'more pool bucket')}`);
      expect(cutBuckets.ddl.filter((s) => !s.startsWith('--') && / PARTITION OF /.test(s)).length).toBeLessThanOrEqual(
        20,
      );
    }
  });

  it("sizes the plan's lock-table figure and time by the shared tree", async () => {
    const table = 'sized';
    await createSkewedMirroredTable(db, table, SHAPE);
    const perKey = await planOf(table);
    const shared = await planOf(table, THRESHOLD);
    const placement = shared.partitions.placement!;
    // A query that does not name the key locks each partition and each of its indexes.
    const perPartition =
      perKey.partitions.lockedByFullScan / (1 + perKey.partitions.levelOne + perKey.partitions.leaves);
    expect(Number.isInteger(perPartition)).toBe(true);
    expect(shared.partitions.lockedByFullScan).toBe((1 + placement.levelOne + placement.leaves) * perPartition);
    // The figures shown stay one partition per key, beside the placement's.
    expect([shared.partitions.levelOne, shared.partitions.leaves]).toEqual([
      perKey.partitions.levelOne,
      perKey.partitions.leaves,
    ]);
    const fewer = perKey.partitions.levelOne + perKey.partitions.leaves - placement.levelOne - placement.leaves;
    expect(fewer).toBeGreaterThan(50);
    // The DDL is the shared tree's: a statement per partition, and the pool's three beyond them.
    expect(shared.ddlStatements).toBe(perKey.ddlStatements - fewer + 3);
    expect(shared.estimatedSeconds).toBeLessThanOrEqual(perKey.estimatedSeconds);
    // A statement that does not name the key reads every leaf of the shared tree.
    expect(shared.workload?.leaves).toBe(placement.leaves);
    expect(perKey.workload?.leaves).toBe(perKey.partitions.leaves);
  });

  it('keeps every committed write of pooled, own and new keys made during the migration', async () => {
    const table = 'skewed_busy';
    await createSkewedMirroredTable(db, table, SHAPE);
    let stopped = false;
    const errors: string[] = [];
    let commits = 0;
    const clients = await Promise.all(Array.from({ length: 3 }, () => db.connect()));
    // Each writer its own rows: ids i (mod 3) of the pooled keys' range, so no two
    // writers touch one row, and the ledger is exact.
    const writer = async (client: pg.Client, part: number): Promise<void> => {
      for (let n = part; !stopped; n += 3) {
        try {
          await client.query('BEGIN');
          const key = n % 4 === 0 ? 1 : n % 4 === 1 ? 3 + (n % 60) : n % 4 === 2 ? 2000 + (n % 9) : 2;
          const { rows } = await client.query<{ id: string }>(
            `INSERT INTO ${table} (customer_id, payload, amount) VALUES ($1, $2, 1) RETURNING id`,
            [key, `w${part} ${n}`],
          );
          await client.query(
            `INSERT INTO ${table}_expected (id, customer_id, payload, amount) VALUES ($1, $2, $3, 1)`,
            [rows[0]!.id, key, `w${part} ${n}`],
          );
          // A row of a pooled key (the low ids are theirs), updated or deleted.
          const id = 100 + ((n * 7) % 3000) * 3 + part;
          const statement =
            n % 5 === 0 ? 'DELETE FROM %s WHERE id = $1' : `UPDATE %s SET amount = amount + 1 WHERE id = $1`;
          await client.query(statement.replace('%s', table), [id]);
          await client.query(statement.replace('%s', `${table}_expected`), [id]);
          await client.query('COMMIT');
          commits++;
        } catch (error) {
          await client.query('ROLLBACK').catch(() => undefined);
          errors.push((error as Error).message);
        }
      }
    };
    const writers = clients.map((client, part) => writer(client, part));
    const moreCommits = async (count: number): Promise<void> => {
      const target = commits + count;
      for (let i = 0; commits < target; i++) {
        if (i > 1200 || errors.length > 0) throw new Error(`writers stalled at ${commits} commits: ${errors[0]}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      await moreCommits(10);
      const outcome = await migrate(
        db.pool,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: LIMIT, shareBelow: THRESHOLD }],
        {
          workers: 2,
          catchUpThreshold: 20,
          beforePhase: async (phase) => {
            if (phase === 'indexes' || phase === 'catch_up' || phase === 'verify') await moreCommits(15);
          },
        },
      );
      expect(outcome.status, outcome.message).toBe('succeeded');
      await moreCommits(15);
    } finally {
      stopped = true;
      await Promise.all(writers);
      await Promise.all(clients.map((c) => c.end()));
    }
    expect(errors).toEqual([]);
    await expectMirrored(db, table);
    const configId = await configOf(table);
    // The keys first seen during the migration are pooled, the large ones kept their partition.
    expect(
      await db.query(
        `SELECT key_value, in_pool FROM partwise.partition_tracker
          WHERE config_id = $1 AND key_value IN ('1', '2', '2000', '3') ORDER BY 1`,
        [configId],
      ),
    ).toEqual([
      { key_value: '1', in_pool: false },
      { key_value: '2', in_pool: false },
      { key_value: '2000', in_pool: true },
      { key_value: '3', in_pool: true },
    ]);
    const overFull = await db.query(
      `SELECT tableoid::regclass::text, count(*) FROM ${table}_partitioned GROUP BY 1 HAVING count(*) > $1`,
      [LIMIT],
    );
    expect(overFull).toEqual([]);
    const findings = await db.query<{ kind: string }>(`SELECT kind FROM partwise.maintain_pool($1)`, [configId]);
    expect(findings.filter((f) => f.kind !== 'created_ahead')).toEqual([]);
    await mirroredWrites(db.pool, table, 1);
    await expectMirrored(db, table);
  });

  it('fails verification when a pooled row is lost or changed, and rolls back', async () => {
    for (const [table, tamper, message] of [
      ['lost_pooled', 'DELETE FROM %s WHERE id = $1', /rows in the original, \d+ in the new table/],
      ['changed_pooled', `UPDATE %s SET payload = 'tampered' WHERE id = $1`, /but different contents/],
    ] as const) {
      await createSkewedMirroredTable(db, table, SHAPE);
      const outcome = await migrate(
        db.pool,
        [{ schema: 'public', table, keyColumn: 'customer_id', bucketLimit: LIMIT, shareBelow: THRESHOLD }],
        {
          beforePhase: async (phase) => {
            if (phase !== 'verify') return;
            // Row 7 is a small key's: in a pool leaf, whose triggers are turned off so that no log records the change.
            const [row] = await db.query<{ leaf: string; pool: boolean }>(
              `SELECT tableoid::regclass::text AS leaf,
                      EXISTS (SELECT 1 FROM partwise.pool_bucket b WHERE b.leaf_partition = t.tableoid) AS pool
                 FROM ${table}_partitioned t WHERE id = 7`,
            );
            expect(row!.pool).toBe(true);
            await db.query(`ALTER TABLE ${row!.leaf} DISABLE TRIGGER ALL`);
            await db.query(tamper.replace('%s', row!.leaf), [7]);
          },
        },
      );
      expect(outcome.status).toBe('failed');
      expect(outcome.message).toMatch(message);
      expect(outcome.message).toMatch(/rolled back, the table is as it was/);
      expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = $1::regclass`, [table])).toEqual([
        { relkind: 'r' },
      ]);
      await expectMirrored(db, table);
    }
  });

  it('resumed after kill -9 in the copy, keeps the partitions it gave and gives one to a key grown past the threshold', async () => {
    const table = 'skewed_resume';
    await createSkewedMirroredTable(db, table, SHAPE);
    const child = await runMigrateCliUntil(db, table, 'copy:after-first-chunk', {
      bucketLimit: LIMIT,
      shareBelow: THRESHOLD,
      workers: 2,
    });
    await killHard(child, db.url);
    // Meanwhile large key 63 shrinks under the threshold (its partition exists)
    // and small key 3 grows past it.
    for (const statement of [
      `DELETE FROM %s WHERE customer_id = 63 AND id % 3 <> 0`,
      `INSERT INTO %s (id, customer_id, payload, amount)
       SELECT nextval('${table}_id_seq'), 3, 'grown ' || g, 1 FROM generate_series(1, 1200) g`,
    ]) {
      await db.query(statement.replace('%s', table));
    }
    await db.query(`DELETE FROM ${table}_expected WHERE customer_id = 63 AND id % 3 <> 0`);
    await db.query(`INSERT INTO ${table}_expected SELECT * FROM ${table} WHERE payload LIKE 'grown %'`);
    const [run] = (await new Journal('partwise').listRuns(db.pool)).filter((r) => r.targets[0]!.table === table);
    const resumed = await runCli(['resume', '--url', db.url, '--run', String(run!.runId), '--yes']);
    expect(resumed.code, resumed.stderr + resumed.stdout).toBe(0);
    await expectMirrored(db, table);
    const configId = await configOf(table);
    expect(
      await db.query(
        `SELECT key_value, in_pool FROM partwise.partition_tracker
          WHERE config_id = $1 AND key_value IN ('1', '3', '4', '63') ORDER BY key_value::int`,
        [configId],
      ),
    ).toEqual([
      { key_value: '1', in_pool: false },
      { key_value: '3', in_pool: false },
      { key_value: '4', in_pool: true },
      { key_value: '63', in_pool: false },
    ]);
    // Each key's rows where its tracker row says.
    expect(
      await db.query(
        `SELECT t.customer_id, count(*)::int AS n FROM ${table}_partitioned t
           JOIN partwise.partition_tracker k ON k.config_id = $1 AND k.key_value = t.customer_id::text
           JOIN pg_inherits i ON i.inhrelid = t.tableoid
          WHERE i.inhparent <> k.level_one_partition GROUP BY 1`,
        [configId],
      ),
    ).toEqual([]);
  });
});
