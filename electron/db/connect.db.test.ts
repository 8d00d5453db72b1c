import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../embedded/cluster.js';
import { useTestDatabase } from '../testing/database.js';
import { connectPool, poolConfigFor, testConnection, type ConnectionTarget } from './connect.js';

const db = useTestDatabase('connect');

function target(overrides: Partial<ConnectionTarget> = {}): { target: ConnectionTarget; password: string } {
  const url = new URL(db.url);
  return {
    target: {
      host: url.hostname,
      port: Number(url.port),
      database: decodeURIComponent(url.pathname.slice(1)),
      user: decodeURIComponent(url.username),
      sslMode: 'disable',
      ...overrides,
    },
    password: decodeURIComponent(url.password),
  };
}

describe('testConnection against the harness server (127.0.0.1, SCRAM, no TLS)', () => {
  it('connects and reads the server version', async () => {
    const { target: t, password } = target();
    const result = await testConnection(t, password);
    expect(result.ok).toBe(true);
    expect(result.failure).toBeUndefined();
    const [row] = await db.query<{ server_version: string }>('SHOW server_version');
    expect(result.serverVersion).toBe(row!.server_version);
    expect(result.message).toContain(row!.server_version);
    expect(result.message).toContain('no TLS');
  });

  it('reports a wrong password as auth', async () => {
    const { target: t } = target();
    const result = await testConnection(t, 'not-the-password');
    expect(result).toMatchObject({ ok: false, failure: 'auth' });
    expect(result.message).toMatch(/password authentication failed/i);
  });

  it('reports an unknown role as auth', async () => {
    const { target: t } = target({ user: 'nobody_here' });
    const result = await testConnection(t, 'whatever');
    expect(result).toMatchObject({ ok: false, failure: 'auth' });
    expect(result.message).toContain('nobody_here');
  });

  it('reports a missing password as auth, naming the fall-backs', async () => {
    const saved = process.env.PGPASSWORD;
    delete process.env.PGPASSWORD;
    try {
      const { target: t } = target();
      const result = await testConnection(t, undefined);
      expect(result).toMatchObject({ ok: false, failure: 'auth' });
      expect(result.message).toMatch(/none is saved/);
    } finally {
      if (saved !== undefined) process.env.PGPASSWORD = saved;
    }
  });

  it('reports an unknown database as unknown_database', async () => {
    const { target: t, password } = target({ database: 'no_such_database_here' });
    const result = await testConnection(t, password);
    expect(result).toMatchObject({ ok: false, failure: 'unknown_database' });
    expect(result.message).toContain('no_such_database_here');
  });

  it('reports a closed port as refused', async () => {
    const { target: t, password } = target({ port: await freePort() });
    const result = await testConnection(t, password);
    expect(result).toMatchObject({ ok: false, failure: 'refused' });
    expect(result.message).toContain(`127.0.0.1:${t.port}`);
  });

  it('reports a missing Unix socket as refused', async () => {
    const { target: t, password } = target({ host: '/nonexistent-socket-dir' });
    const result = await testConnection(t, password);
    expect(result).toMatchObject({ ok: false, failure: 'refused' });
    expect(result.message).toContain('/nonexistent-socket-dir/.s.PGSQL.');
  });

  it('reports sslMode require against a server without TLS as ssl', async () => {
    const { target: t, password } = target({ sslMode: 'require' });
    const result = await testConnection(t, password);
    expect(result).toMatchObject({ ok: false, failure: 'ssl' });
    expect(result.message).toMatch(/does not accept TLS/);
  });

  it('reports verify-full against a server without TLS as ssl', async () => {
    const { target: t, password } = target({ sslMode: 'verify-full' });
    const result = await testConnection(t, password);
    expect(result).toMatchObject({ ok: false, failure: 'ssl' });
  });

  it('falls back to plain text for sslMode prefer', async () => {
    const { target: t, password } = target({ sslMode: 'prefer' });
    const result = await testConnection(t, password);
    expect(result.ok).toBe(true);
    expect(result.message).toContain('no TLS');
  });

  describe('a server that accepts TCP and never answers', () => {
    const silent = net.createServer(() => undefined);
    const sockets = new Set<net.Socket>();
    silent.on('connection', (socket) => sockets.add(socket));
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it('is reported as timeout', async () => {
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as net.AddressInfo).port;
      const { target: t, password } = target({ port });
      const started = Date.now();
      const result = await testConnection(t, password, { timeoutMs: 500 });
      expect(result).toMatchObject({ ok: false, failure: 'timeout' });
      expect(Date.now() - started).toBeLessThan(5_000);
    });
  });
});

describe('connectPool', () => {
  it('gives a working pool for prefer against a server without TLS', async () => {
    const { target: t, password } = target({ sslMode: 'prefer' });
    const pool = await connectPool(t, password);
    try {
      const { rows } = await pool.query<{ name: string; tls: boolean | null }>(
        `SELECT current_setting('application_name') AS name,
                (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS tls`,
      );
      expect(rows[0]).toEqual({ name: 'partwise', tls: false });
    } finally {
      await pool.end();
    }
  });

  it('rejects for require against a server without TLS', async () => {
    const { target: t, password } = target({ sslMode: 'require' });
    const pool = await connectPool(t, password);
    try {
      await expect(pool.query('SELECT 1')).rejects.toThrow(/does not support SSL/);
    } finally {
      await pool.end();
    }
  });
});

describe('poolConfigFor', () => {
  const base: ConnectionTarget = {
    host: 'db.example.com',
    port: 5432,
    database: 'app',
    user: 'me',
    sslMode: 'disable',
  };

  it('maps SSL modes like libpq', () => {
    expect(poolConfigFor({ ...base, sslMode: 'disable' }, 'pw').ssl).toBe(false);
    expect(poolConfigFor({ ...base, sslMode: 'require' }, 'pw').ssl).toEqual({ rejectUnauthorized: false });
    expect(poolConfigFor({ ...base, sslMode: 'prefer' }, 'pw').ssl).toEqual({ rejectUnauthorized: false });
    expect(poolConfigFor({ ...base, sslMode: 'prefer' }, 'pw', { plain: true }).ssl).toBe(false);
    const verifyCa = poolConfigFor({ ...base, sslMode: 'verify-ca' }, 'pw').ssl as Record<string, unknown>;
    expect(verifyCa.rejectUnauthorized).toBe(true);
    expect(typeof verifyCa.checkServerIdentity).toBe('function');
    const verifyFull = poolConfigFor({ ...base, sslMode: 'verify-full' }, 'pw').ssl as Record<string, unknown>;
    expect(verifyFull).toMatchObject({ rejectUnauthorized: true, servername: 'db.example.com' });
    expect(verifyFull.checkServerIdentity).toBeUndefined();
  });

  it('never uses TLS over a Unix socket', () => {
    expect(poolConfigFor({ ...base, host: '/var/run/postgresql', sslMode: 'verify-full' }, undefined).ssl).toBe(false);
  });

  it('leaves the password out when none is given, so PGPASSWORD and ~/.pgpass apply', () => {
    const config = poolConfigFor(base, undefined);
    expect('password' in config).toBe(false);
    expect(config.application_name).toBe('partwise');
    expect(config.connectionTimeoutMillis).toBeGreaterThan(0);
  });
});
