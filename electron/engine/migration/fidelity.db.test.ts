// The partitioned table takes over the original's definitions exactly, built
// from the catalog's fields rather than edited definition text: index options
// (INCLUDE, storage parameters, operator classes with parameters, collations,
// DESC / NULLS FIRST, partial, expression, tablespace), constraint options
// (DEFERRABLE, NOT VALID, NO INHERIT where legal), triggers of every kind, and
// reserved-word and odd names for every object the swap touches. Each must
// read back the same (pg_get_*def, modulo the widened unique columns) after
// migrate and finalize, and be exactly as before after a rollback.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { finalize, migrate, planMigration, rollback } from '../index.js';
import { runAsUser } from '../../embedded/run-as.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('fidelity');
let app: TestRole;
let tablespace: { name: string; dir: string } | undefined;

// Before the database and its roles go (hooks run in reverse order): the
// tablespace must be empty to be dropped, and the owner's grant on it goes
// with it.
afterAll(async () => {
  if (!tablespace) return;
  await db.query(`DROP SCHEMA IF EXISTS "odd S" CASCADE`);
  await db.admin.query(`DROP TABLESPACE IF EXISTS ${pg.escapeIdentifier(tablespace.name)}`);
  fs.rmSync(tablespace.dir, { recursive: true, force: true });
});

const ORIGINAL = `"odd S"."order"`;
const PARTITIONED = `"odd S".order_partitioned`;

beforeAll(async () => {
  await installPartwise(db);
  app = await db.createRole('app');
  // Creating a tablespace needs a superuser (and a directory the server owns):
  // a DBA does that; the owner only gets CREATE on it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-tablespace-'));
  const owner = runAsUser();
  if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  tablespace = { name: `${db.name} fast "disk"`, dir };
  await db.admin.query(`CREATE TABLESPACE ${pg.escapeIdentifier(tablespace.name)} LOCATION '${dir}'`);
  await db.admin.query(
    `GRANT CREATE ON TABLESPACE ${pg.escapeIdentifier(tablespace.name)} TO ${pg.escapeIdentifier(db.owner)}`,
  );
});

