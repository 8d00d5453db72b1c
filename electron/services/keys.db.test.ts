// Key actions through the dispatcher the app uses, against a real database:
// the plan, the action, the tree showing the key's state without anything
// else refreshed, the export file, and bad input refused at the boundary or
// by the engine with nothing changed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyActionEntry, KeyActionResult, KeyPlan, KeyProgressEvent } from '../../shared/keys.js';
import { KeyJournal } from '../engine/keys/journal.js';
import { findManagedTable } from '../engine/maintain.js';
import type { PartitionTree } from '../../shared/explorer.js';
import { createDispatcher } from './dispatch.js';
import { createHandlers, type ConnectionHandlers } from './handlers.js';
import type { ServiceContext } from './context.js';
import { useTestDatabase } from '../testing/database.js';
import { createRoutedTable, installPartwise, type RoutedTable } from '../testing/fixtures.js';
import { resultOf } from '../testing/envelope.js';
import { testPools } from '../testing/pools.js';
import { createTablespace, revokeTablespace } from '../testing/tablespace.js';

const db = useTestDatabase('keys_services');
let dispatch: ReturnType<typeof createDispatcher>;
let t: RoutedTable;
const progress: KeyProgressEvent[] = [];

async function call<T>(command: string, input: unknown): Promise<T> {
  return resultOf<T>(await dispatch(command, input));
}

beforeAll(async () => {
  const context: ServiceContext = {
    pools: testPools(db),
    emit: (event, payload) => {
      if (event === 'keys.progress') progress.push(payload as KeyProgressEvent);
    },
    onShutdown: () => undefined,
    installSchema: 'partwise',
  };
  dispatch = createDispatcher(createHandlers(context, {} as ConnectionHandlers));
  await installPartwise(db);
  t = await createRoutedTable(db, { table: 'accounts', bucketLimit: 10 });
  await db.query(
    `INSERT INTO ${t.view} (customer_id, payload) SELECT 1 + g % 4, 'p' || g FROM generate_series(1, 80) g`,
  );
});

describe('keys.plan and keys.run', () => {
  it('plans, detaches, attaches and drops keys; the tree shows each state', async () => {
    const base = { connectionId: 'main', configId: t.configId, options: {} };
    const plans = await call<KeyPlan[]>('keys.plan', { ...base, action: 'drop', keyValues: ['1', '2'] });
    expect(plans.map((p) => [p.keyValue, p.rows, p.rowsExact, p.state])).toEqual([
      ['1', 20, true, 'active'],
      ['2', 20, true, 'active'],
    ]);
    expect(plans[0]!.bytes).toBeGreaterThan(0);

    const detached = await call<KeyActionResult[]>('keys.run', { ...base, action: 'detach', keyValues: ['1'] });
    expect(detached).toMatchObject([{ keyValue: '1', state: 'detached', changed: true }]);
    const dropped = await call<KeyActionResult[]>('keys.run', {
      ...base,
      action: 'drop',
      keyValues: ['2'],
      options: { onInsert: 'refuse' },
    });
    expect(dropped).toMatchObject([{ keyValue: '2', state: 'retired', rows: 20 }]);

    const tree = await call<PartitionTree>('explorer.tree', { connectionId: 'main', configId: t.configId });
    expect(tree.levelOne.map((k) => [k.keyValue, k.state])).toEqual([
      ['1', 'detached'],
      ['3', 'active'],
      ['4', 'active'],
    ]);
    expect(tree.retired).toMatchObject([{ keyValue: '2', onInsert: 'refuse', rowsDropped: 20 }]);

    await call('keys.run', { ...base, action: 'attach', keyValues: ['1'] });
    const after = await call<PartitionTree>('explorer.tree', { connectionId: 'main', configId: t.configId });
    expect(after.levelOne.find((k) => k.keyValue === '1')!.state).toBe('active');
  });

  it('exports a key to a file', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-keys-'));
    const out = path.join(dir, 'key-3.csv');
    const [result] = await call<KeyActionResult[]>('keys.run', {
      connectionId: 'main',
      configId: t.configId,
      action: 'export',
      keyValues: ['3'],
      options: { format: 'csv' },
      out,
    });
    expect(result).toMatchObject({ rows: 20, bytes: fs.statSync(out).size });
    expect(fs.readFileSync(out, 'utf8').split('\n')[0]).toBe('id,customer_id,payload');
    fs.rmSync(dir, { recursive: true });
  });

  it('refuses bad input with its kind, and changes nothing', async () => {
    const base = { connectionId: 'main', configId: t.configId, options: {} };
    await expect(call('keys.run', { ...base, action: 'detach', keyValues: ['99'] })).rejects.toMatchObject({
      kind: 'not_found',
      message: 'public.accounts has no key 99 (customer_id = 99 has no partition)',
    });
    await expect(call('keys.run', { ...base, action: 'shred', keyValues: ['3'] })).rejects.toMatchObject({
      kind: 'invalid_input',
    });
    await expect(call('keys.run', { ...base, action: 'detach', keyValues: [] })).rejects.toMatchObject({
      kind: 'invalid_input',
    });
    await expect(
      call('keys.run', { ...base, action: 'export', keyValues: ['3'], out: 'relative.csv' }),
    ).rejects.toMatchObject({ kind: 'invalid_input', message: 'an export needs an absolute file path' });
    await expect(
      call('keys.run', { ...base, action: 'export', keyValues: ['3'], out: '/nonexistent/dir/k.csv' }),
    ).rejects.toMatchObject({
      kind: 'invalid_input',
      message: expect.stringContaining('cannot write /nonexistent/dir/k.csv'),
    });
    await expect(call('keys.plan', { ...base, configId: 999, action: 'drop', keyValues: ['3'] })).rejects.toMatchObject(
      {
        kind: 'not_found',
      },
    );
    const tree = await call<PartitionTree>('explorer.tree', { connectionId: 'main', configId: t.configId });
    expect(tree.levelOne.find((k) => k.keyValue === '3')).toMatchObject({ state: 'active' });
  });
});

