import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionProfile } from '../../shared/connection.js';
import { createBackend, type Backend } from '../backend/backend.js';
import { ProfileStore } from '../connections/profile-store.js';
import { SessionSecretStore } from '../secrets/session-secret-store.js';
import { createSandbox, sandboxHome, type Sandbox } from './sandbox.js';
import { resultOf } from '../testing/envelope.js';

let root: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-sandbox-'));
  // Under root the server runs as `postgres`, which must be able to traverse to its data directory.
  await fs.chmod(root, 0o711);
});

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function ok<T>(backend: Backend, command: string, input: unknown = {}): Promise<T> {
  return resultOf<T>(await backend.dispatch(command, input));
}

async function dataDirNamed(name: string): Promise<string> {
  const dir = path.join(root, name);
  await fs.mkdir(dir, { mode: 0o711 });
  return dir;
}

describe('the Sandbox on first launch (Unix socket, trust)', () => {
  let dataDir: string;
  let backend: Backend | undefined;
  let sandbox: Sandbox;
  const log: string[] = [];

  afterAll(async () => {
    await backend?.close();
  });

  it('is listed at once and started automatically when nothing is saved', async () => {
    dataDir = await dataDirNamed('first');
    sandbox = createSandbox({ dataDir, onLog: (line) => log.push(line) });
    expect(await sandbox.exists()).toBe(false);
    backend = createBackend({ dataDir, secrets: new SessionSecretStore(), shell: 'browser', sandbox });

    const listed = await ok<ConnectionProfile[]>(backend, 'connections.list');
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      id: 'sandbox',
      name: 'Sandbox',
      kind: 'sandbox',
      database: 'sandbox',
      user: 'postgres',
      sslMode: 'disable',
      hasPassword: false,
    });
    expect(listed[0]!.host).toBe(path.join(await sandboxHome(dataDir), 'pgdata'));
    // Listed without waiting for the server: creating and seeding it takes seconds.
    expect(sandbox.status()).not.toBe('running');

    await backend.connections.autoStart;
    expect(sandbox.status()).toBe('running');
    expect(await sandbox.exists()).toBe(true);
    const tested = await ok<{ ok: boolean; message: string }>(backend, 'connections.test', { id: 'sandbox' });
    expect(tested).toMatchObject({ ok: true });
    expect(tested.message).toContain('Unix socket');
    expect(await ok<ConnectionProfile>(backend, 'sandbox.start')).toEqual(listed[0]);
    expect(log.some((line) => /Sandbox seeded: \d+ rows/.test(line))).toBe(true);
  });

  it('listens on no TCP port and needs no password', async () => {
    const pool = await backend!.connections.pools.pool('sandbox');
    const { rows } = await pool.query<{ listen: string; hba: string }>(
      `SELECT current_setting('listen_addresses') AS listen,
              (SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules WHERE type = 'local') AS hba`,
    );
    expect(rows[0]).toEqual({ listen: '', hba: 'trust' });
  });

  it('holds a seeded, strongly skewed multi-tenant dataset', async () => {
    const pool = await backend!.connections.pools.pool('sandbox');
    const count = async (sql: string): Promise<number> => Number((await pool.query(sql)).rows[0].count);

    const total = await count('SELECT count(*) FROM public.custom_module_data');
    expect(total).toBeGreaterThan(280_000);
    expect(total).toBeLessThan(320_000);
    expect(await count('SELECT count(*) FROM public.customers')).toBe(200);
    expect(await count('SELECT count(DISTINCT customer_id) FROM public.custom_module_data')).toBe(200);

    const { rows: perCustomer } = await pool.query<{ rows: string }>(
      'SELECT count(*) AS rows FROM public.custom_module_data GROUP BY customer_id ORDER BY 1 DESC',
    );
    const sizes = perCustomer.map((row) => Number(row.rows));
    expect(sizes[0]).toBeGreaterThan(50_000);
    expect(sizes.filter((n) => n >= 10_000).length).toBeGreaterThanOrEqual(5);
    expect(sizes.filter((n) => n >= 10_000).length).toBeLessThanOrEqual(12);
    expect(sizes.filter((n) => n <= 5).length).toBeGreaterThanOrEqual(100);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(1);

    expect(await count('SELECT count(*) FROM public.custom_module_equipment_map')).toBe(40_000);
    const { rows: skew } = await pool.query<{ top: string; distinct_ids: string }>(
      `SELECT max(n) AS top, count(*) AS distinct_ids
         FROM (SELECT count(*) AS n FROM public.custom_module_equipment_map GROUP BY cm_id) t`,
    );
    expect(Number(skew[0]!.top)).toBeGreaterThan(1_000); // cm_id 1 gets far more than 40,000 / 300
    expect(Number(skew[0]!.distinct_ids)).toBeGreaterThan(100);
  });

  it('has the shape of the original example table, with its key, foreign key and index, analyzed', async () => {
    const pool = await backend!.connections.pools.pool('sandbox');
    const { rows: columns } = await pool.query(
      `SELECT column_name, data_type, is_nullable, column_default IS NOT NULL AS has_default
         FROM information_schema.columns
        WHERE table_schema = 'public' AND table_name = 'custom_module_data' ORDER BY ordinal_position`,
    );
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'bigint', is_nullable: 'NO', has_default: true },
      { column_name: 'customer_id', data_type: 'integer', is_nullable: 'NO', has_default: false },
      { column_name: 'module_id', data_type: 'integer', is_nullable: 'NO', has_default: false },
      { column_name: 'data', data_type: 'jsonb', is_nullable: 'NO', has_default: false },
      { column_name: 'created_at', data_type: 'timestamp with time zone', is_nullable: 'NO', has_default: true },
    ]);
    const { rows: constraints } = await pool.query<{ contype: string; def: string }>(
      `SELECT contype, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 'public.custom_module_data'::regclass AND contype IN ('f', 'p') ORDER BY contype`,
    );
    expect(constraints).toEqual([
      { contype: 'f', def: 'FOREIGN KEY (customer_id) REFERENCES customers(id)' },
      { contype: 'p', def: 'PRIMARY KEY (id)' },
    ]);
    const { rows: indexes } = await pool.query<{ indexdef: string }>(
      `SELECT indexdef FROM pg_indexes WHERE tablename = 'custom_module_data' AND indexdef LIKE '%created_at%'`,
    );
    expect(indexes).toHaveLength(1);
    const { rows: analyzed } = await pool.query<{ relname: string; analyzed: boolean }>(
      `SELECT relname, last_analyze IS NOT NULL AS analyzed FROM pg_stat_user_tables
        WHERE schemaname = 'public' ORDER BY relname`,
    );
    expect(analyzed).toEqual([
      { relname: 'custom_module_data', analyzed: true },
      { relname: 'custom_module_equipment_map', analyzed: true },
      { relname: 'customers', analyzed: true },
    ]);
    // The id sequence continues after the seeded rows.
    const { rows: inserted } = await pool.query<{ id: string }>(
      `INSERT INTO public.custom_module_data (customer_id, module_id, data) VALUES (1001, 1, '{}') RETURNING id`,
    );
    expect(Number(inserted[0]!.id)).toBeGreaterThan(280_000);
    await pool.query('DELETE FROM public.custom_module_data WHERE id = $1', [inserted[0]!.id]);
  });

  it('is reused on the next start, not seeded again', async () => {
    const pool = await backend!.connections.pools.pool('sandbox');
    const before = (await pool.query('SELECT version, seeded_at, rows FROM partwise_sandbox.seed_marker')).rows;
    await pool.query('CREATE TABLE public.user_made (id int)');
    await backend!.close();
    expect(sandbox.status()).toBe('stopped');
    backend = undefined;

    const again = createSandbox({ dataDir });
    const restarted = createBackend({ dataDir, secrets: new SessionSecretStore(), shell: 'browser', sandbox: again });
    backend = restarted;
    const started = await again.start();
    expect(started.seed).toEqual({ seeded: false });
    const pool2 = await restarted.connections.pools.pool('sandbox');
    expect((await pool2.query('SELECT version, seeded_at, rows FROM partwise_sandbox.seed_marker')).rows).toEqual(
      before,
    );
    expect((await pool2.query(`SELECT to_regclass('public.user_made') IS NOT NULL AS kept`)).rows[0]).toEqual({
      kept: true,
    });
    // Listed even though a server profile now exists: it was created before.
    await ok(restarted, 'connections.save', {
      name: 'Elsewhere',
      host: '127.0.0.1',
      port: 1,
      database: 'x',
      user: 'x',
      sslMode: 'disable',
    });
    const listed = await ok<ConnectionProfile[]>(restarted, 'connections.list');
    expect(listed.map((profile) => profile.id)[0]).toBe('sandbox');
    expect(listed).toHaveLength(2);
  });

  it('refuses to start while another live process owns it', async () => {
    await backend!.close();
    backend = undefined;
    const holder: ChildProcess = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await fs.writeFile(path.join(await sandboxHome(dataDir), 'owner.pid'), `${holder.pid}\n`);
      await expect(createSandbox({ dataDir }).start()).rejects.toMatchObject({
        kind: 'conflict',
        message: `The Sandbox is in use by another Partwise process (pid ${holder.pid}).`,
      });
    } finally {
      holder.kill();
    }
    await new Promise((resolve) => holder.once('exit', resolve));
    // The lock of a process that is gone is taken over.
    const sandboxAfter = createSandbox({ dataDir });
    await sandboxAfter.start();
    await sandboxAfter.stop();
  });
});

