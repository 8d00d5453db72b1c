// TLS per connection, against a PostgreSQL that requires TLS and, for one
// role, a client certificate (pg_hba.conf `hostssl ... cert`), with a CA and
// certificates generated for this run (electron/testing/tls-server.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ConnectionProfile, ConnectionTestResult } from '../../shared/connection.js';
import { SessionSecretStore } from '../secrets/session-secret-store.js';
import { startTlsServer, type TlsServer } from '../testing/tls-server.js';
import { createBackend, type Backend } from '../backend/backend.js';
import { resultOf } from '../testing/envelope.js';

let server: TlsServer;
let dataDir: string;
let backend: Backend;
const savedEnv: Record<string, string | undefined> = {};

beforeAll(async () => {
  server = await startTlsServer();
  // libpq's fall-backs must come from the test, not from whoever runs it.
  for (const name of ['PGSSLROOTCERT', 'PGSSLCERT', 'PGSSLKEY', 'PGPASSWORD']) {
    savedEnv[name] = process.env[name];
    delete process.env[name];
  }
}, 120_000);

afterAll(async () => {
  await server?.stop();
  for (const [name, value] of Object.entries(savedEnv)) if (value !== undefined) process.env[name] = value;
});

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-tls-'));
  backend = createBackend({ dataDir, secrets: new SessionSecretStore(), shell: 'browser', sandbox: undefined });
});