describe('progress and the save dialog', () => {
  it('pushes the progress of each key of a request, an export ending at the bytes written', async () => {
    const wide = await createRoutedTable(db, { table: 'wide_rows', bucketLimit: 100_000 });
    await db.query(
      `INSERT INTO ${wide.view} (customer_id, payload) SELECT 1 + g % 2, repeat('x', 1000) FROM generate_series(1, 6000) g`,
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partwise-keys-'));
    const out = path.join(dir, 'key-1.csv');
    progress.length = 0;
    await call('keys.run', {
      connectionId: 'main',
      configId: wide.configId,
      action: 'export',
      keyValues: ['1'],
      options: { format: 'csv' },
      out,
    });
    const size = fs.statSync(out).size;
    expect(size).toBeGreaterThan(2 * 1024 * 1024);
    expect(progress[0]).toEqual({
      connectionId: 'main',
      configId: wide.configId,
      action: 'export',
      keyValue: '1',
      position: 1,
      of: 1,
      progress: { step: 'export key 1' },
    });
    expect(progress.at(-1)!.progress).toEqual({ step: 'exporting key 1', done: size, total: size, unit: 'bytes' });
    const written = progress.flatMap((e) => (e.progress.done === undefined ? [] : [e.progress.done]));
    expect(written).toEqual([...written].sort((a, b) => a - b));
    fs.rmSync(dir, { recursive: true });

    progress.length = 0;
    await call('keys.run', {
      connectionId: 'main',
      configId: wide.configId,
      action: 'analyze',
      keyValues: ['1', '2'],
      options: {},
    });
    expect(
      progress.filter((e) => e.progress.step.startsWith('analyze key')).map((e) => [e.keyValue, e.position, e.of]),
    ).toEqual([
      ['1', 1, 2],
      ['2', 2, 2],
    ]);
  });

  it("answers with the shell's save dialog where there is one, and says to type the path where there is none", async () => {
    await expect(call('files.chooseSavePath', { suggestedName: 'accounts-3.csv' })).rejects.toMatchObject({
      kind: 'invalid_input',
      message: expect.stringContaining('type the full path of the file'),
    });
    const asked: string[] = [];
    const withDialog = createDispatcher(
      createHandlers(
        {
          pools: testPools(db),
          emit: () => undefined,
          onShutdown: () => undefined,
          installSchema: 'partwise',
          // Electron's dialog.showSaveDialog in the desktop app (electron/main/main.ts).
          chooseSavePath: async (name) => {
            asked.push(name);
            return name === 'cancel.csv' ? null : path.join('/chosen', name);
          },
        },
        {} as ConnectionHandlers,
      ),
    );
    // A suggestion is a file name: a path in it does not steer the dialog.
    expect(
      await resultOf(await withDialog('files.chooseSavePath', { suggestedName: '../../etc/accounts-3.csv' })),
    ).toEqual({
      path: '/chosen/accounts-3.csv',
    });
    expect(await resultOf(await withDialog('files.chooseSavePath', { suggestedName: 'cancel.csv' }))).toEqual({
      path: null,
    });
    const withDialogAnswer = await withDialog('files.chooseSavePath', { suggestedName: '' });
    expect(asked).toEqual(['accounts-3.csv', 'cancel.csv']);
    expect(() => resultOf(withDialogAnswer)).toThrow('suggestedName');
  });
});

describe('keys.history', () => {
  it('lists the actions on keys newest first with their outcome; a running one whose process is gone is interrupted', async () => {
    const listed = await call<KeyActionEntry[]>('keys.history', { connectionId: 'main' });
    expect(listed.length).toBeGreaterThan(3);
    expect(listed.map((e) => e.actionId)).toEqual([...listed.map((e) => e.actionId)].sort((a, b) => b - a));
    const drop = listed.find((e) => e.action === 'drop' && e.table === 'accounts');
    expect(drop).toMatchObject({
      schema: 'public',
      keyValue: '2',
      status: 'succeeded',
      rows: 20,
      startedBy: db.owner,
      error: null,
    });
    expect(drop!.bytes).toBeGreaterThan(0);
    expect(Date.parse(drop!.finishedAt!)).toBeGreaterThanOrEqual(Date.parse(drop!.startedAt));
    // Refused before it started (a key that does not exist): nothing journaled.
    expect(listed.some((e) => e.keyValue === '99')).toBe(false);

    // A process that started an action on key 4 and is still at it...
    const worker = await db.pool.connect();
    const config = await findManagedTable(worker, 'partwise', { schema: 'public', name: 'accounts' });
    const actionId = await new KeyJournal('partwise', worker).start(config, '4', 'vacuum', {});
    const running = await call<KeyActionEntry[]>('keys.history', { connectionId: 'main' });
    expect(running[0]).toMatchObject({
      actionId,
      action: 'vacuum',
      keyValue: '4',
      status: 'running',
      finishedAt: null,
    });
    // ...then dies (its session ends without finishing: kill -9 of the process).
    worker.release(true);
    await expect
      .poll(async () => (await call<KeyActionEntry[]>('keys.history', { connectionId: 'main' }))[0]!.status)
      .toBe('interrupted');
  });
});

describe('keys.plan and keys.run: move and compact', () => {
  let cold = '';
  beforeAll(async () => {
    cold = await createTablespace(db, 'cold', true);
  });
  afterAll(async () => {
    await revokeTablespace(db, cold);
  });

  it("compacts a key's sparse buckets; the tree shows the fewer leaves", async () => {
    const c = await createRoutedTable(db, { table: 'sparse', bucketLimit: 10 });
    await db.query(`INSERT INTO ${c.view} (customer_id, payload) SELECT 1, 'p' || g FROM generate_series(1, 40) g`);
    await db.query(`DELETE FROM ${c.root} WHERE bucket_id < 3 AND id % 10 NOT IN (1, 2)`);
    const base = { connectionId: 'main', configId: c.configId, options: {}, keyValues: ['1'] };
    const [plan] = await call<KeyPlan[]>('keys.plan', { ...base, action: 'compact' });
    expect(plan!.compaction).toMatchObject({ leavesBefore: 4, leavesAfter: 2, rowsMoved: 4 });
    const [result] = await call<KeyActionResult[]>('keys.run', { ...base, action: 'compact' });
    expect(result).toMatchObject({ changed: true, rows: 4, state: 'active' });
    const tree = await call<PartitionTree>('explorer.tree', { connectionId: 'main', configId: c.configId });
    expect(tree.levelOne[0]!.buckets.map((b) => b.bucketId)).toEqual([0, 3]);
  });

  it('lists the tablespaces the role may use in the plan of a move, moves, and refuses one that does not exist', async () => {
    const base = { connectionId: 'main', configId: t.configId, options: {}, keyValues: ['3'] };
    const [plan] = await call<KeyPlan[]>('keys.plan', { ...base, action: 'move' });
    expect(plan).toMatchObject({ steps: [], tablespaces: expect.arrayContaining(['pg_default', cold]) });
    const [moved] = await call<KeyActionResult[]>('keys.run', {
      ...base,
      action: 'move',
      options: { tablespace: cold },
    });
    expect(moved).toMatchObject({ changed: true });
    await expect(
      call('keys.run', { ...base, action: 'move', options: { tablespace: 'nowhere' } }),
    ).rejects.toMatchObject({ kind: 'invalid_input', message: 'tablespace nowhere does not exist' });
    await expect(call('keys.run', { ...base, action: 'move' })).rejects.toMatchObject({ kind: 'invalid_input' });
  });
});
