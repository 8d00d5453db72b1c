// The PostgreSQL behaviour that rules out the seed's design (a BEFORE INSERT
// trigger on the partitioned table), checked on the server under test, so that
// the choice of a routing view stays justified on every supported major.
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../testing/database.js';

const db = useTestDatabase('facts');

async function seedStyleTable(name: string): Promise<void> {
  await db.query(
    `CREATE TABLE ${name} (customer_id int NOT NULL, bucket_id int NOT NULL DEFAULT 0) PARTITION BY LIST (customer_id)`,
  );
  await db.query(`CREATE TABLE ${name}_1 PARTITION OF ${name} FOR VALUES IN (1) PARTITION BY LIST (bucket_id)`);
  await db.query(`CREATE TABLE ${name}_1_0 PARTITION OF ${name}_1 FOR VALUES IN (0)`);
  await db.query(`CREATE TABLE ${name}_1_1 PARTITION OF ${name}_1 FOR VALUES IN (1)`);
}

describe('why routing cannot be a BEFORE INSERT trigger on the partitioned table', () => {
  it('fails for a key that has no partition yet, before any trigger runs', async () => {
    await seedStyleTable('f1');
    await db.query(`CREATE FUNCTION f1_trigger() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`);
    await db.query(`CREATE TRIGGER t BEFORE INSERT ON f1 FOR EACH ROW EXECUTE FUNCTION f1_trigger()`);
    await expect(db.query('INSERT INTO f1 (customer_id) VALUES (2)')).rejects.toThrow(
      'no partition of relation "f1" found for row',
    );
  });

  it('may not change the bucket of the row it fires for, and sees the leaf as TG_TABLE_NAME', async () => {
    await seedStyleTable('f2');
    await db.query(`CREATE TABLE f2_seen (name text)`);
    await db.query(`CREATE FUNCTION f2_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO f2_seen VALUES (TG_TABLE_NAME); NEW.bucket_id := 1; RETURN NEW; END $$`);
    await db.query(`CREATE TRIGGER t BEFORE INSERT ON f2 FOR EACH ROW EXECUTE FUNCTION f2_trigger()`);
    await expect(db.query('INSERT INTO f2 (customer_id) VALUES (1)')).rejects.toThrow(
      'moving row to another partition during a BEFORE FOR EACH ROW trigger is not supported',
    );
    await db.query(`CREATE OR REPLACE FUNCTION f2_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO f2_seen VALUES (TG_TABLE_NAME); RETURN NEW; END $$`);
    await db.query('INSERT INTO f2 (customer_id) VALUES (1)');
    expect(await db.query('SELECT name FROM f2_seen')).toEqual([{ name: 'f2_1_0' }]);
  });

  it('cannot create a partition of the table its own INSERT is using', async () => {
    await seedStyleTable('f3');
    await db.query(`CREATE FUNCTION f3_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN EXECUTE 'CREATE TABLE f3_1_2 PARTITION OF f3_1 FOR VALUES IN (2)'; RETURN NEW; END $$`);
    await db.query(`CREATE TRIGGER t BEFORE INSERT ON f3 FOR EACH ROW EXECUTE FUNCTION f3_trigger()`);
    await expect(db.query('INSERT INTO f3 (customer_id) VALUES (1)')).rejects.toThrow(
      /cannot CREATE TABLE \.\. PARTITION OF "f3_1" because it is being used by active queries in this session/,
    );
  });

  it('takes ACCESS EXCLUSIVE on the parent for CREATE TABLE ... PARTITION OF, but only SHARE UPDATE EXCLUSIVE for ATTACH', async () => {
    await db.query('CREATE TABLE f4 (k int NOT NULL) PARTITION BY LIST (k)');
    const client = await db.connect();
    try {
      const parentLock = async (statement: string): Promise<string[]> => {
        await client.query('BEGIN');
        await client.query(statement);
        const { rows } = await client.query<{ mode: string }>(
          `SELECT mode FROM pg_locks WHERE relation = 'f4'::regclass AND pid = pg_backend_pid() ORDER BY mode`,
        );
        await client.query('ROLLBACK');
        return rows.map((r) => r.mode);
      };
      expect(await parentLock('CREATE TABLE f4_1 PARTITION OF f4 FOR VALUES IN (1)')).toContain('AccessExclusiveLock');
      await client.query('CREATE TABLE f4_2 (k int NOT NULL)');
      expect(await parentLock('ALTER TABLE f4 ATTACH PARTITION f4_2 FOR VALUES IN (2)')).toEqual([
        'ShareUpdateExclusiveLock',
      ]);
    } finally {
      await client.end();
    }
  });
});