afterEach(async () => {
  await backend.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

function passwordDraft(overrides: Record<string, unknown> = {}) {
  return {
    name: 'TLS server',
    host: 'localhost',
    port: server.port,
    database: server.database,
    user: server.passwordUser,
    password: server.password,
    sslMode: 'verify-full',
    sslRootCert: server.files.ca,
    ...overrides,
  };
}

function certificateDraft(overrides: Record<string, unknown> = {}) {
  return {
    name: 'Certificate login',
    host: 'localhost',
    port: server.port,
    database: server.database,
    user: server.certUser,
    sslMode: 'verify-full',
    sslRootCert: server.files.ca,
    sslCert: server.files.clientCert,
    sslKey: server.files.clientKey,
    ...overrides,
  };
}

async function ok<T>(command: string, input: unknown): Promise<T> {
  return resultOf<T>(await backend.dispatch(command, input));
}

const testDraft = (draft: Record<string, unknown>) => ok<ConnectionTestResult>('connections.test', { draft });

describe('TLS per connection', () => {
  it('verifies the server with the profile CA file and the host name (verify-full)', async () => {
    expect(await testDraft(passwordDraft())).toMatchObject({ ok: true, message: expect.stringContaining('(TLS)') });
    const saved = await ok<ConnectionProfile>('connections.save', passwordDraft());
    expect(saved).toMatchObject({ sslRootCert: server.files.ca, sslMode: 'verify-full' });
    const pool = await backend.connections.pools.pool(saved.id);
    const { rows } = await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(rows[0]!.ssl).toBe(true);
  });

  it('says which check failed: unknown CA, host name, client certificate, expired', async () => {
    expect(await testDraft(passwordDraft({ sslRootCert: server.files.otherCa }))).toMatchObject({
      ok: false,
      failure: 'ssl',
      message: `TLS check failed (unknown CA): the certificate of localhost:${server.port} is not signed by a CA in the CA file ${server.files.otherCa}.`,
    });
    // The certificate names localhost only; verify-ca does not check the name, verify-full does.
    expect(await testDraft(passwordDraft({ host: '127.0.0.1', sslMode: 'verify-ca' }))).toMatchObject({ ok: true });
    expect(await testDraft(passwordDraft({ host: '127.0.0.1' }))).toMatchObject({
      ok: false,
      failure: 'ssl',
      message: expect.stringMatching(/^TLS check failed \(host name\): .*not valid for "127\.0\.0\.1"/),
    });
    // require with a CA file checks the chain, as libpq does.
    expect(await testDraft(passwordDraft({ sslMode: 'require', sslRootCert: server.files.otherCa }))).toMatchObject({
      ok: false,
      message: expect.stringContaining('(unknown CA)'),
    });
    expect(await testDraft(passwordDraft({ sslMode: 'require', sslRootCert: undefined }))).toMatchObject({ ok: true });

    expect(await testDraft(certificateDraft({ sslCert: undefined, sslKey: undefined }))).toMatchObject({
      ok: false,
      failure: 'auth',
      message: expect.stringMatching(
        /^TLS check failed \(client certificate refused\).*requires a valid client certificate/,
      ),
    });
    expect(
      await testDraft(certificateDraft({ sslCert: server.files.strangerCert, sslKey: server.files.strangerKey })),
    ).toMatchObject({
      ok: false,
      failure: 'ssl',
      message: expect.stringMatching(
        /^TLS check failed \(client certificate refused\): .* does not accept the client certificate .*stranger\.crt/,
      ),
    });
    expect(await testDraft(certificateDraft({ sslKey: server.files.strangerKey }))).toMatchObject({
      ok: false,
      failure: 'ssl',
      message: expect.stringMatching(
        /client key .*stranger\.key does not belong to the client certificate .*client\.crt/,
      ),
    });

    await server.useServerCertificate(server.files.expiredServerCert);
    try {
      expect(await testDraft(passwordDraft())).toMatchObject({
        ok: false,
        failure: 'ssl',
        message: `TLS check failed (expired): the certificate of localhost:${server.port} has expired.`,
      });
    } finally {
      await server.useServerCertificate(server.files.serverCert);
    }
  });

  it('logs in with a client certificate (hostssl ... cert) and uses it for every pooled connection', async () => {
    const saved = await ok<ConnectionProfile>('connections.save', certificateDraft());
    expect(saved.hasPassword).toBe(false);
    expect(await ok('connections.test', { id: saved.id })).toMatchObject({ ok: true });
    const pool = await backend.connections.pools.pool(saved.id);
    const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
    try {
      for (const client of clients) {
        const { rows } = await client.query<{ who: string; dn: string }>(
          `SELECT current_user AS who, client_dn AS dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()`,
        );
        expect(rows[0]).toEqual({ who: server.certUser, dn: `/CN=${server.certUser}` });
      }
    } finally {
      for (const client of clients) client.release();
    }
  });

  it('opens an encrypted client key with its passphrase, kept as a secret, and names a missing or wrong one', async () => {
    const encryptedKey = path.join(dataDir, 'client-encrypted.key');
    execFileSync('openssl', [
      'pkey',
      '-in',
      server.files.clientKey,
      '-aes256',
      '-passout',
      'pass:key passphrase',
      '-out',
      encryptedKey,
    ]);
    await expect(testDraft(certificateDraft({ sslKey: encryptedKey }))).resolves.toEqual({
      ok: false,
      failure: 'ssl',
      message: `The client key ${encryptedKey} is encrypted: give its passphrase (sslpassword).`,
    });
    await expect(testDraft(certificateDraft({ sslKey: encryptedKey, sslPassword: 'not it' }))).resolves.toEqual({
      ok: false,
      failure: 'ssl',
      message: `The passphrase of the client key ${encryptedKey} is wrong (sslpassword).`,
    });

    const saved = await ok<ConnectionProfile>(
      'connections.save',
      certificateDraft({ sslKey: encryptedKey, sslPassword: 'key passphrase' }),
    );
    expect(saved).toMatchObject({ hasSslPassword: true, hasPassword: false });
    expect(await fs.readFile(path.join(dataDir, 'connections.json'), 'utf8')).not.toContain('key passphrase');
    expect(await ok('connections.test', { id: saved.id })).toMatchObject({ ok: true });
    // An edit that types nothing keeps the stored passphrase; the pools use it.
    await ok('connections.save', certificateDraft({ id: saved.id, sslKey: encryptedKey, name: 'Renamed' }));
    const pool = await backend.connections.pools.pool(saved.id);
    const { rows } = await pool.query<{ who: string }>('SELECT current_user AS who');
    expect(rows[0]!.who).toBe(server.certUser);
    // A profile without a client key keeps no passphrase.
    const plain = await ok<ConnectionProfile>('connections.save', passwordDraft({ id: saved.id }));
    expect(plain.hasSslPassword).toBeUndefined();
    await ok('connections.save', certificateDraft({ id: saved.id, sslKey: encryptedKey }));
    expect(await ok('connections.test', { id: saved.id })).toMatchObject({
      ok: false,
      message: `The client key ${encryptedKey} is encrypted: give its passphrase (sslpassword).`,
    });
  });

  it('falls back to PGSSLROOTCERT, PGSSLCERT and PGSSLKEY when the profile names no files', async () => {
    process.env.PGSSLROOTCERT = server.files.ca;
    process.env.PGSSLCERT = server.files.clientCert;
    process.env.PGSSLKEY = server.files.clientKey;
    try {
      expect(
        await testDraft(certificateDraft({ sslRootCert: undefined, sslCert: undefined, sslKey: undefined })),
      ).toMatchObject({
        ok: true,
      });
      process.env.PGSSLROOTCERT = server.files.otherCa;
      expect(
        await testDraft(certificateDraft({ sslRootCert: undefined, sslCert: undefined, sslKey: undefined })),
      ).toMatchObject({
        ok: false,
        message: expect.stringContaining(`PGSSLROOTCERT (${server.files.otherCa})`),
      });
    } finally {
      delete process.env.PGSSLROOTCERT;
      delete process.env.PGSSLCERT;
      delete process.env.PGSSLKEY;
    }
  });

  it('refuses a profile whose files are missing or incomplete, naming the field, and saves nothing', async () => {
    const missing = path.join(dataDir, 'missing.crt');
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [certificateDraft({ sslRootCert: missing }), /sslRootCert: .*missing\.crt cannot be read \(no such file\)/],
      [certificateDraft({ sslKey: undefined }), /sslKey: Client key file is required with a client certificate/],
      [
        certificateDraft({ sslCert: 'relative/client.crt' }),
        /sslCert: Client certificate file must be an absolute path/,
      ],
      [certificateDraft({ sslMode: 'disable' }), /sslMode: A client certificate needs TLS/],
      [certificateDraft({ connectTimeoutSeconds: 0 }), /connectTimeoutSeconds: Connect timeout is at least 1 second/],
    ];
    for (const [draft, message] of cases) {
      const response = await backend.dispatch('connections.save', draft);
      expect(response).toMatchObject({
        ok: false,
        error: { kind: 'invalid_input', message: expect.stringMatching(message) },
      });
    }
    expect(await ok('connections.list', {})).toEqual([]);
  });
});
