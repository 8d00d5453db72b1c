// How the `partwise` command finds its server, as users run it: services from
// pg_service.conf (service=NAME and PGSERVICE) with passwords from ~/.pgpass,
// and a migration through an SSH tunnel over verified TLS with a client
// certificate (the real OpenSSH server and a TLS-only PostgreSQL of this run).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestDatabase } from '../testing/database.js';
import { runCli } from '../testing/cli.js';
import { startSshServer, type SshServer } from '../testing/ssh-server.js';
import { startTlsServer, type TlsServer } from '../testing/tls-server.js';

const db = useTestDatabase('cliconn');
let dir: string;
let ssh: SshServer;
let tls: TlsServer;

/** Nothing of the environment of whoever runs the tests may fill in a setting. */
const clean: Record<string, string> = {
  PGHOST: '',
  PGPORT: '',
  PGUSER: '',
  PGDATABASE: '',
  PGPASSWORD: '',
  PGSERVICE: '',
  PGSSLMODE: '',
  PGSSLROOTCERT: '',
  PGSSLCERT: '',
  PGSSLKEY: '',
  SSH_AUTH_SOCK: '',
};

function envWithout(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = { ...extra };
  for (const name of Object.keys(clean)) if (!(name in extra)) env[name] = '';
  return env;
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-cliconn-'));
  [ssh, tls] = await Promise.all([startSshServer(), startTlsServer()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([ssh?.stop(), tls?.stop()]);
  await fs.rm(dir, { recursive: true, force: true });
});

describe('partwise finds its server', () => {
  it('reads service=NAME and PGSERVICE from pg_service.conf, and the password from ~/.pgpass', async () => {
    const url = new URL(db.url);
    const serviceFile = path.join(dir, 'pg_service.conf');
    await fs.writeFile(
      serviceFile,
      `# services for the test\n[other]\nhost=nowhere.invalid\n\n[app db]\nhost=${url.hostname}\nport=${url.port}\ndbname=${db.name}\nuser=${db.owner}\nsslmode=disable\napplication_name=from service\n`,
    );
    const pgpass = path.join(dir, 'pgpass');
    await fs.writeFile(
      pgpass,
      `*:*:nope:*:x\n${url.hostname}:${url.port}:*:${db.owner}:${decodeURIComponent(url.password).replace(/:/g, '\\:')}\n`,
      {
        mode: 0o600,
      },
    );
    const env = envWithout({ PGSERVICEFILE: serviceFile, PGPASSFILE: pgpass, PGSYSCONFDIR: dir });
    const byUrl = await runCli(['status', '--url', "service='app db'"], env);
    expect(byUrl.stderr).toBe('');
    expect(byUrl).toMatchObject({ code: 0, stdout: 'No migration runs in this database.\n' });
    const byEnv = await runCli(['status'], { ...env, PGSERVICE: 'app db' });
    expect(byEnv).toMatchObject({ code: 0, stdout: 'No migration runs in this database.\n' });

    const missing = await runCli(['status', '--url', 'service=nope'], env);
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr).toBe(
      `partwise: service "nope" is not defined in ${serviceFile} or ${path.join(dir, 'pg_service.conf')}\n`,
    );
    const bad = await runCli(['status', '--url', 'postgresql://h:70000/d'], env);
    expect(bad).toMatchObject({
      code: 1,
      stderr: 'partwise: --url: port: "70000" is not a port number from 1 to 65535\n',
    });
    const badSsh = await runCli(['status', '--url', db.url, '--ssh', 'bastion.example.com'], env);
    expect(badSsh.stderr).toBe('partwise: --ssh: expected user@host or user@host:port, got "bastion.example.com"\n');
  });

  it('migrates through an SSH tunnel over verified TLS with a client certificate', async () => {
    const admin = new pg.Client(tls.adminUrl.replace(/\/postgres$/, `/${tls.database}`));
    await admin.connect();
    try {
      await admin.query(`SET ROLE ${tls.certUser}`);
      await admin.query(`CREATE TABLE events (id bigserial PRIMARY KEY, account_id int NOT NULL, body text)`);
      await admin.query(`INSERT INTO events (account_id, body) SELECT 1 + g % 5, 'e' FROM generate_series(1, 3000) g`);
      await admin.query('ANALYZE events');
    } finally {
      await admin.end();
    }
    const query = new URLSearchParams({
      sslmode: 'verify-full',
      sslrootcert: tls.files.ca,
      sslcert: tls.files.clientCert,
      sslkey: tls.files.clientKey,
    });
    // localhost as the bastion sees it: the certificate names localhost, and verify-full checks it.
    const url = `postgresql://${tls.certUser}@localhost:${tls.port}/${tls.database}?${query.toString().replace(/\+/g, '%20')}`;
    const tunnel = ['--ssh', `${ssh.user}@${ssh.host}:${ssh.port}`, '--ssh-key', ssh.key];
    const env = envWithout({});

    const unknownHost = await runCli(
      ['status', '--url', url, ...tunnel, '--ssh-known-hosts', path.join(dir, 'none')],
      env,
    );
    expect(unknownHost.code).toBe(1);
    expect(unknownHost.stderr).toContain(`is not known yet: ssh-ed25519 ${ssh.hostKey.fingerprint}`);
    expect(unknownHost.stderr).toContain(`(once checked, pass --ssh-host-key ${ssh.hostKey.fingerprint},`);

    const migrated = await runCli(
      [
        'migrate',
        '--url',
        url,
        ...tunnel,
        '--ssh-host-key',
        ssh.hostKey.fingerprint,
        '--ssh-known-hosts',
        path.join(dir, 'none'),
        '--table',
        'events',
        '--key',
        'account_id',
        '--bucket-limit',
        '400',
        '--yes',
        '--json',
      ],
      env,
    );
    expect(migrated.stderr).toBe('');
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toContain('"status":"succeeded"');

    const check = new pg.Client(tls.adminUrl.replace(/\/postgres$/, `/${tls.database}`));
    await check.connect();
    try {
      const { rows } = await check.query<{ kind: string; n: string }>(
        `SELECT (SELECT relkind::text FROM pg_class WHERE oid = 'events'::regclass) AS kind, (SELECT count(*) FROM events) AS n`,
      );
      expect(rows[0]).toEqual({ kind: 'v', n: '3000' });
    } finally {
      await check.end();
    }

    // With the wrong CA the same command stops at the TLS check, saying which.
    const wrongCa = url.replace(encodeURIComponent(tls.files.ca), encodeURIComponent(tls.files.otherCa));
    const refused = await runCli(['status', '--url', wrongCa, ...tunnel, '--ssh-known-hosts', ssh.knownHostsFile], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^partwise: TLS check failed \(unknown CA\): the certificate of localhost:\d+ is not signed by a CA in the CA file .*other-ca\.crt\./,
    );
  });

  it('opens an encrypted client key with the sslpassword of the URL, and says when it is missing', async () => {
    const encryptedKey = path.join(dir, 'client-encrypted.key');
    execFileSync('openssl', [
      'pkey',
      '-in',
      tls.files.clientKey,
      '-aes256',
      '-passout',
      'pass:open sesame',
      '-out',
      encryptedKey,
    ]);
    const url = (extra: Record<string, string>) =>
      `postgresql://${tls.certUser}@localhost:${tls.port}/${tls.database}?${new URLSearchParams({
        sslmode: 'verify-full',
        sslrootcert: tls.files.ca,
        sslcert: tls.files.clientCert,
        sslkey: encryptedKey,
        ...extra,
      })
        .toString()
        .replace(/\+/g, '%20')}`;
    const env = envWithout({});
    const missing = await runCli(['status', '--url', url({})], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`The client key ${encryptedKey} is encrypted: give its passphrase (sslpassword).`);
    const opened = await runCli(['status', '--url', url({ sslpassword: 'open sesame' })], env);
    expect(opened.stderr).toBe('');
    expect(opened.code).toBe(0);
  });
});
