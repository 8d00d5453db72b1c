// The journal is read as data from the past: a run recorded by the previous
// format is rolled back from what it recorded; a row of a later format, or a
// row that does not hold what it should, is refused with a reason before
// anything acts on it.
import { beforeAll, describe, expect, it } from 'vitest';
import { Journal, migrate, rollback } from './index.js';
import { JOURNAL_FORMAT } from './journal-format.js';
import { useTestDatabase } from '../testing/database.js';
import { installPartwise } from '../testing/fixtures.js';

const db = useTestDatabase('journal');
const journal = new Journal('partwise');

beforeAll(async () => {
  await installPartwise(db);
});

async function migrated(name: string): Promise<number> {
  await db.query(
    `CREATE TABLE ${name} (id bigserial PRIMARY KEY, customer_id int NOT NULL, payload text);
     CREATE VIEW ${name}_recent AS SELECT id, payload FROM ${name} WHERE id > 10;
     INSERT INTO ${name} (customer_id, payload) SELECT g % 4 + 1, 'row ' || g FROM generate_series(1, 400) g;
     ANALYZE ${name}`,
  );
  const outcome = await migrate(db.pool, [
    { schema: 'public', table: name, keyColumn: 'customer_id', bucketLimit: 50 },
  ]);
  expect(outcome.status, outcome.message).toBe('succeeded');
  return outcome.runId;
}

async function savedOf(runId: number): Promise<Record<string, unknown>> {
  const [row] = await db.query<{ saved: Record<string, unknown> }>(
    `SELECT saved FROM partwise.migration_target WHERE run_id = $1`,
    [runId],
  );
  return row!.saved;
}

describe('the journal read back', () => {
  it('writes the current format with every target', async () => {
    const runId = await migrated('current_format');
    expect(await savedOf(runId)).toMatchObject({ format: JOURNAL_FORMAT });
  });

  it('rolls back a run whose journal was written in the previous format', async () => {
    const runId = await migrated('previous_format');
    // Format 1: what Partwise wrote before the journal had a format.
    await db.query(`UPDATE partwise.migration_target SET saved = saved - 'format' WHERE run_id = $1`, [runId]);
    await db.query(`UPDATE partwise.migration_run SET partwise_version = '0.1.0' WHERE run_id = $1`, [runId]);
    const [target] = await journal.targets(db.pool, runId);
    expect(target!.saved.format).toBe(JOURNAL_FORMAT);
    expect(target!.saved.views).toEqual([
      expect.objectContaining({ schema: 'public', name: 'previous_format_recent' }),
    ]);

    const back = await rollback(db.pool, runId);
    expect(back.status, back.message).toBe('rolled_back');
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'previous_format'::regclass`)).toEqual([
      { relkind: 'r' },
    ]);
    expect(await db.query(`SELECT count(*)::int AS n FROM previous_format_recent`)).toEqual([{ n: 390 }]);
  });

  it('refuses a run recorded in a later format, naming the version that wrote it', async () => {
    const runId = await migrated('later_format');
    await db.query(
      `UPDATE partwise.migration_target SET saved = jsonb_set(saved, '{format}', to_jsonb($2::int)) WHERE run_id = $1`,
      [runId, JOURNAL_FORMAT + 1],
    );
    await db.query(`UPDATE partwise.migration_run SET partwise_version = '9.0.0' WHERE run_id = $1`, [runId]);
    await expect(journal.targets(db.pool, runId)).rejects.toMatchObject({
      kind: 'blocked',
      message: expect.stringContaining('by Partwise 9.0.0 in format'),
    });
    await expect(rollback(db.pool, runId)).rejects.toMatchObject({ kind: 'blocked' });
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'later_format'::regclass`)).toEqual([
      { relkind: 'v' },
    ]);
  });

  it('refuses saved definitions that do not hold what they should, before acting on them', async () => {
    const runId = await migrated('damaged_row');
    await db.query(
      `UPDATE partwise.migration_target SET saved = jsonb_set(saved, '{views}', '"x"') WHERE run_id = $1`,
      [runId],
    );
    await expect(rollback(db.pool, runId)).rejects.toMatchObject({
      kind: 'internal',
      message: expect.stringContaining('views'),
    });
    expect(await db.query(`SELECT relkind FROM pg_class WHERE oid = 'damaged_row'::regclass`)).toEqual([
      { relkind: 'v' },
    ]);
  });
});
