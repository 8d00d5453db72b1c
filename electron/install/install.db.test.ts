import { describe, expect, it } from 'vitest';
import { install, installedVersion, requireCurrentSql } from './install.js';
import { finalize, maintainTable, rollback, verifyRun } from '../engine/index.js';
import { runKeyAction } from '../engine/keys/run.js';
import { runCli } from '../testing/cli.js';
import { PARTWISE_VERSION } from '../version.js';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable } from '../testing/fixtures.js';

const db = useTestDatabase('install');

/**
 * CALL partwise.uninstall with a batch of `budget` relations while another
 * session reads `relation`: the batches before the one that drops its
 * triggers commit, then that one waits past lock_timeout and the call fails.
 */
async function uninstallStoppedAt(relation: string, configId: number, budget: number): Promise<void> {
  const blocker = await db.connect();
  const caller = await db.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query(`LOCK TABLE ${relation} IN ACCESS SHARE MODE`);
    await caller.query(`SET lock_timeout = '200ms'`);
    await expect(caller.query('CALL partwise.uninstall($1, $2)', [configId, budget])).rejects.toMatchObject({
      code: '55P03',
    });
    await blocker.query('COMMIT');
  } finally {
    await blocker.end();
    await caller.end();
  }
}

describe('installing the SQL infrastructure', () => {
  it('installs into its own schema, records its version, and is idempotent', async () => {
    const client = await db.connect();
    try {
      expect(await installedVersion(client)).toBeNull();
      const first = await install(client);
      expect(first.previousVersion).toBeNull();
      expect(first.appliedMigrations).toEqual([
        'migrations/0001_metadata.sql',
        'migrations/0002_maintenance.sql',
        'migrations/0003_journal.sql',
        'migrations/0004_migration_acceptance.sql',
        'migrations/0005_unique_registry.sql',
        'migrations/0006_key_actions.sql',
        'migrations/0007_run_pause.sql',
        'migrations/0008_key_move_compact.sql',
        'migrations/0009_key_pool.sql',
        'migrations/0010_pool_isolation.sql',
        'migrations/0011_carry_back_buckets.sql',
      ]);
      const second = await install(client);
      expect(first.functionsReplaced).toBe(true);
      expect(second).toEqual({
        schema: 'partwise',
        version: PARTWISE_VERSION,
        previousVersion: PARTWISE_VERSION,
        appliedMigrations: [],
        functionsReplaced: false,
      });
      expect(await installedVersion(client)).toBe(PARTWISE_VERSION);
      const tables = await client.query(
        `SELECT relname FROM pg_class WHERE relnamespace = 'partwise'::regnamespace AND relkind = 'r' ORDER BY 1`,
      );
      expect(tables.rows.map((r) => r.relname)).toEqual([
        'installation',
        'key_action',
        'key_pool',
        'maintenance_finding',
        'migration_acceptance',
        'migration_log',
        'migration_run',
        'migration_step',
        'migration_target',
        'partition_bucket',
        'partition_config',
        'partition_tracker',
        'pool_bucket',
        'retired_key',
        'schema_migrations',
        'unique_registry',
      ]);
    } finally {
      await client.end();
    }
  });

  it('installs into a configurable schema, side by side with another installation', async () => {
    const client = await db.connect();
    try {
      await install(client, 'ops_partwise');
      expect(await installedVersion(client, 'ops_partwise')).toBe(PARTWISE_VERSION);
      const { rows } = await client.query(`SELECT ops_partwise.level_one_name('t_k', '1') AS name`);
      expect(rows).toEqual([{ name: 't_k_1' }]);
    } finally {
      await client.end();
    }
  });

  it('refuses an install schema name it cannot substitute safely', async () => {
    const client = await db.connect();
    try {
      await expect(install(client, 'Bad"Schema')).rejects.toMatchObject({ kind: 'invalid_input' });
      await expect(install(client, 'a;b')).rejects.toMatchObject({ kind: 'invalid_input' });
    } finally {
      await client.end();
    }
  });

  it('leaves a current installation untouched, so that a reader of its tables does not hold it up', async () => {
    const installer = await db.connect();
    const reader = await db.connect();
    try {
      await install(installer, 'current');
      await reader.query('BEGIN');
      await reader.query('SELECT version FROM current.installation');
      await installer.query(`SET lock_timeout = '500ms'`);
      expect(await install(installer, 'current')).toMatchObject({ functionsReplaced: false, appliedMigrations: [] });
    } finally {
      await reader.query('ROLLBACK');
      await reader.end();
      await installer.end();
    }
  });

  it('upgrades an older installation: the missing migration, the functions and the version', async () => {
    const client = await db.connect();
    try {
      await install(client, 'older');
      // What the previous release left: no unique registries (0005), an older
      // routing function, no checksums yet.
      await client.query(`DROP TABLE older.unique_registry CASCADE`);
      await client.query(`DELETE FROM older.schema_migrations WHERE name = 'migrations/0005_unique_registry.sql'`);
      await client.query(`UPDATE older.schema_migrations SET checksum = NULL`);
      await client.query(`UPDATE older.installation SET version = '0.0.9', sql_checksum = NULL`);
      await client.query(
        `CREATE OR REPLACE FUNCTION older.level_one_name(p_name_stem text, p_key_value text) RETURNS name LANGUAGE sql AS 'SELECT ''stale'''`,
      );

      const upgrade = await install(client, 'older');
      expect(upgrade).toMatchObject({
        previousVersion: '0.0.9',
        version: PARTWISE_VERSION,
        appliedMigrations: ['migrations/0005_unique_registry.sql'],
        functionsReplaced: true,
      });
      expect((await client.query(`SELECT older.level_one_name('t_k', '1') AS name`)).rows).toEqual([{ name: 't_k_1' }]);
      expect((await client.query(`SELECT to_regclass('older.unique_registry') IS NOT NULL AS present`)).rows).toEqual([
        { present: true },
      ]);
      expect(
        (await client.query(`SELECT count(*)::int AS n FROM older.schema_migrations WHERE checksum IS NULL`)).rows,
      ).toEqual([{ n: 0 }]);
    } finally {
      await client.end();
    }
  });

  it('refuses to overwrite a newer installation, and changes nothing', async () => {
    const client = await db.connect();
    try {
      await install(client, 'newer');
      await client.query(`UPDATE newer.installation SET version = '99.1.0'`);
      await client.query(
        `CREATE OR REPLACE FUNCTION newer.level_one_name(p_name_stem text, p_key_value text) RETURNS name LANGUAGE sql AS 'SELECT ''from 99.1.0'''`,
      );
      await expect(install(client, 'newer')).rejects.toMatchObject({
        kind: 'blocked',
        message: expect.stringContaining(
          `holds the SQL of Partwise 99.1.0 (a later version); this is Partwise ${PARTWISE_VERSION}`,
        ),
        hint: expect.stringContaining('Use Partwise 99.1.0 or later'),
      });
      expect((await client.query(`SELECT newer.level_one_name('t_k', '1') AS name`)).rows).toEqual([
        { name: 'from 99.1.0' },
      ]);
      expect(await installedVersion(client, 'newer')).toBe('99.1.0');

      // The same version number, but a migration this build does not have: newer too.
      await client.query(`UPDATE newer.installation SET version = $1`, [PARTWISE_VERSION]);
      await client.query(
        `INSERT INTO newer.schema_migrations (name, checksum) VALUES ('migrations/0999_later.sql', 'x')`,
      );
      await expect(install(client, 'newer')).rejects.toMatchObject({
        kind: 'blocked',
        message: expect.stringContaining('migrations/0999_later.sql applied, not part of this version'),
      });
      expect((await client.query(`SELECT newer.level_one_name('t_k', '1') AS name`)).rows).toEqual([
        { name: 'from 99.1.0' },
      ]);
    } finally {
      await client.end();
    }
  });

  it('refuses a released migration that was edited after it was applied', async () => {
    const client = await db.connect();
    try {
      await install(client, 'edited');
      await client.query(
        `UPDATE edited.schema_migrations SET checksum = 'applied from other text' WHERE name = 'migrations/0003_journal.sql'`,
      );
      await expect(install(client, 'edited')).rejects.toMatchObject({
        kind: 'blocked',
        message: expect.stringContaining('sql/migrations/0003_journal.sql differs from the file applied'),
      });
    } finally {
      await client.end();
    }
  });

  it('re-creates the functions when their SQL changed under the same version', async () => {
    const client = await db.connect();
    try {
      await install(client, 'changed');
      await client.query(`UPDATE changed.installation SET sql_checksum = 'an earlier build'`);
      await client.query(
        `CREATE OR REPLACE FUNCTION changed.level_one_name(p_name_stem text, p_key_value text) RETURNS name LANGUAGE sql AS 'SELECT ''stale'''`,
      );
      expect(await install(client, 'changed')).toMatchObject({ functionsReplaced: true, appliedMigrations: [] });
      expect((await client.query(`SELECT changed.level_one_name('t_k', '1') AS name`)).rows).toEqual([
        { name: 't_k_1' },
      ]);
    } finally {
      await client.end();
    }
  });

  it('refuses to verify with SQL of another version, naming `partwise install`, which upgrades it', async () => {
    const client = await db.connect();
    try {
      await install(client, 'stale');
      await client.query(`UPDATE stale.installation SET version = '0.0.9'`);
      await expect(verifyRun(db.pool, 424242, { installSchema: 'stale' })).rejects.toMatchObject({
        kind: 'blocked',
        message: expect.stringContaining(`holds the SQL of Partwise 0.0.9; this is Partwise ${PARTWISE_VERSION}`),
        hint: expect.stringContaining('partwise install --schema stale'),
      });
      await client.query(`UPDATE stale.installation SET version = $1, sql_checksum = 'another build'`, [
        PARTWISE_VERSION,
      ]);
      await expect(requireCurrentSql(db.pool, 'stale')).rejects.toMatchObject({
        kind: 'blocked',
        message: expect.stringContaining('from another build'),
      });

      const upgrade = await runCli(['install', '--url', db.url, '--schema', 'stale']);
      expect(upgrade.stderr).toBe('');
      expect(upgrade.stdout).toBe(
        `Partwise ${PARTWISE_VERSION} installed in schema stale (over ${PARTWISE_VERSION}; functions re-created)\n`,
      );
      expect(upgrade.code).toBe(0);
      await expect(verifyRun(db.pool, 424242, { installSchema: 'stale' })).rejects.toMatchObject({
        kind: 'not_found',
      });
    } finally {
      await client.end();
    }
  });

  it('upgrades an older installation before rolling back or finalizing, and refuses a newer one', async () => {
    const client = await db.connect();
    try {
      await install(client, 'undo');
      await client.query(`UPDATE undo.installation SET version = '0.0.9'`);
      await expect(rollback(db.pool, 424242, { installSchema: 'undo' })).rejects.toMatchObject({ kind: 'not_found' });
      expect(await installedVersion(client, 'undo')).toBe(PARTWISE_VERSION);
      await client.query(`UPDATE undo.installation SET version = '99.0.0'`);
      await expect(finalize(db.pool, 424242, { installSchema: 'undo' })).rejects.toMatchObject({
        kind: 'blocked',
        message: expect.stringContaining('holds the SQL of Partwise 99.0.0'),
      });
    } finally {
      await client.end();
    }
  });

  it('rolls back completely when the role may not create the schema, naming the privilege', async () => {
    const weakRole = await db.createRole('weak');
    const weak = await weakRole.connect();
    try {
      await db.query(`REVOKE CREATE ON DATABASE ${db.name} FROM PUBLIC`);
      await expect(install(weak, 'weak_schema')).rejects.toMatchObject({
        kind: 'privilege',
        message: expect.stringContaining('permission denied for database'),
      });
      expect(await db.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'weak_schema'`)).toEqual([]);
    } finally {
      await weak.end();
    }
  });
});

describe('bad input to the routing functions', () => {
  it('gives clear errors for an unmanaged table and a bucket limit that is not a positive integer', async () => {
    await expect(db.query(`SELECT partwise.config_for('public', 'nothing_here')`)).rejects.toMatchObject({
      code: '42704',
      message: 'partwise: table public.nothing_here is not managed by Partwise',
    });
    await db.query('CREATE TABLE bad_p (k int NOT NULL, bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (k)');
    for (const limit of [0, -1]) {
      await expect(
        db.query(`SELECT partwise.configure_table('public', 'bad', 'bad_p', 'k', $1)`, [limit]),
      ).rejects.toMatchObject({
        code: '22023',
        message: `partwise: bucket limit must be a positive integer, got ${limit}`,
      });
    }
    await expect(
      db.query(`SELECT partwise.configure_table('public', 'bad', 'bad_p', 'k', $1)`, ['abc']),
    ).rejects.toMatchObject({
      code: '22P02',
    });
    await expect(
      db.query(`SELECT partwise.configure_table('public', 'bad', 'bad_p', 'nope', 5)`),
    ).rejects.toMatchObject({
      message: 'partwise: public.bad_p is not LIST-partitioned by nope',
    });
    await db.query('CREATE TABLE plain_t (k int)');
    await expect(
      db.query(`SELECT partwise.configure_table('public', 'plain', 'plain_t', 'k', 5)`),
    ).rejects.toMatchObject({
      message: 'partwise: public.plain_t is not LIST-partitioned by k',
    });
    expect(await db.query('SELECT count(*)::int AS n FROM partwise.partition_config')).toEqual([{ n: 0 }]);
  });

  it('names the missing privilege when the role may not create partitions', async () => {
    await db.query('CREATE SCHEMA locked_down');
    await db.query(
      'CREATE TABLE locked_down.t_p (k int NOT NULL, bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (k)',
    );
    const tenantAdmin = await db.createRole('tenant_admin');
    await db.query(`GRANT USAGE ON SCHEMA locked_down, partwise TO ${tenantAdmin.sql}`);
    await db.query(`GRANT ALL ON ALL TABLES IN SCHEMA partwise TO ${tenantAdmin.sql}`);
    // Partwise's functions are not executable by PUBLIC: a role delegated to run them is granted them.
    await db.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA partwise TO ${tenantAdmin.sql}`);
    const client = await tenantAdmin.connect();
    try {
      await expect(
        client.query(`SELECT partwise.configure_table('locked_down', 't', 't_p', 'k', 5)`),
      ).rejects.toMatchObject({
        code: '42501',
        message: `partwise: role ${tenantAdmin.name} lacks the CREATE privilege on schema locked_down, needed to create partitions`,
      });
    } finally {
      await client.end();
    }
  });

  it('uninstalls one table and keeps every row', async () => {
    const t = await createRoutedTable(db, { table: 'leaving', bucketLimit: 2 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g % 3, 'r' || g FROM generate_series(1, 10) g`);
    await db.query('CALL partwise.uninstall($1)', [t.configId]);
    // The partitioned table has the application's name again, with every row.
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'public.leaving'::regclass`)).toEqual([
      { relkind: 'p' },
    ]);
    expect(await db.query('SELECT count(*)::int AS n FROM public.leaving')).toEqual([{ n: 10 }]);
    expect(
      await db.query('SELECT count(*)::int AS n FROM partwise.partition_tracker WHERE config_id = $1', [t.configId]),
    ).toEqual([{ n: 0 }]);
    expect(
      await db.query(`SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'ticket\\_%' AND relkind = 'S'`),
    ).toEqual([{ n: 0 }]);
  });

  it('uninstalls a group of keys per transaction; interrupted, leaves the table unmanaged with every row, and finishes when called again', async () => {
    const t = await createRoutedTable(db, { table: 'halfway', bucketLimit: 2 });
    // 6 keys of 2 buckets: each key's guard with its clones on 3 relations.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g % 6, 'r' || g FROM generate_series(1, 24) g`);
    const guards = `SELECT count(*) FILTER (WHERE t.tgparentid = 0)::int AS own, count(*)::int AS all
                      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                     WHERE t.tgname = 'partwise_key_guard' AND c.relname LIKE 'halfway%'`;
    // On the level-1 partitions, not the partitioned table: each can go alone.
    expect(await db.query(guards)).toEqual([{ own: 6, all: 18 }]);
    const sequences = await db.query<{ seq: string }>(
      'SELECT ticket_sequence::text AS seq FROM partwise.partition_tracker WHERE config_id = $1 AND ticket_sequence IS NOT NULL',
      [t.configId],
    );
    expect(sequences).toHaveLength(6);
    const [last] = await db.query<{ level_one: string; key: string }>(
      `SELECT level_one_partition::text AS level_one, key_value AS key FROM partwise.partition_tracker
        WHERE config_id = $1 ORDER BY level_one_partition DESC LIMIT 1`,
      [t.configId],
    );

    // Another session reads the key whose guard goes last: with a batch of 3
    // relations (one key), the first five keys' guards are dropped and
    // committed, then the sixth waits past lock_timeout and the call fails.
    await uninstallStoppedAt(last!.level_one, t.configId, 3);
    // Routing stopped in the first transaction: the table has its name and
    // every row, and is still listed until the job is done.
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'public.halfway'::regclass`)).toEqual([
      { relkind: 'p' },
    ]);
    expect(await db.query('SELECT count(*)::int AS n FROM public.halfway')).toEqual([{ n: 24 }]);
    expect(await db.query(guards)).toEqual([{ own: 1, all: 3 }]);
    expect(await db.query('SELECT mode FROM partwise.partition_config WHERE config_id = $1', [t.configId])).toEqual([
      { mode: 'building' },
    ]);
    // The key still guarded refuses a change of key (which, unguarded, would
    // move its rows into another key's bucket), as under Partwise.
    const key = Number(last!.key);
    await expect(
      db.query(`UPDATE public.halfway SET customer_id = $2 WHERE customer_id = $1`, [key, (key + 1) % 6]),
    ).rejects.toMatchObject({ code: '0A000' });

    // Nothing acts on the half-uninstalled table but the uninstall: each
    // refusal names the CALL that finishes it.
    const finish = new RegExp(
      `was interrupted .*Finish it with CALL partwise\\.uninstall\\(${t.configId}\\) again\\.$`,
    );
    const table = { schema: 'public', name: 'halfway' };
    await expect(maintainTable(db.pool, t.configId, { installSchema: 'partwise', ahead: 0.8 })).rejects.toThrow(finish);
    await expect(runKeyAction(db.pool, table, last!.key, 'detach', {}, { installSchema: 'partwise' })).rejects.toThrow(
      finish,
    );
    for (const sql of [
      'CALL partwise.maintain($1)',
      `SELECT * FROM partwise.maintain_key($1, '1')`,
      `SELECT partwise.provision_key($1, '100', 10)`,
      `SELECT partwise.key_begin($1, '1', 'detach')`,
      `SELECT * FROM partwise.key_isolate_switch($1, '1')`,
      `SELECT * FROM partwise.key_share_switch($1, '1')`,
      'SELECT partwise.share_small_keys($1, 10)',
      'SELECT partwise.install_routing($1)',
    ])
      await expect(db.query(sql, [t.configId]), sql).rejects.toThrow(finish);
    expect(await db.query(guards)).toEqual([{ own: 1, all: 3 }]);

    await db.query('CALL partwise.uninstall($1)', [t.configId]);
    expect(await db.query(guards)).toEqual([{ own: 0, all: 0 }]);
    expect(await db.query('SELECT count(*)::int AS n FROM public.halfway')).toEqual([{ n: 24 }]);
    expect(
      await db.query('SELECT count(*)::int AS n FROM partwise.partition_config WHERE config_id = $1', [t.configId]),
    ).toEqual([{ n: 0 }]);
    expect(
      await db.query('SELECT count(*)::int AS n FROM unnest($1::text[]) s WHERE to_regclass(s) IS NOT NULL', [
        sequences.map((s) => s.seq),
      ]),
    ).toEqual([{ n: 0 }]);
  });

  it("drops the pool's key guards a group of leaves per transaction: each pool leaf has its own", async () => {
    const t = await createRoutedTable(db, { table: 'pooled', bucketLimit: 2 });
    await db.query('SELECT partwise.share_small_keys($1, 100)', [t.configId]);
    // 5 pooled keys, 10 rows: 5 pool buckets of 2, no key partition.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g % 5, 'r' || g FROM generate_series(1, 10) g`);
    const guards = `SELECT c.relkind::text AS kind, count(*) FILTER (WHERE t.tgparentid = 0)::int AS own,
                           count(*)::int AS all
                      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                     WHERE t.tgname = 'partwise_key_guard' AND c.relname LIKE 'pooled%' GROUP BY 1 ORDER BY 1`;
    // On each leaf ('r'), none on the pool ('p'): a guard on the pool would go
    // with its clone on every pool leaf, in one transaction.
    expect(await db.query(guards)).toEqual([{ kind: 'r', own: 5, all: 5 }]);
    const [last] = await db.query<{ leaf: string }>(
      `SELECT leaf_partition::text AS leaf FROM partwise.pool_bucket WHERE config_id = $1
        ORDER BY leaf_partition DESC LIMIT 1`,
      [t.configId],
    );
    // With a batch of 2 relations, the leaves before the one another session
    // reads lose their guard, committed, before the call fails on it.
    await uninstallStoppedAt(last!.leaf, t.configId, 2);
    expect(await db.query(guards)).toEqual([{ kind: 'r', own: 1, all: 1 }]);
    await db.query('CALL partwise.uninstall($1)', [t.configId]);
    expect(await db.query(guards)).toEqual([]);
    expect(await db.query('SELECT count(*)::int AS n FROM public.pooled')).toEqual([{ n: 10 }]);
  });

  it('keeps the key guard on the pool of a table installed by an earlier version, and uninstalls it', async () => {
    const t = await createRoutedTable(db, { table: 'legacy', bucketLimit: 2 });
    await db.query('SELECT partwise.share_small_keys($1, 100)', [t.configId]);
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g % 3, 'r' || g FROM generate_series(1, 4) g`);
    // As an earlier version made it: the guard on the pool, clones on its leaves.
    const [pool] = await db.query<{ pool: string }>(
      'SELECT pool_partition::text AS pool FROM partwise.key_pool WHERE config_id = $1',
      [t.configId],
    );
    const leaves = await db.query<{ leaf: string }>(
      'SELECT leaf_partition::text AS leaf FROM partwise.pool_bucket WHERE config_id = $1',
      [t.configId],
    );
    for (const { leaf } of leaves) await db.query(`DROP TRIGGER partwise_key_guard ON ${leaf}`);
    await db.query(
      `CREATE TRIGGER partwise_key_guard BEFORE UPDATE OF customer_id ON ${pool!.pool} FOR EACH ROW
        WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id)
        EXECUTE FUNCTION partwise.reject_key_change('customer_id', 'public.legacy')`,
    );
    const guards = `SELECT c.relkind::text AS kind, count(*) FILTER (WHERE t.tgparentid = 0)::int AS own,
                           count(*)::int AS all
                      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
                     WHERE t.tgname = 'partwise_key_guard' AND c.relname LIKE 'legacy%' GROUP BY 1 ORDER BY 1`;
    // A new pool bucket gets the clone, and no guard of its own beside it.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (7, 'new'), (8, 'new')`);
    expect(await db.query(guards)).toEqual([
      { kind: 'p', own: 1, all: 1 },
      { kind: 'r', own: 0, all: 3 },
    ]);
    await db.query('SELECT partwise.install_routing($1)', [t.configId]);
    expect(await db.query(guards)).toEqual([
      { kind: 'p', own: 1, all: 1 },
      { kind: 'r', own: 0, all: 3 },
    ]);
    await expect(db.query(`UPDATE ${t.view} SET customer_id = 9 WHERE customer_id = 7`)).rejects.toMatchObject({
      code: '0A000',
    });
    await db.query('CALL partwise.uninstall($1, 2)', [t.configId]);
    expect(await db.query(guards)).toEqual([]);
    expect(await db.query('SELECT count(*)::int AS n FROM public.legacy')).toEqual([{ n: 6 }]);
  });

  /** A registry keeping id unique across the table, and one keeping payload unique (deferrable), installed as at the swap. */
  async function addRegistries(configId: number, table: string, install = true): Promise<void> {
    for (const [key, deferrable] of [
      ['id', false],
      ['payload', true],
    ] as const) {
      const name = `${table}_${key}_key`;
      await db.query(
        `SELECT partwise.create_unique_registry($1, $2, $3, $2, ARRAY[$4]::name[], ARRAY['id']::name[], false, $5, false)`,
        [configId, name, `${name}_registry`, key, deferrable],
      );
      await db.query('SELECT partwise.index_unique_registry($1, $2)', [configId, name]);
    }
    if (install) await db.query('SELECT partwise.install_unique_triggers($1, true)', [configId]);
  }

  /** Each trigger of the registries by name and the kind of relation it sits on: own ones, and all with the clones. */
  const registryTriggers = (table: string) =>
    db.query(
      `SELECT t.tgname::text AS name, c.relkind::text AS kind, c.relispartition AS partition,
              count(*) FILTER (WHERE t.tgparentid = 0)::int AS own, count(*)::int AS all
         FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE t.tgname LIKE 'partwise_unique%' AND c.relname LIKE $1 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`,
      [`${table}%`],
    );

  it("drops a unique registry's row triggers a group of partitions per transaction: each level-1 partition and pool leaf has its own", async () => {
    const t = await createRoutedTable(db, { table: 'registered', bucketLimit: 2 });
    await addRegistries(t.configId, 'registered');
    // 3 keys of their own (3 leaves each), made after the registries: each
    // level-1 partition gets the row trigger as it is made, its leaves the clones.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g % 3, 'r' || g FROM generate_series(1, 18) g`);
    // 2 pooled keys in 2 pool buckets of 2 rows.
    await db.query('SELECT partwise.share_small_keys($1, 100)', [t.configId]);
    await db.query(
      `INSERT INTO ${t.view} (customer_id, payload) SELECT 10 + g % 2, 'p' || g FROM generate_series(1, 4) g`,
    );
    // The row trigger on each level-1 partition ('p', a partition) and pool
    // leaf ('r' beside the key leaves' clones), none on the partitioned table
    // or the pool; the statement triggers on the partitioned table alone
    // (PostgreSQL does not clone them).
    expect(await registryTriggers('registered')).toEqual([
      { name: 'partwise_unique', kind: 'p', partition: true, own: 3, all: 3 },
      { name: 'partwise_unique', kind: 'r', partition: true, own: 2, all: 11 },
      { name: 'partwise_unique_deferred_delete', kind: 'p', partition: false, own: 1, all: 1 },
      { name: 'partwise_unique_deferred_insert', kind: 'p', partition: false, own: 1, all: 1 },
      { name: 'partwise_unique_deferred_update', kind: 'p', partition: false, own: 1, all: 1 },
      { name: 'partwise_unique_truncate', kind: 'p', partition: false, own: 1, all: 1 },
    ]);
    // Enforced across keys and the pool, as the clones of one trigger were.
    const [row] = await db.query<{ id: string }>(`SELECT id::text FROM ${t.root} WHERE customer_id = 10 LIMIT 1`);
    for (const key of [1, 11])
      await expect(
        db.query(`INSERT INTO ${t.view} (id, customer_id, payload) VALUES ($1, $2, 'again')`, [row!.id, key]),
      ).rejects.toMatchObject({ code: '23505', constraint: 'registered_id_key' });
    const [last] = await db.query<{ relation: string }>(
      'SELECT relation::text FROM partwise.guarded_partitions($1) ORDER BY relation DESC LIMIT 1',
      [t.configId],
    );
    // With a batch of 2 relations, every partition before the one another
    // session reads loses its triggers, committed, before the call fails on it.
    await uninstallStoppedAt(last!.relation, t.configId, 2);
    expect(await registryTriggers('registered')).toEqual([
      { name: 'partwise_unique', kind: 'r', partition: true, own: 1, all: 1 },
      { name: 'partwise_unique_deferred_delete', kind: 'p', partition: false, own: 1, all: 1 },
      { name: 'partwise_unique_deferred_insert', kind: 'p', partition: false, own: 1, all: 1 },
      { name: 'partwise_unique_deferred_update', kind: 'p', partition: false, own: 1, all: 1 },
      { name: 'partwise_unique_truncate', kind: 'p', partition: false, own: 1, all: 1 },
    ]);
    // Half way, the registries enforce nothing (the end state), rather than
    // refuse a value whose row left a partition no longer watched: the row
    // trigger left does nothing.
    await db.query(`DELETE FROM public.registered WHERE id = $1`, [row!.id]);
    await db.query(`INSERT INTO public.registered (id, customer_id, payload, bucket_id) VALUES ($1, 10, 'p1', 0)`, [
      row!.id,
    ]);
    await db.query('CALL partwise.uninstall($1)', [t.configId]);
    expect(await registryTriggers('registered')).toEqual([]);
    expect(
      await db.query(
        `SELECT count(*)::int AS n FROM pg_proc WHERE pronamespace = 'partwise'::regnamespace AND proname LIKE 'unique\\_%\\_' || $1`,
        [t.configId],
      ),
    ).toEqual([{ n: 0 }]);
    expect(await db.query(`SELECT to_regclass('partwise.registered_id_key_registry') AS r`)).toEqual([{ r: null }]);
    expect(await db.query('SELECT count(*)::int AS n FROM public.registered')).toEqual([{ n: 22 }]);
  });

  it('keeps the row trigger of a registry installed by an earlier version on the partitioned table, and uninstalls it', async () => {
    const t = await createRoutedTable(db, { table: 'oldreg', bucketLimit: 2 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g % 2, 'r' || g FROM generate_series(1, 4) g`);
    await addRegistries(t.configId, 'oldreg');
    // As an earlier version made it: the row trigger on the partitioned table, clones on every partition.
    const level = await db.query<{ relation: string }>(
      `SELECT i.inhrelid::regclass::text AS relation FROM pg_inherits i WHERE i.inhparent = $1::regclass`,
      [t.root],
    );
    for (const { relation } of level) await db.query(`DROP TRIGGER partwise_unique ON ${relation}`);
    await db.query(
      `CREATE TRIGGER partwise_unique AFTER INSERT OR UPDATE OF id OR DELETE ON ${t.root}
        FOR EACH ROW EXECUTE FUNCTION partwise.unique_check_${t.configId}()`,
    );
    // A new key's partition gets the clone, and no trigger of its own beside it.
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) VALUES (7, 'new')`);
    await db.query('SELECT partwise.install_unique_triggers($1, true)', [t.configId]);
    const rowTriggers = (await registryTriggers('oldreg')).filter((r) => r.name === 'partwise_unique');
    expect(rowTriggers).toEqual([
      { name: 'partwise_unique', kind: 'p', partition: false, own: 1, all: 1 },
      { name: 'partwise_unique', kind: 'p', partition: true, own: 0, all: 3 },
      { name: 'partwise_unique', kind: 'r', partition: true, own: 0, all: 3 },
    ]);
    const [row] = await db.query<{ id: string }>(`SELECT id::text FROM ${t.root} WHERE customer_id = 7`);
    await expect(
      db.query(`INSERT INTO ${t.view} (id, customer_id, payload) VALUES ($1, 1, 'again')`, [row!.id]),
    ).rejects.toMatchObject({ code: '23505' });
    await db.query('CALL partwise.uninstall($1, 2)', [t.configId]);
    expect(await registryTriggers('oldreg')).toEqual([]);
    expect(await db.query('SELECT count(*)::int AS n FROM public.oldreg')).toEqual([{ n: 5 }]);
  });

  it('passes over a partition whose locks are busy (as autovacuum holds them) when placing the row trigger with a lock timeout', async () => {
    const t = await createRoutedTable(db, { table: 'busyplace', bucketLimit: 2 });
    await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT g % 3, 'r' || g FROM generate_series(1, 6) g`);
    await addRegistries(t.configId, 'busyplace', false);
    // Made before the row function existed: the three partitions lack the trigger.
    await db.query('SELECT partwise.install_unique_triggers($1, false)', [t.configId]);
    const missing = async () =>
      (
        await db.query<{ relation: string }>(
          `SELECT relation::text FROM partwise.unique_trigger_missing($1) ORDER BY 1`,
          [t.configId],
        )
      ).map((r) => r.relation);
    expect(await missing()).toEqual(['busyplace_customer_id_0', 'busyplace_customer_id_1', 'busyplace_customer_id_2']);
    const vacuum = await db.connect();
    try {
      // What autovacuum takes on a leaf it works on.
      await vacuum.query('BEGIN');
      await vacuum.query('LOCK TABLE busyplace_customer_id_1_bucket_id_0 IN SHARE UPDATE EXCLUSIVE MODE');
      const place = `SELECT partwise.place_unique_triggers($1, NULL, '100ms') AS n`;
      expect(await db.query(place, [t.configId])).toEqual([{ n: 2 }]);
      expect(await missing()).toEqual(['busyplace_customer_id_1']);
      await vacuum.query('COMMIT');
      expect(await db.query(place, [t.configId])).toEqual([{ n: 1 }]);
      expect(await missing()).toEqual([]);
      expect(await db.query(place, [t.configId])).toEqual([{ n: 0 }]);
    } finally {
      await vacuum.end();
    }
  });

  it('gives the row trigger to a level-1 partition made while the registries are installed, whichever commits first', async () => {
    const waitingFor = async (query: string) => {
      for (;;) {
        const found = await db.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
          [`${query}%`],
        );
        if (found.length > 0) return;
      }
    };
    for (const first of ['install', 'partition'] as const) {
      const t = await createRoutedTable(db, { table: `racing_${first}`, bucketLimit: 2 });
      await addRegistries(t.configId, `racing_${first}`, false);
      const ownRowTrigger = async () =>
        db.query(
          `SELECT count(*)::int AS n FROM pg_trigger g JOIN partwise.partition_tracker t ON t.level_one_partition = g.tgrelid
            WHERE t.config_id = $1 AND t.key_value = '1' AND g.tgname = 'partwise_unique' AND g.tgparentid = 0`,
          [t.configId],
        );
      const install = 'SELECT partwise.install_unique_triggers($1, false)';
      const insert = `INSERT INTO ${t.view} (customer_id, payload) VALUES (1, 'one')`;
      const maker = await db.connect();
      const installer = await db.connect();
      try {
        if (first === 'install') {
          // The install holds the partitioned table (SHARE ROW EXCLUSIVE, for
          // its statement triggers) until it commits: key 1's partition, made
          // after, sees the row function and gets the trigger as it is made.
          await installer.query('BEGIN');
          await installer.query(install, [t.configId]);
          const making = maker.query(insert);
          await waitingFor('INSERT INTO');
          await installer.query('COMMIT');
          await making;
          expect(await ownRowTrigger(), first).toEqual([{ n: 1 }]);
        } else {
          // Key 1's partition, made before the row function exists, commits
          // while the install waits for it: the groups placed after give it the trigger.
          await maker.query('BEGIN');
          await maker.query(insert);
          const installing = installer.query(install, [t.configId]);
          await waitingFor('SELECT partwise.install_unique_triggers');
          await maker.query('COMMIT');
          await installing;
          expect(await ownRowTrigger(), first).toEqual([{ n: 0 }]);
          while (
            (await db.query<{ n: number }>('SELECT partwise.place_unique_triggers($1, 2) AS n', [t.configId]))[0]!.n
          );
          expect(await ownRowTrigger(), first).toEqual([{ n: 1 }]);
        }
      } finally {
        await maker.end();
        await installer.end();
      }
      await db.query('SELECT partwise.install_unique_triggers($1, true)', [t.configId]);
      // Key 1's rows are registered: an id new to the table, taken again under another key.
      await db.query(`INSERT INTO ${t.view} (id, customer_id, payload) VALUES (1000, 1, 'x')`);
      await expect(
        db.query(`INSERT INTO ${t.view} (id, customer_id, payload) VALUES (1000, 2, 'y')`),
        first,
      ).rejects.toMatchObject({ code: '23505', constraint: `racing_${first}_id_key` });
    }
  });
});
