// SSH tunnels per connection, against Debian's OpenSSH server started for this
// file (electron/testing/ssh-server.ts) in front of the run's PostgreSQL: every
// way to log in to the bastion, host keys unknown, pinned, listed and changed,
// and the bastion going away under open connections and under a migration.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionProfile, ConnectionTestResult } from '../../shared/connection.js';
import type { RunEvent } from '../../shared/progress.js';
import type { RunSummary } from '../../shared/runs.js';
import { SessionSecretStore } from '../secrets/session-secret-store.js';
import { useTestDatabase } from '../testing/database.js';
import { startSshServer, type SshServer } from '../testing/ssh-server.js';
import { createBackend, type Backend } from '../backend/backend.js';
import { resultOf } from '../testing/envelope.js';

const db = useTestDatabase('ssh');
let ssh: SshServer;
let dataDir: string;
let backend: Backend;
let events: RunEvent[] = [];

beforeAll(async () => {
  ssh = await startSshServer();
}, 60_000);

afterAll(async () => {
  await ssh?.stop();
});

function newBackend(knownHostsFile: string): Backend {
  const made = createBackend({
    dataDir,
    secrets: new SessionSecretStore(),
    shell: 'browser',
    sandbox: undefined,
    knownHostsFile,
  });
  made.subscribe((event, payload) => {
    if (event === 'run.event') events.push(payload as RunEvent);
  });
  return made;
}

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-ssh-'));
  events = [];
  backend = newBackend(ssh.knownHostsFile);
});

