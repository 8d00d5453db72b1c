// Every grant a role had on a table works the same after the swap, and after
// a rollback, with no extra step: table-level INSERT only, column-level
// SELECT and INSERT, SELECT/INSERT/UPDATE/DELETE, a NOINHERIT member using
// SET ROLE. A role granted INSERT after the migration just inserts; a role
// whose INSERT is revoked is refused. And a role with no rights can do
// nothing through Partwise's schema, which every role may look into.
import { describe, expect, it, beforeAll } from 'vitest';
import type pg from 'pg';
import { migrate, rollback } from '../index.js';
import { useTestDatabase, type TestRole } from '../../testing/database.js';
import { installPartwise } from '../../testing/fixtures.js';

const db = useTestDatabase('privileges');

type RoleName = 'inserter' | 'columns' | 'crud' | 'member' | 'late' | 'late2' | 'revoked' | 'nobody';
const roles = {} as Record<RoleName, TestRole>;

beforeAll(async () => {
  await installPartwise(db);
  for (const name of ['inserter', 'columns', 'crud', 'late', 'late2', 'revoked', 'nobody'] as const) {
    roles[name] = await db.createRole(name);
  }
  roles.member = await db.createRole('member', 'NOINHERIT');
  await db.admin.query(`GRANT ${roles.crud.sql} TO ${roles.member.sql}`);

  await db.query(`
    CREATE TABLE notes (
      id bigserial PRIMARY KEY,
      seq bigint GENERATED ALWAYS AS IDENTITY,
      k int NOT NULL,
      title text NOT NULL CHECK (title <> ''),
      note text,
      written_by name NOT NULL DEFAULT current_user)`);
  await db.query(`INSERT INTO notes (k, title) SELECT g % 4, 'seed ' || g FROM generate_series(1, 40) g`);
  // An audit trigger that reads current_user, as applications' do.
  await db.query(`CREATE TABLE audit (who name NOT NULL, note_id bigint NOT NULL)`);
  await db.query(`GRANT INSERT ON audit TO PUBLIC`);
  await db.query(`CREATE FUNCTION audit_note() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN INSERT INTO public.audit VALUES (current_user, NEW.id); RETURN NULL; END $$`);
  await db.query(`CREATE TRIGGER audited AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION audit_note()`);

  const seq = 'SEQUENCE notes_id_seq';
  await db.query(`GRANT INSERT ON notes TO ${roles.inserter.sql}; GRANT USAGE ON ${seq} TO ${roles.inserter.sql}`);
  await db.query(
    `GRANT SELECT (id, seq, k, title), INSERT (k, title) ON notes TO ${roles.columns.sql}; GRANT USAGE ON ${seq} TO ${roles.columns.sql}`,
  );
  await db.query(
    `GRANT SELECT, INSERT, UPDATE, DELETE ON notes TO ${roles.crud.sql}; GRANT USAGE ON ${seq} TO ${roles.crud.sql}`,
  );
  await db.query(
    `GRANT SELECT, INSERT ON notes TO ${roles.revoked.sql}; GRANT USAGE ON ${seq} TO ${roles.revoked.sql}`,
  );
});

type Outcome = 'ok' | string;

/** Runs one statement as a role: 'ok', or the SQLSTATE it failed with. */
async function attempt(
  role: RoleName,
  sql: string,
  check?: (rows: Record<string, unknown>[]) => Promise<void>,
  setRole?: RoleName,
): Promise<Outcome> {
  const client: pg.Client = await roles[role].connect();
  try {
    if (setRole) await client.query(`SET ROLE ${roles[setRole].sql}`);
    const { rows } = await client.query(sql);
    await check?.(rows);
    return 'ok';
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (!code) throw error;
    return code;
  } finally {
    await client.end();
  }
}

/** The stored row of an id, read by the owner. */
async function stored(id: unknown): Promise<Record<string, unknown>> {
  const [row] = await db.query(`SELECT id, seq, k, title, note, written_by FROM notes WHERE id = $1`, [id]);
  return row!;
}