async function createOddTable(): Promise<void> {
  const ts = pg.escapeIdentifier(tablespace!.name);
  await db.query(`CREATE SCHEMA "odd S"`);
  await db.query(`GRANT USAGE ON SCHEMA "odd S" TO ${app.sql}`);
  await db.query(`CREATE TABLE "odd S"."Customers" ("Id" int PRIMARY KEY, name text)`);
  await db.query(`INSERT INTO "odd S"."Customers" SELECT g, 'c' || g FROM generate_series(1, 5) g`);
  await db.query(`CREATE TABLE "odd S"."Slots" ("Id" int PRIMARY KEY)`);
  await db.query(`INSERT INTO "odd S"."Slots" SELECT g FROM generate_series(1, 6000) g WHERE g <> 999`);
  await db.query(`GRANT SELECT ON "odd S"."Slots", "odd S"."Customers" TO ${app.sql}`);
  await db.query(`CREATE TABLE "odd S".audit (what text, n int)`);
  await db.query(`GRANT INSERT ON "odd S".audit TO ${app.sql}`);
  await db.query(`CREATE TABLE ${ORIGINAL} (
    "id" bigint GENERATED ALWAYS AS IDENTITY,
    "Customer Id" int NOT NULL REFERENCES "odd S"."Customers" ("Id") ON DELETE CASCADE DEFERRABLE,
    "select" text COLLATE "C",
    note text,
    "we""ird col" int,
    amount numeric,
    tags text[],
    doc tsvector,
    "Serial Col" serial,
    CONSTRAINT "pk ""x""" PRIMARY KEY (id) INCLUDE (note) WITH (fillfactor = 70),
    CONSTRAINT "Uniq Odd" UNIQUE ("Customer Id", "select") DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT "slot" UNIQUE ("we""ird col") USING INDEX TABLESPACE ${ts} DEFERRABLE INITIALLY IMMEDIATE,
    CONSTRAINT "chk ""quoted"" name" CHECK (amount >= 0),
    CONSTRAINT "no inherit" CHECK ("we""ird col" <> -13) NO INHERIT)`);
  await db.query(
    `INSERT INTO ${ORIGINAL} ("Customer Id", "select", note, "we""ird col", amount, tags, doc)
     SELECT 1 + g % 5, 's' || g, CASE WHEN g % 7 = 0 THEN NULL ELSE 'note ' || g END, g, g, ARRAY['t' || (g % 3)], to_tsvector('simple', 'word' || g)
       FROM generate_series(1, 300) g`,
  );
  // Rows that break constraints added NOT VALID afterwards.
  await db.query(
    `INSERT INTO ${ORIGINAL} ("Customer Id", "select", amount, "we""ird col") VALUES (1, 'big', 5000, 999)`,
  );
  await db.query(`ALTER TABLE ${ORIGINAL} ADD CONSTRAINT "small ""amount""" CHECK (amount < 1000) NOT VALID`);
  if (db.major >= 18) {
    await db.query(
      `ALTER TABLE ${ORIGINAL} ADD CONSTRAINT "weird fk" FOREIGN KEY ("we""ird col") REFERENCES "odd S"."Slots" ("Id") NOT VALID`,
    );
  }
  await db.query(`CREATE INDEX "idx desc" ON ${ORIGINAL} (("Customer Id" + 1) DESC NULLS LAST, "select" COLLATE "C" text_pattern_ops)
                    INCLUDE (note) WITH (fillfactor = 50) WHERE amount > 0`);
  await db.query(`CREATE INDEX "Mixed Case idx" ON ${ORIGINAL} (note NULLS FIRST, amount DESC) TABLESPACE ${ts}`);
  await db.query(`CREATE INDEX order_tags ON ${ORIGINAL} USING gin (tags) WITH (fastupdate = off)`);
  await db.query(`CREATE INDEX order_doc ON ${ORIGINAL} USING gist (doc tsvector_ops (siglen = 100))`);
  await db.query(`CREATE INDEX order_brin ON ${ORIGINAL} USING brin (id) WITH (pages_per_range = 16)`);
  await db.query(`CREATE INDEX order_hash ON ${ORIGINAL} USING hash ("select")`);
  await db.query(`CREATE UNIQUE INDEX "live lower" ON ${ORIGINAL} (lower("select")) WHERE note IS NOT NULL`);

  await db.query(`CREATE FUNCTION "odd S".touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN NEW.note := TG_ARGV[0] || TG_ARGV[1] || TG_ARGV[2]; RETURN NEW; END $$`);
  await db.query(`CREATE FUNCTION "odd S".count_new() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO "odd S".audit SELECT TG_NAME, count(*) FROM "New Rows"; RETURN NULL; END $$`);
  await db.query(`CREATE FUNCTION "odd S".record() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO "odd S".audit VALUES (TG_NAME || ' ' || TG_OP, 1); RETURN NULL; END $$`);
  await db.query(`CREATE TRIGGER touch BEFORE UPDATE OF "select", note ON ${ORIGINAL} FOR EACH ROW
    WHEN (OLD."select" IS DISTINCT FROM NEW."select") EXECUTE FUNCTION "odd S".touch('a''b', 'c\\d', '')`);
  await db.query(`CREATE TRIGGER "Trig ""x""" AFTER INSERT ON ${ORIGINAL} REFERENCING NEW TABLE AS "New Rows"
    FOR EACH STATEMENT EXECUTE FUNCTION "odd S".count_new()`);
  await db.query(`CREATE CONSTRAINT TRIGGER "Deferred Check" AFTER INSERT OR DELETE ON ${ORIGINAL}
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "odd S".record()`);
  await db.query(
    `CREATE TRIGGER on_truncate AFTER TRUNCATE ON ${ORIGINAL} FOR EACH STATEMENT EXECUTE FUNCTION "odd S".record()`,
  );
  await db.query(
    `CREATE TRIGGER disabled_one BEFORE INSERT ON ${ORIGINAL} FOR EACH ROW EXECUTE FUNCTION "odd S".touch('x', 'y', 'z')`,
  );
  await db.query(`ALTER TABLE ${ORIGINAL} DISABLE TRIGGER disabled_one`);
  // A built-in trigger function, printed without its schema.
  await db.query(
    `CREATE TRIGGER "z min" BEFORE UPDATE ON ${ORIGINAL} FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()`,
  );

  await db.query(
    `CREATE VIEW "odd S"."Open Orders" AS SELECT id, "Customer Id" AS "Who", note FROM ${ORIGINAL} WHERE amount > 0`,
  );
  await db.query(`GRANT SELECT ON "odd S"."Open Orders" TO ${app.sql}`);
  await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${ORIGINAL} TO ${app.sql}`);
  await db.query(`GRANT USAGE ON SEQUENCE "odd S"."order_Serial Col_seq" TO ${app.sql}`);
  if (db.major >= 15) {
    await db.query(`ALTER TABLE ${ORIGINAL} ENABLE ROW LEVEL SECURITY`);
    await db.query(`CREATE POLICY "Own ""Rows""" ON ${ORIGINAL} FOR ALL TO ${app.sql} USING ("Customer Id" <> 5)`);
    await db.query(`COMMENT ON POLICY "Own ""Rows""" ON ${ORIGINAL} IS 'policy comment'`);
  }
  await db.query(`COMMENT ON TABLE ${ORIGINAL} IS 'a reserved word'`);
  await db.query(`COMMENT ON COLUMN ${ORIGINAL}."we""ird col" IS 'column comment'`);
  await db.query(`COMMENT ON INDEX "odd S"."idx desc" IS 'index comment'`);
  await db.query(`COMMENT ON CONSTRAINT "pk ""x""" ON ${ORIGINAL} IS 'key comment'`);
  await db.query(`COMMENT ON CONSTRAINT "chk ""quoted"" name" ON ${ORIGINAL} IS 'check comment'`);
  await db.query(`COMMENT ON CONSTRAINT "small ""amount""" ON ${ORIGINAL} IS 'not valid comment'`);
  await db.query(`COMMENT ON TRIGGER touch ON ${ORIGINAL} IS 'trigger comment'`);
  await db.query(`COMMENT ON SEQUENCE "odd S".order_id_seq IS 'sequence comment'`);
  await db.query(`ANALYZE ${ORIGINAL}`);
}

interface Definitions {
  columns: unknown[];
  indexes: unknown[];
  constraints: unknown[];
  triggers: unknown[];
  policies: unknown[];
  sequences: unknown[];
  comment: unknown;
  view: unknown;
}

/**
 * What the definitions of `table` read back as, with its own name (and the
 * ONLY of a partitioned table's indexes) written as the original's, and the
 * partition columns a unique key was widened with left out.
 */
async function definitions(table: string): Promise<Definitions> {
  const [{ oid }] = (await db.query<{ oid: number }>(`SELECT $1::regclass::oid::int AS oid`, [table])) as [
    { oid: number },
  ];
  const same = (text: string | null): string | null =>
    text === null
      ? null
      : text
          .split(`ON ONLY ${table} `)
          .join(`ON ${ORIGINAL} `)
          .split(` ON ${table} `)
          .join(` ON ${ORIGINAL} `)
          .replace(/, "Customer Id", bucket_id\)/, ')')
          .replace(/, bucket_id\)/, ')');
  const columns = await db.query(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attidentity, a.attgenerated,
            pg_get_expr(d.adbin, d.adrelid) AS default, a.attcollation::regcollation::text AS collation,
            col_description(a.attrelid, a.attnum) AS comment
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped AND a.attname <> 'bucket_id' ORDER BY a.attnum`,
    [oid],
  );
  const indexes = await db.query<{ name: string; def: string; comment: string | null; tablespace: string | null }>(
    `SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS def, obj_description(i.indexrelid, 'pg_class') AS comment,
            (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace) AS tablespace
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1 ORDER BY 1`,
    [oid],
  );
  const constraints = await db.query<{ name: string; def: string; comment: string | null }>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS def, obj_description(oid, 'pg_constraint') AS comment
       FROM pg_constraint WHERE conrelid = $1 AND NOT (contype = 'n' AND conkey = ARRAY[(SELECT attnum FROM pg_attribute WHERE attrelid = $1 AND attname = 'bucket_id')])
      ORDER BY 1`,
    [oid],
  );
  const triggers = await db.query<{ name: string; def: string; enabled: string; comment: string | null }>(
    `SELECT tgname AS name, pg_get_triggerdef(oid) AS def, tgenabled AS enabled, obj_description(oid, 'pg_trigger') AS comment
       FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal AND tgname NOT LIKE 'partwise%' ORDER BY 1`,
    [oid],
  );
  const policies = await db.query(
    `SELECT p.polname, p.polpermissive, p.polcmd, p.polroles::regrole[]::text[] AS roles,
            pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS with_check,
            obj_description(p.oid, 'pg_policy') AS comment
       FROM pg_policy p WHERE p.polrelid = $1 ORDER BY 1`,
    [oid],
  );
  // The sequences the application names, and where pg_get_serial_sequence finds them.
  const sequences = await db.query(
    `SELECT c.relname, format_type(q.seqtypid, NULL) AS type, q.seqstart::text AS start, q.seqincrement::text AS increment,
            q.seqmax::text AS max, obj_description(c.oid, 'pg_class') AS comment,
            pg_get_serial_sequence('"odd S"."order"', 'Serial Col') AS serial_of_view
       FROM pg_class c JOIN pg_sequence q ON q.seqrelid = c.oid
      WHERE c.relnamespace = '"odd S"'::regnamespace AND c.relname IN ('order_id_seq', 'order_Serial Col_seq') ORDER BY 1`,
  );
  const [comment] = await db.query(`SELECT obj_description($1::oid, 'pg_class') AS comment`, [oid]);
  const [view] = await db.query(`SELECT pg_get_viewdef('"odd S"."Open Orders"'::regclass) AS def`);
  return {
    columns,
    indexes: indexes.map((i) => ({ ...i, def: same(i.def) })),
    constraints: constraints.map((c) => ({ ...c, def: same(c.def) })),
    triggers: triggers.map((t) => ({ ...t, def: same(t.def) })),
    policies,
    sequences,
    comment,
    view,
  };
}

/** The partitioned table's definitions are the original's, but for NO INHERIT (refused on a partitioned table). */
function asPartitioned(original: Definitions): Definitions {
  return {
    ...original,
    constraints: original.constraints.map((c) => {
      const constraint = c as { name: string; def: string };
      return constraint.name === 'no inherit' ? { ...constraint, def: constraint.def.replace(' NO INHERIT', '') } : c;
    }),
  };
}

describe('definitions rebuilt from the catalog', () => {
  it('keep every option and odd name through migrate, rollback and finalize', async () => {
    await createOddTable();
    const before = await definitions(ORIGINAL);
    // The fixture has what it claims: a reserved word, quotes, spaces, every option.
    expect(JSON.stringify(before)).toContain("INCLUDE (note) WITH (fillfactor='70')");
    expect(JSON.stringify(before)).toContain('DEFERRABLE INITIALLY DEFERRED');
    expect(JSON.stringify(before)).toContain('NOT VALID');
    expect(JSON.stringify(before)).toContain("tsvector_ops (siglen='100')");

    const client = await db.connect();
    try {
      const plan = await planMigration(
        client,
        { schema: 'odd S', table: 'order', keyColumn: 'Customer Id', bucketLimit: 40 },
        { counting: 'exact' },
      );
      expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
      expect(plan.issues.map((i) => i.code)).toContain('check_no_inherit');
    } finally {
      await client.end();
    }
    const target = { schema: 'odd S', table: 'order', keyColumn: 'Customer Id', bucketLimit: 40 };
    const run = await migrate(db.pool, [target]);
    expect(run.status, run.message).toBe('succeeded');
    expect(await definitions(PARTITIONED)).toEqual(asPartitioned(before));

    expect(await db.query(`SELECT pg_get_serial_sequence('"odd S".order_partitioned', 'id') AS s`)).toEqual([
      { s: '"odd S".order_id_seq' },
    ]);
    // Everything works through the application's name, as the application's role.
    await app.query(
      `INSERT INTO ${ORIGINAL} ("Customer Id", "select", note, "we""ird col", amount) VALUES (2, 'new', 'n', 1000, 1)`,
    );
    await app.query(`UPDATE ${ORIGINAL} SET "select" = 'changed' WHERE "we""ird col" = 1000`);
    expect(await db.query(`SELECT note FROM ${ORIGINAL} WHERE "we""ird col" = 1000`)).toEqual([{ note: "a'bc\\d" }]);
    expect(await db.query(`SELECT what, n FROM "odd S".audit ORDER BY 1`)).toEqual([
      { what: 'Deferred Check INSERT', n: 1 },
      { what: 'Trig "x"', n: 1 },
    ]);
    await expect(app.query(`INSERT INTO ${ORIGINAL} ("Customer Id", amount) VALUES (2, 2000)`)).rejects.toMatchObject({
      code: '23514',
    });
    // Deferrable-immediate "slot" and deferred "Uniq Odd" hold across buckets.
    await expect(
      app.query(`INSERT INTO ${ORIGINAL} ("Customer Id", "select", "we""ird col") VALUES (3, 'x', 1)`),
    ).rejects.toMatchObject({ code: '23505', constraint: 'slot' });
    // Which of a key's rows the copy puts in which bucket is not defined: the
    // duplicate repeats a row of key 2's first bucket, and lands in its second.
    const [{ taken }] = (await db.query<{ taken: string }>(
      `SELECT "select" AS taken FROM "odd S".order_partitioned WHERE "Customer Id" = 2 AND bucket_id = 0 LIMIT 1`,
    )) as [{ taken: string }];
    await expect(
      app.query(`INSERT INTO ${ORIGINAL} ("Customer Id", "select", "we""ird col") VALUES (2, $1, 5001)`, [taken]),
    ).rejects.toMatchObject({ code: '23505', constraint: 'Uniq Odd' });

    // Rollback: the original is exactly as it was.
    expect((await rollback(db.pool, run.runId)).status).toBe('rolled_back');
    expect(await definitions(ORIGINAL)).toEqual(before);
    expect(await db.query(`SELECT note FROM ${ORIGINAL} WHERE "we""ird col" = 1000`)).toEqual([{ note: "a'bc\\d" }]);

    // Finalize keeps the partitioned table's definitions.
    const again = await migrate(db.pool, [target]);
    expect(again.status, again.message).toBe('succeeded');
    expect((await finalize(db.pool, again.runId)).status).toBe('finalized');
    expect(await definitions(PARTITIONED)).toEqual(asPartitioned(before));
    await db.query(`TRUNCATE ${PARTITIONED}`);
    expect(await db.query(`SELECT what FROM "odd S".audit WHERE what LIKE 'on_truncate%'`)).toEqual([
      { what: 'on_truncate TRUNCATE' },
    ]);
  });

  it('refuses before the copy what a partitioned table cannot hold', async () => {
    await db.query(`CREATE TABLE parent_ref (id int PRIMARY KEY)`);
    await db.query(`CREATE TABLE dangling (id int PRIMARY KEY, k int NOT NULL, ref int)`);
    await db.query(`INSERT INTO dangling VALUES (1, 1, 42)`);
    await db.query(
      `ALTER TABLE dangling ADD CONSTRAINT dangling_ref FOREIGN KEY (ref) REFERENCES parent_ref NOT VALID`,
    );
    const target = { schema: 'public', table: 'dangling', keyColumn: 'k', bucketLimit: 10 };
    if (db.major >= 18) {
      const run = await migrate(db.pool, [target]);
      // PostgreSQL 18 holds it NOT VALID on the partitioned table, as before.
      expect(run.status, run.message).toBe('succeeded');
      expect(
        await db.query(
          `SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'dangling_partitioned'::regclass AND contype = 'f'`,
        ),
      ).toEqual([{ def: 'FOREIGN KEY (ref) REFERENCES parent_ref(id) NOT VALID' }]);
      return;
    }
    // Refused before a run is recorded: nothing was created, nothing copied.
    await expect(migrate(db.pool, [target])).rejects.toMatchObject({
      kind: 'blocked',
      message: expect.stringContaining('dangling_ref is NOT VALID'),
    });
    expect(
      await db.query(`SELECT count(*)::int AS n FROM partwise.migration_target WHERE table_name = 'dangling'`),
    ).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT to_regclass('dangling_partitioned') IS NULL AS gone`)).toEqual([{ gone: true }]);
  });
});
