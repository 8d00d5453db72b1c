// The Explorer reads a database whose Partwise predates key actions (nothing
// has upgraded it yet: reading never installs): every key is active and none
// was dropped, rather than an error about a missing column.
import { beforeAll, expect, it } from 'vitest';
import { useTestDatabase } from '../../testing/database.js';
import { createRoutedTable, installPartwise } from '../../testing/fixtures.js';
import { partitionTree } from '../explorer.js';

const db = useTestDatabase('keys_older');

beforeAll(async () => {
  await installPartwise(db);
});

it('shows the tree of an installation without migration 0006', async () => {
  const t = await createRoutedTable(db, { table: 'older_keys', bucketLimit: 10 });
  await db.query(`INSERT INTO ${t.view} (customer_id, payload) SELECT 1 + g % 2, 'p' FROM generate_series(1, 30) g`);
  // What the previous release left.
  await db.query(`DROP TABLE partwise.retired_key, partwise.key_action`);
  await db.query(
    `ALTER TABLE partwise.partition_tracker DROP COLUMN state, DROP COLUMN state_changed_at, DROP COLUMN bucket_limit`,
  );
  const tree = await partitionTree(db.pool, 'partwise', t.configId, false);
  expect(tree.levelOne.map((k) => [k.keyValue, k.state, k.bucketLimit])).toEqual([
    ['1', 'active', null],
    ['2', 'active', null],
  ]);
  expect(tree.retired).toEqual([]);
});