afterEach(async () => {
  await backend.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

function draft(tunnel: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  const url = new URL(db.url);
  return {
    name: 'Behind the bastion',
    // As the bastion sees the server.
    host: '127.0.0.1',
    port: Number(url.port),
    database: db.name,
    user: db.owner,
    password: decodeURIComponent(url.password),
    sslMode: 'disable',
    ssh: { host: ssh.host, port: ssh.port, user: ssh.user, ...tunnel },
    ...overrides,
  };
}

async function ok<T>(command: string, input: unknown): Promise<T> {
  return resultOf<T>(await backend.dispatch(command, input));
}

const testDraft = (input: Record<string, unknown>) => ok<ConnectionTestResult>('connections.test', { draft: input });

async function waitForFinish(runId: number, skip = 0): Promise<Extract<RunEvent, { type: 'finished' }>> {
  for (let i = 0; i < 1200; i++) {
    const finished = events.filter((e) => e.type === 'finished' && e.runId === runId)[skip];
    if (finished) return finished as Extract<RunEvent, { type: 'finished' }>;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`run ${runId} did not finish`);
}

describe('SSH tunnel per connection', () => {
  it('connects with a key, a passphrase-protected key, a password and the agent', async () => {
    const through = expect.stringContaining(`through the SSH tunnel via ${ssh.host}`);
    expect(await testDraft(draft({ auth: 'key', keyFile: ssh.key }))).toMatchObject({ ok: true, message: through });
    expect(
      await testDraft(draft({ auth: 'key', keyFile: ssh.passphraseKey }, { sshSecret: ssh.passphrase })),
    ).toMatchObject({ ok: true, message: through });
    expect(await testDraft(draft({ auth: 'password' }, { sshSecret: ssh.password }))).toMatchObject({ ok: true });
    const savedAgent = process.env.SSH_AUTH_SOCK;
    process.env.SSH_AUTH_SOCK = ssh.agentSocket;
    try {
      expect(await testDraft(draft({ auth: 'agent' }))).toMatchObject({ ok: true, message: through });
    } finally {
      if (savedAgent === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = savedAgent;
    }
  });

  it('names what the bastion refused: wrong key, password, passphrase, user', async () => {
    const refused = (how: string, user = ssh.user) => ({
      ok: false,
      failure: 'ssh',
      message: `The SSH server ${ssh.host}:${ssh.port} refused user "${user}" with ${how}.`,
    });
    expect(await testDraft(draft({ auth: 'key', keyFile: ssh.strangerKey }))).toMatchObject(refused('the key'));
    expect(await testDraft(draft({ auth: 'password' }, { sshSecret: 'not-the-password' }))).toMatchObject(
      refused('the password'),
    );
    expect(await testDraft(draft({ auth: 'key', keyFile: ssh.key, user: 'nobody-here' }))).toMatchObject(
      refused('the key', 'nobody-here'),
    );
    expect(await testDraft(draft({ auth: 'key', keyFile: ssh.passphraseKey }, { sshSecret: 'wrong' }))).toMatchObject({
      ok: false,
      failure: 'ssh',
      message: `The passphrase of the SSH key file ${ssh.passphraseKey} is wrong.`,
    });
    expect(await testDraft(draft({ auth: 'key', keyFile: ssh.passphraseKey }))).toMatchObject({
      ok: false,
      message: `SSH key file ${ssh.passphraseKey} is protected by a passphrase, and none is saved.`,
    });
    // The bastion is reached; the database behind it is not.
    expect(await testDraft(draft({ auth: 'key', keyFile: ssh.key }, { port: 1 }))).toMatchObject({
      ok: false,
      failure: 'refused',
      message: expect.stringMatching(/^The bastion 127\.0\.0\.1 could not open a connection to 127\.0\.0\.1:1: /),
    });
  });

  it('shows an unknown host key for the user to accept, pins it, and refuses a changed one naming both', async () => {
    await backend.close();
    backend = newBackend(path.join(dataDir, 'no-known-hosts'));
    const unknown = await testDraft(draft({ auth: 'key', keyFile: ssh.key }));
    expect(unknown).toMatchObject({
      ok: false,
      failure: 'ssh_host_key',
      sshHostKey: { fingerprint: ssh.hostKey.fingerprint, keyType: 'ssh-ed25519' },
      message: expect.stringContaining(`is not known yet: ssh-ed25519 ${ssh.hostKey.fingerprint}`),
    });
    const saved = await ok<ConnectionProfile>(
      'connections.save',
      draft({ auth: 'key', keyFile: ssh.key, hostKey: unknown.sshHostKey!.fingerprint }),
    );
    expect(await ok('connections.test', { id: saved.id })).toMatchObject({ ok: true });

    await ssh.kill();
    await ssh.start({ newHostKey: true });
    try {
      const changed = await ok<ConnectionTestResult>('connections.test', { id: saved.id });
      expect(changed).toMatchObject({ ok: false, failure: 'ssh_host_key' });
      // Nothing to accept with one click: replacing a pinned key is a deliberate edit.
      expect(changed).not.toHaveProperty('sshHostKey');
      expect(changed.message).toMatch(
        new RegExp(
          `has changed: it is now ssh-ed25519 SHA256:\\S+, but the key accepted for this connection expects ${ssh.hostKey.fingerprint.replace(/[+/]/g, '\\$&')}`,
        ),
      );
      expect(changed.message).not.toContain(`now ssh-ed25519 ${ssh.hostKey.fingerprint}`);
      // known_hosts too: its line for the bastion no longer matches.
      await backend.close();
      backend = newBackend(ssh.knownHostsFile);
      expect(await testDraft(draft({ auth: 'key', keyFile: ssh.key }))).toMatchObject({
        ok: false,
        failure: 'ssh_host_key',
        message: expect.stringContaining(`but ${ssh.knownHostsFile}:1 expects ${ssh.hostKey.fingerprint}`),
      });
    } finally {
      await ssh.kill();
      await ssh.start();
    }
  });

  it('keeps SSH secrets out of the profile file, and refuses bad tunnel fields naming them', async () => {
    const saved = await ok<ConnectionProfile>(
      'connections.save',
      draft({ auth: 'password' }, { sshSecret: ssh.password }),
    );
    expect(saved).toMatchObject({ hasSshSecret: true, ssh: { auth: 'password', host: ssh.host } });
    const text = await fs.readFile(path.join(dataDir, 'connections.json'), 'utf8');
    expect(text).not.toContain(ssh.password);
    expect(text).not.toContain('sshSecret');
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [draft({ auth: 'key' }), /ssh\.keyFile: SSH key file is required for key authentication/],
      [
        draft({ auth: 'key', keyFile: path.join(dataDir, 'nope') }),
        /ssh\.keyFile: .*nope cannot be read \(no such file\)/,
      ],
      [draft({ auth: 'password', port: 70000 }), /ssh\.port: /],
      [draft({ auth: 'password', host: ' ' }), /ssh\.host: SSH host is required/],
      [draft({ auth: 'telepathy' }), /ssh\.auth: /],
      [
        draft({ auth: 'key', keyFile: ssh.key, hostKey: 'MD5:aa:bb' }),
        /ssh\.hostKey: Host key must be a SHA256 fingerprint/,
      ],
    ];
    for (const [input, message] of cases) {
      expect(await backend.dispatch('connections.save', { ...input, id: saved.id, name: 'Changed' })).toMatchObject({
        ok: false,
        error: { kind: 'invalid_input', message: expect.stringMatching(message) },
      });
    }
    // Nothing was saved half-way: the profile and its secret are as they were.
    expect(await ok<ConnectionProfile[]>('connections.list', {})).toEqual([saved]);
    expect(await ok('connections.test', { id: saved.id })).toMatchObject({ ok: true });
    // Dropping the tunnel drops its secret.
    const { ssh: _ssh, ...direct } = draft({});
    expect(await ok<ConnectionProfile>('connections.save', { ...direct, id: saved.id })).not.toHaveProperty(
      'hasSshSecret',
    );
  });

  it('sends every pooled connection through the tunnel and opens it again after the bastion went away', async () => {
    const saved = await ok<ConnectionProfile>('connections.save', draft({ auth: 'key', keyFile: ssh.key }));
    const pool = await backend.connections.pools.pool(saved.id);
    const tunnel = (await backend.connections.pools.tunnel(saved.id))!;
    const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
    for (const client of clients) client.on('error', () => undefined);
    expect(tunnel.opened).toBe(1);

    await ssh.kill();
    // Each of the three was carried by the tunnel: each is cut with it.
    for (const client of clients) {
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release(true);
    }
    const lost = await backend.dispatch('connections.ping', { connectionId: saved.id });
    expect(lost).toMatchObject({ ok: false, error: { kind: 'connection' } });

    await ssh.start();
    expect(await ok('connections.ping', { connectionId: saved.id })).toEqual({});
    expect(tunnel.opened).toBe(2);
    expect((await pool.query<{ n: number }>('SELECT 41 + 1 AS n')).rows[0]!.n).toBe(42);
  });

  it('migrates through the tunnel; a bastion lost mid-migration leaves the run to resume', async () => {
    await db.query(`CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id int NOT NULL, note text)`);
    await db.query(
      `INSERT INTO orders (customer_id, note) SELECT 1 + g % 20, repeat('n', 200) FROM generate_series(1, 200000) g`,
    );
    await db.query('ANALYZE orders');
    const saved = await ok<ConnectionProfile>('connections.save', draft({ auth: 'key', keyFile: ssh.key }));
    const target = { schema: 'public', table: 'orders', keyColumn: 'customer_id', bucketLimit: 4000 };

    // The bastion dies as soon as the copy starts.
    let killed: Promise<void> | undefined;
    const unsubscribe = backend.subscribe((event, payload) => {
      const runEvent = payload as RunEvent;
      if (event === 'run.event' && runEvent.type === 'phase' && runEvent.phase === 'copy' && !killed)
        killed = ssh.kill();
    });
    const started = await backend.dispatch('runs.start', { connectionId: saved.id, targets: [target], workers: 2 });
    expect(started).toMatchObject({ ok: true });
    const runId = (started as { result: { runId: number } }).result.runId;
    const stopped = await waitForFinish(runId);
    unsubscribe();
    expect(killed, JSON.stringify(events.slice(0, 20))).toBeDefined();
    expect(stopped.status).not.toBe('succeeded');
    await killed;
    await ssh.start();
    // The control connection went with the tunnel, so the journal still says running and nobody holds the run:
    // it is interrupted, and resuming through the re-opened tunnel finishes it.
    const runs = await ok<RunSummary[]>('runs.list', { connectionId: saved.id });
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ runId, status: 'interrupted', canResume: true });
    const finishedSoFar = events.filter((e) => e.type === 'finished' && e.runId === runId).length;
    expect(await backend.dispatch('runs.resume', { connectionId: saved.id, runId })).toMatchObject({ ok: true });
    expect(await waitForFinish(runId, finishedSoFar)).toMatchObject({ status: 'succeeded' });
    const counted = await db.query<{ n: string }>(`SELECT count(*) AS n FROM orders`);
    expect(Number(counted[0]!.n)).toBe(200000);
    const relation = await db.query<{ kind: string }>(
      `SELECT relkind::text AS kind FROM pg_class WHERE oid = 'orders'::regclass`,
    );
    expect(relation[0]!.kind).toBe('v');
  });
});