/** The same statements, in each phase; new keys (10+) make routed inserts create partitions. */
async function outcomes(phase: number): Promise<Record<string, Outcome>> {
  const key = 10 + phase * 10;
  const result: Record<string, Outcome> = {};
  result['inserter: INSERT'] = await attempt('inserter', `INSERT INTO notes (k, title) VALUES (${key}, 'i')`);
  result['inserter: INSERT naming every insertable column'] = await attempt(
    'inserter',
    `INSERT INTO notes (k, title, note) VALUES (${key + 1}, 'i', 'n')`,
  );
  result['inserter: INSERT ... RETURNING'] = await attempt(
    'inserter',
    `INSERT INTO notes (k, title) VALUES (${key}, 'i') RETURNING id`,
  );
  result['inserter: SELECT'] = await attempt('inserter', `SELECT title FROM notes LIMIT 1`);
  result['columns: INSERT of granted columns'] = await attempt(
    'columns',
    `INSERT INTO notes (k, title) VALUES (${key + 2}, 'c')`,
  );
  result['columns: INSERT ... RETURNING readable columns'] = await attempt(
    'columns',
    `INSERT INTO notes (k, title) VALUES (${key + 2}, 'c') RETURNING id, seq, k, title`,
    async (rows) => {
      // Serial and identity values come back as stored, not as the view saw them.
      const row = await stored(rows[0]!.id);
      expect(rows[0]).toEqual({ id: row.id, seq: row.seq, k: key + 2, title: 'c' });
      expect(row.written_by).toBe(roles.columns.name);
    },
  );
  result['columns: INSERT of a column not granted'] = await attempt(
    'columns',
    `INSERT INTO notes (k, title, note) VALUES (${key + 2}, 'c', 'n')`,
  );
  result['columns: RETURNING a column not readable'] = await attempt(
    'columns',
    `INSERT INTO notes (k, title) VALUES (${key + 2}, 'c') RETURNING *`,
  );
  result['columns: SELECT a readable column'] = await attempt('columns', `SELECT title FROM notes LIMIT 1`);
  result['columns: SELECT a column not readable'] = await attempt('columns', `SELECT note FROM notes LIMIT 1`);
  result['crud: INSERT ... RETURNING *'] = await attempt(
    'crud',
    `INSERT INTO notes (k, title, note) VALUES (${key + 3}, 'r', 'n') RETURNING *`,
    async (rows) => {
      expect(rows[0]).toEqual(await stored(rows[0]!.id));
      expect(rows[0]!.written_by).toBe(roles.crud.name);
    },
  );
  result['crud: UPDATE ... RETURNING'] = await attempt(
    'crud',
    `UPDATE notes SET note = 'u' WHERE k = ${key + 3} RETURNING note`,
  );
  result['crud: DELETE'] = await attempt('crud', `DELETE FROM notes WHERE k = ${key + 3} AND note = 'u'`);
  result['crud: CHECK violation'] = await attempt('crud', `INSERT INTO notes (k, title) VALUES (${key}, '')`);
  result['member without SET ROLE: INSERT'] = await attempt(
    'member',
    `INSERT INTO notes (k, title) VALUES (${key}, 'm')`,
  );
  result['member with SET ROLE: INSERT'] = await attempt(
    'member',
    `INSERT INTO notes (k, title) VALUES (${key + 4}, 'm') RETURNING written_by`,
    async (rows) => expect(rows).toEqual([{ written_by: roles.crud.name }]),
    'crud',
  );
  result['nobody: INSERT'] = await attempt('nobody', `INSERT INTO notes (k, title) VALUES (${key}, 'x')`);
  return result;
}

