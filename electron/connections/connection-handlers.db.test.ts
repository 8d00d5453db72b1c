import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionProfile } from '../../shared/connection.js';
import type { ResponseEnvelope } from '../../shared/contract.js';
import { freePort, startCluster, THROWAWAY_SETTINGS } from '../embedded/cluster.js';
import { requestedMajor } from '../embedded/temporary-cluster.js';
import { FakeKeychain } from '../secrets/fake-keychain.testing.js';
import { SafeStorageSecretStore } from '../secrets/safe-storage-secret-store.js';
import { SessionSecretStore } from '../secrets/session-secret-store.js';
import { useTestDatabase } from '../testing/database.js';
import { PARTWISE_VERSION } from '../version.js';
import { createBackend, type Backend } from '../backend/backend.js';
import { resultOf } from '../testing/envelope.js';
import { connectionsForRun } from '../../shared/plan.js';
import { SCREEN_STATEMENT_TIMEOUT_MS } from './pool-registry.js';

const db = useTestDatabase('connections');

let savedPgPassword: string | undefined;
beforeAll(() => {
  // A missing password must not be filled in from the environment of whoever runs the tests.
  savedPgPassword = process.env.PGPASSWORD;
  delete process.env.PGPASSWORD;
});
afterAll(() => {
  if (savedPgPassword !== undefined) process.env.PGPASSWORD = savedPgPassword;
});

function server(): { host: string; port: number; database: string; user: string; password: string } {
  const url = new URL(db.url);
  return {
    host: url.hostname,
    port: Number(url.port),
    database: decodeURIComponent(url.pathname.slice(1)),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  };
}

function draft(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const { host, port, database, user, password } = server();
  return { name: 'Test server', host, port, database, user, sslMode: 'disable', password, ...overrides };
}

async function ok<T = unknown>(backend: Backend, command: string, input: unknown): Promise<T> {
  return resultOf<T>(await backend.dispatch(command, input));
}

async function failure(backend: Backend, command: string, input: unknown) {
  const response: ResponseEnvelope = await backend.dispatch(command, input);
  if (response.ok) throw new Error(`${command} unexpectedly succeeded: ${JSON.stringify(response.result)}`);
  return response.error;
}

let dataDir: string;
let backend: Backend;

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-connections-'));
  backend = createBackend({ dataDir, secrets: new SessionSecretStore(), shell: 'browser', sandbox: undefined });
});

