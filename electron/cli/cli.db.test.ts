// The `partwise` command as users run it: bad input gets a one-line reason,
// a non-zero exit and no change; awkward but valid names and values migrate.
import { describe, expect, it, beforeAll } from 'vitest';
import fs from 'node:fs';
import pg from 'pg';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { useTestDatabase, type TestRole } from '../testing/database.js';
import { ident } from '../db/sql.js';
import { killHard, runCli, runCliUntil } from '../testing/cli.js';

const db = useTestDatabase('cli');

async function tablesSnapshot(): Promise<string[]> {
  const rows = await db.query<{ name: string }>(
    `SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

beforeAll(async () => {
  await db.query(`CREATE TABLE plain (id bigserial PRIMARY KEY, tenant int, note text)`);
  await db.query(`INSERT INTO plain (tenant, note) SELECT g % 4, 'n' FROM generate_series(1, 400) g`);
  await db.query(`ANALYZE plain`);
  await db.query(`CREATE VIEW plain_view AS SELECT * FROM plain`);
  await db.query(`CREATE TABLE already (k int NOT NULL) PARTITION BY LIST (k)`);
});

const BAD_INPUT: [string[], RegExp][] = [
  [['--table', 'missing', '--key', 'tenant', '--bucket-limit', '10'], /Table public\.missing does not exist/],
  [['--table', 'plain', '--key', 'nope', '--bucket-limit', '10'], /public\.plain has no column nope/],
  [['--table', 'plain_view', '--key', 'tenant', '--bucket-limit', '10'], /is a view/],
  [['--table', 'already', '--key', 'k', '--bucket-limit', '10'], /already a partitioned table/],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '0'],
    /^partwise: --bucket-limit: The bucket limit must be at least 1 row\. Got "0"\.$/,
  ],
  // Negative values are values, not options: the same answer as 0.
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '-1'],
    /^partwise: --bucket-limit: The bucket limit must be at least 1 row\. Got "-1"\.$/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit=-1'],
    /^partwise: --bucket-limit: The bucket limit must be at least 1 row\. Got "-1"\.$/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', 'abc'],
    /^partwise: --bucket-limit: The bucket limit must be a whole number of rows, such as 100000\. Got "abc"\.$/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '99999999999999999999'],
    /^partwise: --bucket-limit: The bucket limit can be at most 2,000,000,000 rows\. Got "99999999999999999999"\.$/,
  ],
  [['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--workers', '-2'], /--workers must be an integer/],
  [['--table', 'plain', '--key', 'tenant'], /a bucket limit is required/],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--max-rate', 'fast'],
    /--max-rate must be megabytes/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--max-rate', '0'],
    /--max-rate must be more than 0/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--max-standby-lag', '8 MiB'],
    /--max-standby-lag must be a size such as 8MB or 1GB, got "8 MiB"/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--slot', 'replica_1'],
    /--slot needs --max-standby-lag/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--max-standby-lag', '8MB', '--slot', 'nope'],
    /There is no replication slot "nope" on this server/,
  ],
  [['--table', 'a.b.c', '--key', 'tenant', '--bucket-limit', '10'], /too many dots/],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--share-below', '0'],
    /^partwise: --share-below must be a whole number of rows, 1 or more \(keys with fewer rows share the pool of small keys\), got "0"$/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--share-below', '-5'],
    /--share-below must be a whole number of rows, 1 or more .*got "-5"$/,
  ],
  [
    ['--table', 'plain', '--key', 'tenant', '--bucket-limit', '10', '--share-below', '2.5'],
    /--share-below must be a whole number of rows, 1 or more .*got "2\.5"$/,
  ],
  [['--table', 'plain', '--key', 'note; drop table plain', '--bucket-limit', '10'], /is not a valid column name/],
];

describe('partwise command line', () => {
  // One process per case: each starts the command from its sources.
  it.each(BAD_INPUT)('refuses %j with a one-line reason, changing nothing', async (args, reason) => {
    const before = await tablesSnapshot();
    const result = await runCli(['migrate', '--url', db.url, '--yes', ...args]);
    expect(result.code, args.join(' ')).not.toBe(0);
    const lines = result.stderr
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('partwise:'));
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(reason);
    expect(await tablesSnapshot()).toEqual(before);
  });

  it('plans small keys sharing with --share-below: keys pooled, pool buckets, relations both ways', async () => {
    const result = await runCli([
      'plan',
      '--url',
      db.url,
      '--table',
      'plain',
      '--key',
      'tenant',
      '--bucket-limit',
      '40',
      '--share-below',
      '150',
    ]);
    expect(result.code, result.stderr).toBe(0);
    // 4 keys of 100 rows: all under 150, 400 rows in buckets of 40; the tree made is the pool's.
    expect(result.stdout).toContain(
      'partitions       1 level-1 (the pool one of them); 10 leaves; a partition per key: 4 level-1, 12 leaves',
    );
    expect(result.stdout).toContain('small keys share 4 keys under 150 rows (400 rows) in one pool of 10 buckets\n');
    const [, shared, perKey] = /relations +(\d+) with small keys sharing, (\d+) with a partition per key/.exec(
      result.stdout,
    )!;
    expect(Number(shared)).toBeLessThan(Number(perKey));
    const json = await runCli([
      'plan',
      '--url',
      db.url,
      '--table',
      'plain',
      '--key',
      'tenant',
      '--bucket-limit',
      '40',
      '--share-below',
      '150',
      '--json',
    ]);
    expect(JSON.parse(json.stdout)[0].partitions.placement).toMatchObject({
      pooledKeys: 4,
      poolBuckets: 10,
      relationsShared: Number(shared),
      relationsPerKey: Number(perKey),
    });
  });

  it('takes each target\'s "shareBelow" from a JSON config file, and refuses a bad one or a second threshold', async () => {
    await db.query(`CREATE TABLE pooled_a (id serial PRIMARY KEY, k int NOT NULL)`);
    await db.query(`INSERT INTO pooled_a (k) SELECT g % 4 FROM generate_series(1, 400) g`);
    await db.query(`CREATE TABLE pooled_b (id serial PRIMARY KEY, k int NOT NULL)`);
    await db.query(`INSERT INTO pooled_b (k) SELECT g % 4 FROM generate_series(1, 400) g`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-cli-'));
    const configFile = (targets: object[]): string => {
      const file = path.join(dir, `targets-${randomBytes(4).toString('hex')}.json`);
      fs.writeFileSync(file, JSON.stringify({ targets }));
      return file;
    };
    const good = configFile([
      { table: 'pooled_a', key: 'k', bucketLimit: 40, shareBelow: 150 },
      { table: 'pooled_b', key: 'k', bucketLimit: 40 },
    ]);
    const planned = await runCli(['plan', '--url', db.url, '--config', good, '--json']);
    expect(planned.code, planned.stderr).toBe(0);
    const [a, b] = JSON.parse(planned.stdout);
    // 4 keys of 100 rows in pooled_a, all under 150: one pool of 10 buckets; pooled_b has none.
    expect(a.partitions.placement).toMatchObject({ pooledKeys: 4, poolBuckets: 10 });
    expect(b.partitions.placement).toBeUndefined();

    const before = await tablesSnapshot();
    for (const [file, extra, reason] of [
      [
        configFile([{ table: 'pooled_a', key: 'k', bucketLimit: 40, shareBelow: 0 }]),
        [],
        /target 1: "shareBelow" must be a whole number of rows, 1 or more .*got 0$/,
      ],
      [
        configFile([{ table: 'pooled_a', key: 'k', bucketLimit: 40, shareBelow: '1000' }]),
        [],
        /target 1: "shareBelow" must be a whole number of rows, 1 or more .*got "1000"$/,
      ],
      [
        good,
        ['--share-below', '10'],
        /--share-below sets every target's threshold, and .* gives public\.pooled_a its own "shareBelow": use one or the other$/,
      ],
    ] as const) {
      const refused = await runCli(['migrate', '--url', db.url, '--config', file, '--yes', ...extra]);
      expect(refused.code).not.toBe(0);
      const lines = refused.stderr.split('\n').filter((l) => l.startsWith('partwise:'));
      expect(lines, refused.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(reason);
    }
    expect(await tablesSnapshot()).toEqual(before);
  });

  it('refuses a table with NULL keys, counted by the plan even when statistics predate them', async () => {
    await db.query(`UPDATE plain SET tenant = NULL WHERE id <= 40`);
    await db.query(`ANALYZE plain`);
    const planned = await runCli([
      'plan',
      '--url',
      db.url,
      '--table',
      'plain',
      '--key',
      'tenant',
      // Whitespace around the number is trimmed, as in the app.
      '--bucket-limit',
      ' 50',
    ]);
    expect(planned.code).toBe(1);
    expect(planned.stdout).toContain('Plan for public.plain by tenant, at most 50 rows per bucket');
    // 400 rows are counted, not estimated.
    expect(planned.stdout).toMatch(/ 40 rows have no tenant \(NULL\)/);
    expect(planned.stdout).not.toMatch(/About/);
    expect(planned.stdout).toContain('UPDATE public.plain SET "tenant" = <a key value> WHERE "tenant" IS NULL;');
    // Statistics that predate the NULL do not see it; the count does, and nothing changes.
    await db.query(`UPDATE plain SET tenant = 1 WHERE tenant IS NULL`);
    await db.query(`ANALYZE plain`);
    await db.query(`UPDATE plain SET tenant = NULL WHERE id = 1`);
    const before = await tablesSnapshot();
    const migrated = await runCli([
      'migrate',
      '--url',
      db.url,
      '--table',
      'plain',
      '--key',
      'tenant',
      '--bucket-limit',
      '50',
      '--yes',
    ]);
    expect(migrated.code).toBe(1);
    expect(migrated.stderr).toMatch(
      /partwise: public\.plain cannot be migrated: 1 row has no tenant \(NULL\); every row needs a key/,
    );
    expect(await tablesSnapshot()).toEqual(before);
    expect(await db.query(`SELECT count(*)::int AS n FROM plain`)).toEqual([{ n: 400 }]);
    await db.query(`UPDATE plain SET tenant = 1 WHERE tenant IS NULL`);
  });

  it('throttles as --max-rate says, and says so', async () => {
    await db.query(`CREATE TABLE paced (id bigserial PRIMARY KEY, tenant int NOT NULL, note text)`);
    await db.query(`INSERT INTO paced (tenant, note) SELECT g % 3, 'n' FROM generate_series(1, 300) g`);
    const result = await runCli([
      'migrate',
      '--url',
      db.url,
      '--yes',
      '--table',
      'paced',
      '--key',
      'tenant',
      '--bucket-limit',
      '100',
      '--max-rate',
      '500',
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('copy and index builds throttled: reading at most 500 MB/s');
    const rollback = await runCli(['rollback', '--url', db.url, '--yes', '--run', '1', '--max-rate', '5']);
    expect(rollback.stderr).toMatch(/^partwise: --max-rate applies to migrate and resume only$/m);
    // Pause and continue name a running run; this one has ended.
    const [{ run }] = (await db.query<{ run: string }>(
      `SELECT max(run_id)::text AS run FROM partwise.migration_run`,
    )) as [{ run: string }];
    const pause = await runCli(['pause', '--url', db.url, '--run', run]);
    expect(pause.code).toBe(1);
    expect(pause.stderr).toContain(`Run ${run} has ended (succeeded); only a running run can be paused`);
  });

  it('migrates quoted names with spaces and key values with quotes, unicode and SQL-looking text', async () => {
    await db.query(`CREATE SCHEMA "My Schema"`);
    await db.query(
      `CREATE TABLE "My Schema"."My Table" ("Row Id" bigserial PRIMARY KEY, "Tenant Name" text NOT NULL, "Body" text)`,
    );
    const keys = ["O'Brien", 'Zoë 日本', "x'); DROP TABLE plain; --", '-1', ' spaced ', 'UPPER'];
    await db.query(
      `INSERT INTO "My Schema"."My Table" ("Tenant Name", "Body") SELECT k, 'b' || g FROM unnest($1::text[]) k, generate_series(1, 25) g`,
      [keys],
    );
    await db.query(`ANALYZE "My Schema"."My Table"`);
    const result = await runCli([
      'migrate',
      '--url',
      db.url,
      '--table',
      '"My Schema"."My Table"',
      '--key',
      '"Tenant Name"',
      '--bucket-limit',
      '10',
      '--yes',
    ]);
    expect(result.code, result.stderr + result.stdout).toBe(0);
    for (const key of keys) {
      expect(
        await db.query(`SELECT count(*)::int AS n FROM "My Schema"."My Table" WHERE "Tenant Name" = $1`, [key]),
      ).toEqual([{ n: 25 }]);
    }
    await db.query(`INSERT INTO "My Schema"."My Table" ("Tenant Name", "Body") VALUES ($1, 'after')`, ["O'Brien"]);
    expect(await db.query(`SELECT count(*)::int AS n FROM "My Schema"."My Table"`)).toEqual([
      { n: keys.length * 25 + 1 },
    ]);
    expect(await db.query(`SELECT to_regclass('plain') IS NOT NULL AS still_there`)).toEqual([{ still_there: true }]);
  });

  it("migrates several tables listed in a file in the original script's format, and prints JSON lines", async () => {
    await db.query(`CREATE TABLE first_t (id serial PRIMARY KEY, customer_id int NOT NULL)`);
    await db.query(`CREATE TABLE second_t (id serial PRIMARY KEY, cm_id int NOT NULL)`);
    await db.query(`INSERT INTO first_t (customer_id) SELECT g % 3 FROM generate_series(1, 90) g`);
    await db.query(`INSERT INTO second_t (cm_id) SELECT g % 2 FROM generate_series(1, 60) g`);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-cli-')), 'targets.txt');
    fs.writeFileSync(
      file,
      [
        '# Format: "table_name : partition_key_column : bucket_limit"',
        '"first_t : customer_id : 20"',
        'second_t : cm_id : 25',
        '# "other : user_id : 5"',
      ].join('\n'),
    );
    const result = await runCli(['migrate', '--url', db.url, '--config', file, '--yes', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ outcome: { status: 'succeeded' } });
    expect(lines.filter((l) => l.type === 'phase' && l.phase === 'done').map((l) => l.table)).toEqual([
      'public.first_t',
      'public.second_t',
    ]);
    expect(
      await db.query(
        `SELECT (SELECT relkind FROM pg_class WHERE oid = 'first_t'::regclass) AS a, (SELECT relkind FROM pg_class WHERE oid = 'second_t'::regclass) AS b`,
      ),
    ).toEqual([{ a: 'v', b: 'v' }]);
    const status = await runCli(['status', '--url', db.url, '--json']);
    expect(
      JSON.parse(status.stdout)[0].targets.map((t: { table: string; status: string }) => [t.table, t.status]),
    ).toEqual([
      ['first_t', 'done'],
      ['second_t', 'done'],
    ]);
    const runId = JSON.parse(status.stdout)[0].runId as number;
    const steps = JSON.parse(status.stdout)[0].steps as { targetNo: number; phase: string; lockMs: number | null }[];
    expect(steps.filter((s) => s.targetNo === 1).map((s) => s.phase)).toEqual([
      'prepare',
      'provision',
      'copy',
      'indexes',
      'catch_up',
      'cutover',
      'verify',
    ]);
    expect(steps.find((s) => s.phase === 'cutover')!.lockMs).toBeGreaterThanOrEqual(0);
    // The time per phase of one run, as text: each table's phases, the rows copied, the swap's lock.
    const text = await runCli(['status', '--url', db.url, '--run', String(runId)]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('time per phase:');
    expect(text.stdout).toMatch(/public\.first_t\s+copy\s+[\d.,]+ m?s\s+[\d,]+ rows/);
    expect(text.stdout).toMatch(/public\.second_t\s+cutover\s+[\d.,]+ m?s\s+locked [\d.,]+ m?s/);
    expect(text.stdout).toMatch(/\(migration [\d.,]+ m?s, table locked [\d.,]+ m?s in all\)/);
  });

  it('chooses per unique key how it stays enforced, from --unique or a config file', async () => {
    await db.query(`CREATE TABLE keyed (id int PRIMARY KEY, k int NOT NULL, code text CONSTRAINT "Code Key" UNIQUE)`);
    await db.query(`INSERT INTO keyed SELECT g, g % 3, 'c' || g FROM generate_series(1, 60) g`);
    const args = ['--url', db.url, '--table', 'keyed', '--key', 'k', '--bucket-limit', '10'];
    const plan = await runCli(['plan', ...args, '--unique', '"Code Key"=bucket', '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(
      JSON.parse(plan.stdout)[0].uniqueness.map((u: { name: string; enforcement: string }) => [u.name, u.enforcement]),
    ).toEqual([
      ['keyed_pkey', 'table'],
      ['Code Key', 'bucket'],
    ]);
    const text = await runCli(['plan', ...args, '--unique', 'KEYED_PKEY=bucket']);
    expect(text.stdout).toContain('keyed_pkey (id): unique per bucket only (chosen)');
    expect(text.stdout).toMatch(/"Code Key" \(code\): unique across the whole table \(registry, about \d+/);
    expect(text.stdout).toContain(`--unique '"Code Key"=bucket'`);
    for (const [choice, reason] of [
      ['keyed_pkey=always', /--unique: expected NAME=table or NAME=bucket, got "keyed_pkey=always"/],
      ['Code Key=table', /--unique: "Code Key" is not a valid name; quote it/],
      ['nothing=table', /has no primary key, unique constraint or unique index named nothing/],
    ] as const) {
      const refused = await runCli(['migrate', ...args, '--unique', choice, '--yes']);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(reason);
    }
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-cli-')), 'targets.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        targets: [{ table: 'keyed', key: 'k', bucketLimit: 10, uniqueness: { keyed_pkey: 'bucket' } }],
      }),
    );
    const migrated = await runCli(['migrate', '--url', db.url, '--config', file, '--yes']);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(
      await db.query(
        `SELECT constraint_name FROM partwise.unique_registry r JOIN partwise.partition_config c USING (config_id)
          WHERE c.table_name = 'keyed'`,
      ),
    ).toEqual([{ constraint_name: 'Code Key' }]);
    await db.query(`INSERT INTO keyed VALUES (1, 1, 'new')`);
    await expect(db.query(`INSERT INTO keyed VALUES (100, 1, 'c1')`)).rejects.toMatchObject({
      constraint: 'Code Key',
    });
  });

  it('refuses a second migration of a table that a run is migrating', async () => {
    await db.query(`CREATE TABLE contended (id bigserial PRIMARY KEY, k int NOT NULL)`);
    await db.query(`INSERT INTO contended (k) SELECT g % 5 FROM generate_series(1, 5000) g`);
    const first = await runCliUntil(
      ['migrate', '--url', db.url, '--table', 'contended', '--key', 'k', '--bucket-limit', '500', '--yes'],
      'copy:after-first-chunk',
    );
    try {
      const second = await runCli([
        'migrate',
        '--url',
        db.url,
        '--table',
        'contended',
        '--key',
        'k',
        '--bucket-limit',
        '500',
        '--yes',
      ]);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(
        /partwise: public\.contended cannot be migrated: Run \d+ is migrating public\.contended/,
      );
    } finally {
      await killHard(first, db.url);
    }
    const id = JSON.parse((await runCli(['status', '--url', db.url, '--json'])).stdout).find(
      (r: { targets: { table: string }[] }) => r.targets[0]!.table === 'contended',
    ).runId;
    const back = await runCli(['rollback', '--url', db.url, '--run', String(id), '--yes']);
    expect(back.code, back.stderr).toBe(0);
  });

  it('refreshes the routing view after a column change, and maintains a table', async () => {
    await db.query(`CREATE TABLE evolving (id bigserial PRIMARY KEY, k int NOT NULL, a text)`);
    await db.query(`INSERT INTO evolving (k, a) SELECT g % 3, 'a' FROM generate_series(1, 90) g`);
    const migrated = await runCli([
      'migrate',
      '--url',
      db.url,
      '--table',
      'evolving',
      '--key',
      'k',
      '--bucket-limit',
      '20',
      '--yes',
    ]);
    expect(migrated.code, migrated.stderr).toBe(0);
    await db.query(`ALTER TABLE evolving_partitioned ADD COLUMN b int NOT NULL DEFAULT 7`);
    const refreshed = await runCli(['refresh', '--url', db.url, '--table', 'evolving']);
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.stdout).toContain('Routing view of public.evolving rebuilt from evolving_partitioned.');
    expect(await db.query(`INSERT INTO evolving (k, a) VALUES (1, 'new') RETURNING b`)).toEqual([{ b: 7 }]);
    await db.query(`INSERT INTO evolving (k, a, b) VALUES (2, 'new', 9)`);
    expect(await db.query(`SELECT count(*)::int AS n FROM evolving WHERE b = 9`)).toEqual([{ n: 1 }]);

    const maintained = await runCli(['maintain', '--url', db.url, '--table', 'evolving', '--ahead', '0.5', '--json']);
    expect(maintained.code, maintained.stderr).toBe(0);
    const report = JSON.parse(maintained.stdout.trim().split('\n').at(-1)!);
    expect(report.keysChecked).toBe(3);
    expect(report.findings.map((f: { kind: string }) => f.kind)).toContain('created_ahead');
    const missing = await runCli(['maintain', '--url', db.url, '--table', 'nothing_here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('partwise: public.nothing_here is not managed by Partwise');
  });

  describe('a role that does not own the table, in a database where Partwise is installed', () => {
    // The database's owner (an ordinary role) installs Partwise in a schema of
    // its own and migrates its table; an application role, made by the
    // superuser, has the usual grants on the tables and nothing else.
    const tag = randomBytes(4).toString('hex');
    const schema = `pw_${tag}`;
    let owner: string;
    let app: TestRole;
    let runId: string;
    const target = (table: string): string[] => [
      '--table',
      `shop_${tag}.${table}`,
      '--key',
      'tenant',
      '--bucket-limit',
      '50',
    ];
    const lacksRights = (): string =>
      `Role ${app.name} lacks the rights of role ${owner}, which installed Partwise in schema ${schema}`;
    const grantMembership = (): string =>
      `Connect as ${owner}, or have a superuser (or a role with ADMIN OPTION on ${owner}) run: GRANT "${owner}" TO "${app.name}";`;
    const grantRead = (): string =>
      `GRANT USAGE ON SCHEMA "${schema}" TO "${app.name}"; GRANT SELECT ON ALL TABLES IN SCHEMA "${schema}" TO "${app.name}";`;
    const oneLine = (stderr: string): string => {
      const lines = stderr
        .trim()
        .split('\n')
        .filter((line) => line.startsWith('partwise:'));
      expect(lines, stderr).toHaveLength(1);
      return lines[0]!;
    };

    beforeAll(async () => {
      owner = db.owner;
      app = await db.createRole(`app_${tag}`);
      await db.query(`CREATE SCHEMA shop_${tag}`);
      await db.query(`CREATE TABLE shop_${tag}.orders (id bigserial PRIMARY KEY, tenant int NOT NULL)`);
      await db.query(`INSERT INTO shop_${tag}.orders (tenant) SELECT g % 3 FROM generate_series(1, 300) g`);
      await db.query(`CREATE TABLE shop_${tag}.events (id bigserial PRIMARY KEY, tenant int NOT NULL)`);
      await db.query(`GRANT USAGE ON SCHEMA shop_${tag} TO ${app.sql}`);
      await db.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA shop_${tag} TO ${app.sql}`);
      const migrated = await runCli([
        'migrate',
        '--url',
        db.url,
        '--schema',
        schema,
        ...target('orders'),
        '--yes',
        '--json',
      ]);
      expect(migrated.code, migrated.stderr).toBe(0);
      runId = String(JSON.parse(migrated.stdout.trim().split('\n').at(-1)!).outcome.runId);
    });

    it('plan and migrate say what it lacks and who can grant it', async () => {
      const plan = await runCli(['plan', '--url', app.url, '--schema', schema, ...target('events')]);
      expect(plan.code, plan.stderr).toBe(1);
      expect(plan.stderr).toBe('');
      expect(plan.stdout).toContain(lacksRights());
      expect(plan.stdout).toContain(`fix: ${grantMembership()}`);
      expect(plan.stdout).toContain(`Role ${app.name} does not own shop_${tag}.events (its owner is ${owner})`);
      expect(plan.stdout).not.toMatch(/permission denied/);

      const migrate = await runCli(['migrate', '--url', app.url, '--schema', schema, ...target('events'), '--yes']);
      expect(migrate.code).toBe(1);
      expect(oneLine(migrate.stderr)).toMatch(
        new RegExp(`^partwise: shop_${tag}\\.events cannot be migrated: ${lacksRights()}`),
      );
    });

    it.each(['rollback', 'finalize', 'resume', 'verify'])(
      '%s says what it lacks and who can grant it',
      async (command) => {
        const result = await runCli([command, '--url', app.url, '--schema', schema, '--run', runId, '--yes']);
        expect(result.code).toBe(1);
        expect(oneLine(result.stderr)).toBe(
          `partwise: ${lacksRights()} and owns its journal and functions: migrating, resuming, verifying, rolling back, finalizing and maintaining need them (${grantMembership()})`,
        );
      },
    );

    it('status names the grants it needs to read the journal, and they are the ones that work', async () => {
      const status = await runCli(['status', '--url', app.url, '--schema', schema]);
      expect(status.code).toBe(1);
      expect(oneLine(status.stderr)).toBe(
        `partwise: Role ${app.name} may not read Partwise's journal in schema ${schema}, which role ${owner} owns (${owner} or a superuser can grant it: ${grantRead()})`,
      );
      await db.query(grantRead());
      const readable = await runCli(['status', '--url', app.url, '--schema', schema, '--json']);
      expect(readable.code, readable.stderr).toBe(0);
      expect(JSON.parse(readable.stdout).map((r: { runId: number }) => String(r.runId))).toEqual([runId]);
    });

    it('membership in the owner, as the message says, lets it finalize', async () => {
      await db.admin.query(`GRANT ${ident(owner)} TO ${app.sql}`);
      const finalized = await runCli(['finalize', '--url', app.url, '--schema', schema, '--run', runId, '--yes']);
      expect(finalized.code, finalized.stderr).toBe(0);
    });
  });

  it('names who keeps the swap waiting, in its JSON lines', async () => {
    await db.query(`CREATE TABLE watched (id bigserial PRIMARY KEY, tenant int NOT NULL)`);
    await db.query(`INSERT INTO watched (tenant) SELECT g % 3 FROM generate_series(1, 600) g`);
    // A report reading the table in an open transaction: the swap must wait for it.
    const report = new pg.Client({ connectionString: db.url, application_name: 'monthly-report' });
    await report.connect();
    const reportPid = (await report.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await report.query('BEGIN');
    await report.query('SELECT count(*) FROM watched');
    const lines: Record<string, unknown>[] = [];
    let released = false;
    const result = await runCli(
      ['migrate', '--url', db.url, '--table', 'watched', '--key', 'tenant', '--bucket-limit', '100', '--yes', '--json'],
      {},
      (line) => {
        const event = JSON.parse(line) as Record<string, unknown>;
        lines.push(event);
        // Let the swap through once it has said who is in the way.
        if (event.blockers && !released) {
          released = true;
          void report.query('COMMIT').then(() => report.end());
        }
      },
    );
    if (!released) await report.end();
    expect(result.code, result.stderr).toBe(0);
    const waiting = lines.find((l) => l.blockers);
    expect(waiting).toMatchObject({
      type: 'log',
      level: 'warn',
      table: 'public.watched',
      blockers: [
        {
          pid: reportPid,
          applicationName: 'monthly-report',
          state: 'idle in transaction',
          query: 'SELECT count(*) FROM watched',
          autovacuum: false,
          modes: 'AccessShareLock',
        },
      ],
    });
    expect(waiting!.message).toContain(`in the way: pid ${reportPid} (application "monthly-report"`);
    expect(lines.at(-1)).toMatchObject({ outcome: { status: 'succeeded' } });
  });
});