describe('a saved profile on first launch', () => {
  it('keeps the Sandbox out of the list and does not start it', async () => {
    const dataDir = await dataDirNamed('with-profile');
    await new ProfileStore(dataDir).save({
      id: 'p1',
      name: 'Prod',
      kind: 'server',
      host: 'db',
      port: 5432,
      database: 'app',
      user: 'me',
      sslMode: 'prefer',
    });
    const sandbox = createSandbox({ dataDir });
    const backend = createBackend({ dataDir, secrets: new SessionSecretStore(), shell: 'browser', sandbox });
    try {
      await backend.connections.autoStart;
      expect(sandbox.status()).toBe('stopped');
      const listed = await ok<ConnectionProfile[]>(backend, 'connections.list');
      expect(listed.map((profile) => profile.id)).toEqual(['p1']);
    } finally {
      await backend.close();
    }
  });
});

describe('the Sandbox over TCP (the Windows mode), exercised here on Linux', () => {
  it('uses a fresh in-memory password at every start', async () => {
    const dataDir = await dataDirNamed('tcp');
    const first = createSandbox({ dataDir, listen: 'tcp' });
    const one = await first.start();
    expect(one.target.host).toBe('127.0.0.1');
    expect(one.password).toMatch(/^[\w-]{32}$/);
    expect(one.profile.hasPassword).toBe(false);
    const state = await fs.readFile(path.join(await sandboxHome(dataDir), 'state.json'), 'utf8');
    expect(state).not.toContain(one.password!);
    const client = new pg.Client({ ...one.target, password: one.password });
    await client.connect();
    expect((await client.query('SELECT count(*) > 0 AS seeded FROM public.customers')).rows[0]).toEqual({
      seeded: true,
    });
    await client.end();
    await first.stop();

    const second = createSandbox({ dataDir, listen: 'tcp' });
    const two = await second.start();
    try {
      expect(two.seed).toEqual({ seeded: false });
      expect(two.password).not.toBe(one.password);
      expect(two.target.port).toBe(one.target.port);
      const stale = new pg.Client({ ...two.target, password: one.password });
      await expect(stale.connect()).rejects.toMatchObject({ code: '28P01' });
      const fresh = new pg.Client({ ...two.target, password: two.password });
      await fresh.connect();
      await fresh.end();
      // Nothing on disk holds the password, not even the server's log.
      const home = await sandboxHome(dataDir);
      for (const name of await fs.readdir(home)) {
        const file = path.join(home, name);
        if ((await fs.stat(file)).isFile()) expect(await fs.readFile(file, 'utf8')).not.toContain(two.password!);
      }
    } finally {
      await second.stop();
    }
  });
});