afterEach(async () => {
  await backend.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('connection commands through the dispatcher', () => {
  it('answers app.info for the shell it runs in', async () => {
    expect(await ok(backend, 'app.info', {})).toEqual({
      version: PARTWISE_VERSION,
      shell: 'browser',
      secretStorage: 'session_only',
    });
  });

  it('saves, lists, tests and deletes a profile without ever returning the password', async () => {
    const { password } = server();
    expect(await ok(backend, 'connections.list', {})).toEqual([]);

    const saveResponse = await backend.dispatch('connections.save', draft());
    expect(JSON.stringify(saveResponse)).not.toContain(password);
    const saved = (saveResponse as { result: ConnectionProfile }).result;
    expect(saved).toMatchObject({ name: 'Test server', kind: 'server', hasPassword: true });
    expect(saved.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(saved).not.toHaveProperty('password');

    const listResponse = await backend.dispatch('connections.list', {});
    expect(JSON.stringify(listResponse)).not.toContain(password);
    expect((listResponse as { result: ConnectionProfile[] }).result).toEqual([saved]);

    const file = path.join(dataDir, 'connections.json');
    const text = await fs.readFile(file, 'utf8');
    expect(text).not.toContain(password);
    expect(JSON.parse(text).profiles[0]).not.toHaveProperty('hasPassword');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);

    const tested = await ok<{ ok: boolean; serverVersion?: string }>(backend, 'connections.test', { id: saved.id });
    expect(tested.ok).toBe(true);
    expect(tested.serverVersion).toMatch(/^\d+/);

    expect(await ok(backend, 'connections.delete', { id: saved.id })).toEqual({});
    expect(await ok(backend, 'connections.list', {})).toEqual([]);
    expect((await failure(backend, 'connections.test', { id: saved.id })).kind).toBe('not_found');
    expect((await failure(backend, 'connections.delete', { id: saved.id })).kind).toBe('not_found');
  });

  it('keeps the stored password when an edit leaves it undefined, and clears it with an empty string', async () => {
    const saved = await ok<ConnectionProfile>(backend, 'connections.save', draft());
    const { password: _password, ...withoutPassword } = draft({ id: saved.id, name: 'Renamed' });
    const renamed = await ok<ConnectionProfile>(backend, 'connections.save', withoutPassword);
    expect(renamed).toMatchObject({ id: saved.id, name: 'Renamed', hasPassword: true });
    expect(await ok(backend, 'connections.test', { id: saved.id })).toMatchObject({ ok: true });

    const cleared = await ok<ConnectionProfile>(backend, 'connections.save', { ...withoutPassword, password: '' });
    expect(cleared.hasPassword).toBe(false);
    expect(await ok(backend, 'connections.test', { id: saved.id })).toMatchObject({ ok: false, failure: 'auth' });
  });

  it('tests a draft of an existing profile with its stored password unless a new one is typed', async () => {
    const saved = await ok<ConnectionProfile>(backend, 'connections.save', draft());
    const { password: _password, ...edited } = draft({ id: saved.id });
    expect(await ok(backend, 'connections.test', { draft: edited })).toMatchObject({ ok: true });
    expect(await ok(backend, 'connections.test', { draft: { ...edited, password: 'wrong' } })).toMatchObject({
      ok: false,
      failure: 'auth',
    });
    expect(await ok(backend, 'connections.test', { draft: { ...edited, database: 'nope_db' } })).toMatchObject({
      ok: false,
      failure: 'unknown_database',
    });
    const { password: _p, ...unsaved } = draft();
    expect(await ok(backend, 'connections.test', { draft: unsaved })).toMatchObject({ ok: false, failure: 'auth' });
  });

  it('tests a draft that has no name yet, and says what it reached once', async () => {
    const { name: _name, ...nameless } = draft();
    const result = await ok<{ ok: boolean; message: string; serverVersion: string }>(backend, 'connections.test', {
      draft: nameless,
    });
    expect(result.ok).toBe(true);
    expect(result.message).toBe(`Connected to PostgreSQL ${result.serverVersion} (no TLS).`);
    // Saving still needs the name.
    expect((await failure(backend, 'connections.save', nameless)).kind).toBe('invalid_input');
  });

  it('gives a working pool per profile and a new one after an edit', async () => {
    const saved = await ok<ConnectionProfile>(backend, 'connections.save', draft());
    const pools = backend.connections.pools;
    const [first, again] = await Promise.all([pools.pool(saved.id), pools.pool(saved.id)]);
    expect(again).toBe(first);
    const { rows } = await first.query<{ name: string }>(`SELECT current_setting('application_name') AS name`);
    expect(rows[0]!.name).toBe('partwise');

    await ok(backend, 'connections.save', { ...draft({ id: saved.id, name: 'Edited' }) });
    expect(first.ended).toBe(true);
    const second = await pools.pool(saved.id);
    expect(second).not.toBe(first);
    expect((await second.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });

    await ok(backend, 'connections.delete', { id: saved.id });
    expect(second.ended).toBe(true);
    await expect(pools.pool(saved.id)).rejects.toMatchObject({ kind: 'not_found' });
  });

  it('gives screens a statement timeout, work none, and each run a pool of its own sized by its workers that outlives an edit', async () => {
    const saved = await ok<ConnectionProfile>(backend, 'connections.save', draft());
    const pools = backend.connections.pools;
    const timeoutOf = async (pool: { query: typeof db.pool.query }) =>
      (await pool.query<{ t: string }>(`SELECT current_setting('statement_timeout') AS t`)).rows[0]!.t;
    expect(await timeoutOf(await pools.pool(saved.id))).toBe(`${SCREEN_STATEMENT_TIMEOUT_MS / 1000}s`);
    expect(await timeoutOf(await pools.workPool(saved.id))).toBe('0');

    const screens = await pools.pool(saved.id);

    const run = await pools.runPool(saved.id, 3);
    expect(run.pool.options.max).toBe(connectionsForRun(3));
    expect(await timeoutOf(run.pool)).toBe('0');
    await ok(backend, 'connections.save', { ...draft({ id: saved.id, name: 'Edited' }) });
    expect(screens.ended).toBe(true);
    // The run goes on with its pool until it ends it.
    expect((await run.pool.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
    await run.end();
    expect(run.pool.ended).toBe(true);
  });

  it('does not cache a pool that failed to connect', async () => {
    // With sslMode prefer the pool is made after a probe connection, which fails when nothing listens.
    const closedPort = await freePort();
    const saved = await ok<ConnectionProfile>(
      backend,
      'connections.save',
      draft({ sslMode: 'prefer', port: closedPort }),
    );
    await expect(backend.connections.pools.pool(saved.id)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await ok(backend, 'connections.save', draft({ id: saved.id, sslMode: 'prefer' }));
    const pool = await backend.connections.pools.pool(saved.id);
    expect((await pool.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
  });

  it('keeps every profile when saves run concurrently', async () => {
    await Promise.all(Array.from({ length: 8 }, (_, i) => ok(backend, 'connections.save', draft({ name: `P${i}` }))));
    const listed = await ok<ConnectionProfile[]>(backend, 'connections.list', {});
    expect(listed.map((profile) => profile.name)).toEqual(['P0', 'P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'P7']);
  });

  it('rejects malformed payloads with invalid_input', async () => {
    const cases: Array<[string, unknown]> = [
      ['connections.save', draft({ name: '' })],
      ['connections.save', draft({ port: 0 })],
      ['connections.save', draft({ port: '5432' })],
      ['connections.save', draft({ sslMode: 'allow' })],
      ['connections.save', { name: 'x' }],
      ['connections.save', 'not an object'],
      ['connections.delete', {}],
      ['connections.delete', { id: 'x', extra: true }],
      ['connections.test', { id: 'x', draft: draft() }],
      ['connections.test', {}],
      ['app.info', { anything: 1 }],
      ['no.such.command', {}],
      ['__proto__', {}],
    ];
    for (const [command, input] of cases) {
      const error = await failure(backend, command, input);
      expect(error.kind, `${command} ${JSON.stringify(input)}`).toBe('invalid_input');
    }
    expect(await ok(backend, 'connections.list', {})).toEqual([]);
  });

  it('refuses to edit or delete the Sandbox profile', async () => {
    expect((await failure(backend, 'connections.save', draft({ id: 'sandbox' }))).kind).toBe('invalid_input');
    expect((await failure(backend, 'connections.delete', { id: 'sandbox' })).kind).toBe('invalid_input');
    expect((await failure(backend, 'sandbox.start', {})).kind).toBe('blocked');
  });

  it('reports an edit of an unknown id as not_found and stores nothing', async () => {
    expect((await failure(backend, 'connections.save', draft({ id: 'missing' }))).kind).toBe('not_found');
    expect(await ok(backend, 'connections.list', {})).toEqual([]);
  });

  it('gives a clear error for a damaged connections.json and leaves it alone', async () => {
    const file = path.join(dataDir, 'connections.json');
    await fs.writeFile(file, '{"version":1,"profiles":[{"id":"a","name":"x"}]}');
    const error = await failure(backend, 'connections.list', {});
    expect(error.kind).toBe('blocked');
    expect(error.message).toContain(file);
    expect((await failure(backend, 'connections.save', draft())).kind).toBe('blocked');
    expect(await fs.readFile(file, 'utf8')).toBe('{"version":1,"profiles":[{"id":"a","name":"x"}]}');
  });
});

describe('commands on a server that cannot be reached', () => {
  it('fail in plain words naming the server, with the raw error as the detail', async () => {
    const closedPort = await freePort();
    const down = await ok<ConnectionProfile>(backend, 'connections.save', draft({ name: 'Down', port: closedPort }));
    const refused = await failure(backend, 'tables.list', { connectionId: down.id });
    expect(refused).toMatchObject({
      kind: 'connection',
      message: `Nothing is listening on ${server().host}:${closedPort} (connection refused).`,
    });
    expect(refused.detail).toContain('ECONNREFUSED');

    const wrong = await ok<ConnectionProfile>(backend, 'connections.save', draft({ name: 'Wrong', password: 'nope' }));
    const denied = await failure(backend, 'managed.list', { connectionId: wrong.id });
    expect(denied).toMatchObject({
      kind: 'auth',
      message: `Password authentication failed for user "${server().user}".`,
    });
    expect(denied.detail).toMatch(/password authentication failed/);
  });

  it('say the server went away when it stops mid-session, and work again when it is back', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-restart-'));
    await fs.chmod(root, 0o711);
    const dataDir = path.join(root, 'data');
    const major = requestedMajor();
    const start = (port?: number, password?: string) =>
      startCluster({ major, dataDir, listen: 'tcp', port, password, settings: THROWAWAY_SETTINGS });
    let cluster = await start();
    try {
      const { host, port, user, password } = cluster.params;
      const profile = await ok<ConnectionProfile>(backend, 'connections.save', {
        name: 'Restarting',
        host,
        port,
        database: 'postgres',
        user,
        password,
        sslMode: 'disable',
      });
      expect(await ok(backend, 'connections.ping', { connectionId: profile.id })).toEqual({});
      expect(await ok(backend, 'tables.list', { connectionId: profile.id })).toEqual([]);
      await cluster.stop();
      for (const command of ['connections.ping', 'tables.list']) {
        const lost = await failure(backend, command, { connectionId: profile.id });
        expect(lost.kind, command).toBe('connection');
        expect(lost.message, command).toBe(`Nothing is listening on ${host}:${port} (connection refused).`);
      }
      cluster = await start(port, password);
      // The pool is not poisoned by the outage: the next command connects again.
      expect(await ok(backend, 'connections.ping', { connectionId: profile.id })).toEqual({});
      expect(await ok(backend, 'tables.list', { connectionId: profile.id })).toEqual([]);
    } finally {
      await cluster.stop();
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe('the desktop shell with an OS keychain', () => {
  it('stores passwords encrypted and reports the keychain kind', async () => {
    const keychain = new FakeKeychain();
    const desktop = createBackend({
      dataDir,
      shell: 'electron',
      sandbox: undefined,
      secrets: new SafeStorageSecretStore({
        file: path.join(dataDir, 'secrets.json'),
        safeStorage: keychain.syncApi(),
      }),
    });
    try {
      expect(await ok(desktop, 'app.info', {})).toMatchObject({ shell: 'electron', secretStorage: 'keychain' });
      const saved = await ok<ConnectionProfile>(desktop, 'connections.save', draft());
      expect(saved.hasPassword).toBe(true);
      expect(await fs.readFile(path.join(dataDir, 'secrets.json'), 'utf8')).not.toContain(server().password);
      expect(await ok(desktop, 'connections.test', { id: saved.id })).toMatchObject({ ok: true });
      await ok(desktop, 'connections.delete', { id: saved.id });
      expect(JSON.parse(await fs.readFile(path.join(dataDir, 'secrets.json'), 'utf8')).secrets).toEqual({});
    } finally {
      await desktop.close();
    }
  });

  it('saves nothing when the keychain is unavailable and a password is given', async () => {
    const keychain = new FakeKeychain();
    keychain.available = false;
    const desktop = createBackend({
      dataDir,
      shell: 'electron',
      sandbox: undefined,
      secrets: new SafeStorageSecretStore({
        file: path.join(dataDir, 'secrets.json'),
        safeStorage: keychain.syncApi(),
      }),
    });
    try {
      const error = await failure(desktop, 'connections.save', draft());
      expect(error.kind).toBe('blocked');
      expect(error.hint).toMatch(/pgpass/);
      expect(existsSync(path.join(dataDir, 'connections.json'))).toBe(false);
      // Without a password the profile is saved; pg then falls back to PGPASSWORD / ~/.pgpass.
      const { password: _password, ...withoutPassword } = draft();
      expect(await ok(desktop, 'connections.save', withoutPassword)).toMatchObject({ hasPassword: false });
    } finally {
      await desktop.close();
    }
  });
});

describe('profiles from pg_service.conf and ~/.pgpass', () => {
  it('lists the services, then imports the chosen ones with their .pgpass passwords, all or nothing', async () => {
    const { host, port, database, user, password } = server();
    const serviceFile = path.join(dataDir, 'pg_service.conf');
    await fs.writeFile(
      serviceFile,
      [
        `[reporting]`,
        `host=${host}`,
        `port=${port}`,
        `dbname=${database}`,
        `user=${user}`,
        `sslmode=disable`,
        `application_name=partwise reporting`,
        `target_session_attrs=any`,
        `[relative ca]`,
        `host=elsewhere`,
        `sslrootcert=certs/ca.pem`,
        '',
      ].join('\n'),
    );
    const pgpass = path.join(dataDir, 'pgpass');
    await fs.writeFile(pgpass, `${host}:${port}:*:${user}:${password}\n`, { mode: 0o600 });
    await backend.close();
    backend = createBackend({
      dataDir,
      secrets: new SessionSecretStore(),
      shell: 'browser',
      sandbox: undefined,
      libpqEnv: { PGPASSFILE: pgpass, PGSYSCONFDIR: path.join(dataDir, 'no-system-file') },
    });

    const listed = await ok<{ files: string[]; services: Array<Record<string, unknown>> }>(
      backend,
      'connections.services',
      { file: serviceFile },
    );
    expect(listed.files).toEqual([serviceFile]);
    expect(listed.services).toEqual([
      {
        name: 'reporting',
        file: `${serviceFile}:1`,
        host,
        port,
        database,
        user,
        sslMode: 'disable',
        pgpassPassword: true,
        ignored: ['target_session_attrs'],
      },
      expect.objectContaining({
        name: 'relative ca',
        problem: 'the certificate path "certs/ca.pem" is relative; give an absolute path',
      }),
    ]);

    // One bad name refuses the whole import.
    for (const names of [
      ['reporting', 'relative ca'],
      ['reporting', 'missing'],
    ]) {
      const error = await failure(backend, 'connections.importServices', { file: serviceFile, names });
      expect(error.message).toMatch(/relative ca.*is relative|no service "missing"/);
    }
    expect(await ok(backend, 'connections.list', {})).toEqual([]);

    const [imported] = await ok<ConnectionProfile[]>(backend, 'connections.importServices', {
      file: serviceFile,
      names: ['reporting'],
    });
    expect(imported).toMatchObject({ name: 'reporting', hasPassword: true, applicationName: 'partwise reporting' });
    expect(await ok(backend, 'connections.test', { id: imported!.id })).toMatchObject({ ok: true });
    const pool = await backend.connections.pools.pool(imported!.id);
    expect(
      (await pool.query<{ name: string }>(`SELECT current_setting('application_name') AS name`)).rows[0]!.name,
    ).toBe('partwise reporting');
    expect(await fs.readFile(path.join(dataDir, 'connections.json'), 'utf8')).not.toContain(password);
  });
});

describe('read-only profiles', () => {
  it('refuses every writing command in the main process, and the server refuses writes on their sessions', async () => {
    await db.query(`CREATE TABLE IF NOT EXISTS ro_probe (id int)`);
    const saved = await ok<ConnectionProfile>(
      backend,
      'connections.save',
      draft({ name: 'Prod replica', readOnly: true }),
    );
    expect(saved.readOnly).toBe(true);
    const target = { schema: 'public', table: 'ro_probe', keyColumn: 'id', bucketLimit: 10 };
    const writes: Array<[string, Record<string, unknown>]> = [
      ['runs.start', { targets: [target] }],
      ['runs.cancel', { runId: 1 }],
      ['runs.resume', { runId: 1 }],
      ['runs.rollback', { runId: 1 }],
      ['runs.finalize', { runId: 1 }],
      ['tracker.setBucketLimit', { configId: 1, bucketLimit: 5 }],
      ['maintenance.run', { configId: 1, ahead: null }],
    ];
    for (const [command, input] of writes) {
      const error = await failure(backend, command, { connectionId: saved.id, ...input });
      expect(error).toMatchObject({
        kind: 'blocked',
        message: `The connection "Prod replica" is read-only: ${command} writes to the database and is refused.`,
      });
    }
    // Reading still works.
    expect(await ok(backend, 'tables.list', { connectionId: saved.id })).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'ro_probe' })]),
    );
    const pool = await backend.connections.pools.pool(saved.id);
    await expect(pool.query(`INSERT INTO ro_probe VALUES (1)`)).rejects.toMatchObject({ code: '25006' });
    // Turned off, the same profile writes again (a new pool).
    await ok(backend, 'connections.save', draft({ id: saved.id, name: 'Prod replica', readOnly: false }));
    const writable = await backend.connections.pools.pool(saved.id);
    await writable.query(`INSERT INTO ro_probe VALUES (1)`);
  });
});