describe('grants after the swap', () => {
  it('work exactly as on the original table, table-level and per column, and after a rollback', async () => {
    const before = await outcomes(0);
    expect(before).toMatchObject({
      'inserter: INSERT': 'ok',
      'inserter: INSERT ... RETURNING': '42501',
      'columns: INSERT ... RETURNING readable columns': 'ok',
      'columns: INSERT of a column not granted': '42501',
      'crud: CHECK violation': '23514',
      'member without SET ROLE: INSERT': '42501',
      'member with SET ROLE: INSERT': 'ok',
    });

    const outcome = await migrate(db.pool, [{ schema: 'public', table: 'notes', keyColumn: 'k', bucketLimit: 3 }]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(await outcomes(1)).toEqual(before);
    // Triggers saw the inserting roles, as before.
    const audited = await db.query<{ who: string }>(`SELECT DISTINCT who FROM audit ORDER BY 1`);
    expect(audited.map((a) => a.who).sort()).toEqual([roles.columns.name, roles.crud.name, roles.inserter.name].sort());
    // Column grants stayed column grants: the view still refuses what the
    // role could not do, and the partitioned table got column grants only.
    expect(
      await db.query(
        `SELECT has_table_privilege($1, 'notes', 'INSERT') AS view_table,
                has_column_privilege($1, 'notes', 'note', 'INSERT') AS view_note,
                has_table_privilege($1, 'notes_partitioned', 'INSERT') AS parted_table,
                has_column_privilege($1, 'notes_partitioned', 'bucket_id', 'INSERT') AS parted_bucket,
                has_column_privilege($1, 'notes_partitioned', 'note', 'SELECT') AS parted_note_read`,
        [roles.columns.name],
      ),
    ).toEqual([
      { view_table: false, view_note: false, parted_table: false, parted_bucket: true, parted_note_read: false },
    ]);

    const rolledBack = await rollback(db.pool, outcome.runId);
    expect(rolledBack.status, rolledBack.message).toBe('rolled_back');
    expect(await outcomes(2)).toEqual(before);
  });

  it('lets a role granted INSERT after the migration insert at once, also from concurrent sessions', async () => {
    await db.query(
      `CREATE TABLE later (id bigserial PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, k int NOT NULL, title text)`,
    );
    await db.query(`INSERT INTO later (k, title) SELECT g % 3, 'seed' FROM generate_series(1, 9) g`);
    const outcome = await migrate(db.pool, [{ schema: 'public', table: 'later', keyColumn: 'k', bucketLimit: 5 }]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(await attempt('late', `INSERT INTO later (k, title) VALUES (1, 'x')`)).toBe('42501');

    // A plain GRANT, and nothing else.
    await db.query(
      `GRANT SELECT, INSERT ON later TO ${roles.late.sql}; GRANT USAGE ON SEQUENCE later_id_seq TO ${roles.late.sql}`,
    );
    expect(
      await attempt(
        'late',
        `INSERT INTO later (k, title) VALUES (1, 'x'), (50, 'new key') RETURNING id, k`,
        async (rows) => {
          expect(rows.map((r) => r.k)).toEqual([1, 50]);
        },
      ),
    ).toBe('ok');

    // Two sessions of another newly granted role, their first inserts in
    // open transactions: the second waits for the first to commit the
    // grants, then goes on.
    await db.query(
      `GRANT INSERT ON later TO ${roles.late2.sql}; GRANT USAGE ON SEQUENCE later_id_seq TO ${roles.late2.sql}`,
    );
    const first = await roles.late2.connect();
    const second = await roles.late2.connect();
    try {
      await first.query('BEGIN');
      await second.query('BEGIN');
      await first.query(`INSERT INTO later (k, title) VALUES (2, 'first')`);
      const secondInsert = second.query(`INSERT INTO later (k, title) VALUES (2, 'second')`);
      await waitUntilWaiting(roles.late2.name, 'advisory');
      await first.query('COMMIT');
      await secondInsert;
      await second.query('COMMIT');
    } finally {
      await first.end();
      await second.end();
    }
    expect(await db.query(`SELECT title FROM later WHERE title IN ('first', 'second') ORDER BY 1`)).toEqual([
      { title: 'first' },
      { title: 'second' },
    ]);
    // Granted SELECT later on, the same role gets back the values the table
    // drew (the identity), not what the view passed in.
    await db.query(`GRANT SELECT ON later TO ${roles.late2.sql}`);
    expect(
      await attempt('late2', `INSERT INTO later (k, title) VALUES (2, 'third') RETURNING id, seq`, async (rows) => {
        const [row] = await db.query(`SELECT id, seq FROM later WHERE title = 'third'`);
        expect(rows).toEqual([row]);
        expect(rows[0]!.seq).not.toBeNull();
      }),
    ).toBe('ok');
  });

  it('refuses a role whose INSERT was revoked after the migration, and withdraws its bucket rights on sync', async () => {
    expect(await attempt('revoked', `INSERT INTO notes (k, title) VALUES (1, 'r')`)).toBe('ok');
    const outcome = await migrate(db.pool, [{ schema: 'public', table: 'notes', keyColumn: 'k', bucketLimit: 3 }]);
    expect(outcome.status, outcome.message).toBe('succeeded');
    expect(await attempt('revoked', `INSERT INTO notes (k, title) VALUES (1, 'r') RETURNING id`)).toBe('ok');
    await db.query(`REVOKE INSERT ON notes FROM ${roles.revoked.sql}`);
    expect(await attempt('revoked', `INSERT INTO notes (k, title) VALUES (1, 'r')`)).toBe('42501');
    expect(await attempt('revoked', `SELECT title FROM notes WHERE k = 1 LIMIT 1`)).toBe('ok');
    const [{ id }] = (await db.query<{ id: number }>(
      `SELECT config_id AS id FROM partwise.partition_config WHERE table_name = 'notes'`,
    )) as [{ id: number }];
    expect(await attempt('revoked', `SELECT * FROM partwise.take_bucket_${id}('1')`)).toBe('ok');
    await db.query(`SELECT partwise.sync_grants('public', 'notes')`);
    expect(await attempt('revoked', `SELECT * FROM partwise.take_bucket_${id}('1')`)).toBe('42501');
    expect(await attempt('inserter', `INSERT INTO notes (k, title) VALUES (1, 'still')`)).toBe('ok');
  });

  it('gives a role without rights nothing through Partwise schema', async () => {
    const [{ id }] = (await db.query<{ id: number }>(
      `SELECT config_id AS id FROM partwise.partition_config WHERE table_name = 'notes'`,
    )) as [{ id: number }];
    const [{ sequence }] = (await db.query<{ sequence: string }>(
      `SELECT ticket_sequence::text AS sequence FROM partwise.partition_tracker WHERE config_id = $1 AND ticket_sequence IS NOT NULL LIMIT 1`,
      [id],
    )) as [{ sequence: string }];
    const partitions = async (): Promise<unknown> =>
      db.query(`SELECT count(*)::int AS n FROM pg_partition_tree('notes_partitioned')`);
    const grants = async (): Promise<unknown> =>
      db.query(
        `SELECT (SELECT relacl::text FROM pg_class WHERE oid = 'notes_partitioned'::regclass) AS parted,
                (SELECT proacl::text FROM pg_proc WHERE oid = $1::regprocedure) AS take`,
        [`partwise.take_bucket_${id}(text)`],
      );
    const partitionsBefore = await partitions();
    const grantsBefore = await grants();
    const refused = [
      `SELECT * FROM partwise.partition_config`,
      `SELECT * FROM partwise.partition_tracker`,
      `SELECT * FROM partwise.tracker_status`,
      `SELECT * FROM partwise.migration_target`,
      `SELECT * FROM partwise.take_bucket_${id}('99')`,
      `SELECT * FROM partwise.assign_bucket(${id}, '99')`,
      `SELECT * FROM partwise.ensure_key(${id}, '99')`,
      `SELECT partwise.provision_key(${id}, '99', 10)`,
      `SELECT partwise.create_partition('public', 'notes_partitioned', 'x', '', '99', 'bucket_id', true)`,
      `SELECT partwise.grant_routing(${id})`,
      `SELECT partwise.sync_grants('public', 'notes')`,
      `SELECT partwise.install_routing(${id})`,
      `CALL partwise.uninstall(${id})`,
      `SELECT nextval('${sequence}')`,
      `INSERT INTO notes (k, title) VALUES (99, 'x')`,
      `INSERT INTO notes_partitioned (k, title, bucket_id) VALUES (1, 'x', 0)`,
    ];
    for (const sql of refused) expect(await attempt('nobody', sql), sql).toBe('42501');
    // What it may run changes nothing for it, and reveals nothing.
    expect(await attempt('nobody', `SELECT partwise.sync_grants_${id}()`)).toBe('ok');
    expect(
      await attempt('nobody', `SELECT partwise.violation_detail('notes'::regclass, NULL::notes) AS d`, async (rows) =>
        expect(rows).toEqual([{ d: null }]),
      ),
    ).toBe('ok');
    expect(await attempt('nobody', `INSERT INTO notes (k, title) VALUES (99, 'x')`)).toBe('42501');
    expect(await partitions()).toEqual(partitionsBefore);
    expect(await grants()).toEqual(grantsBefore);
  });
});

/** Waits until a session of the role waits on a lock of the given type (bounded by the test timeout). */
async function waitUntilWaiting(role: string, lockType: string): Promise<void> {
  for (;;) {
    const rows = await db.query(
      `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1 AND l.locktype = $2 AND NOT l.granted`,
      [role, lockType],
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
