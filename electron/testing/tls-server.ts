// A PostgreSQL server with TLS required, for the tests of certificate
// handling: a CA, a server certificate for "localhost" only, client
// certificates and a second, unknown CA, all generated per run with openssl.
// pg_hba.conf lets the superuser in without TLS (the harness's own checks)
// and every other role only over TLS: `cert_user` by client certificate,
// `password_user` by password.
import { execFileSync } from 'node:child_process';
import crypto, { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import pg from 'pg';
import { startCluster, THROWAWAY_SETTINGS, type RunningCluster } from '../embedded/cluster.js';
import { requestedMajor } from '../embedded/temporary-cluster.js';
import { runAsUser } from '../embedded/run-as.js';

export interface TlsFiles {
  /** The CA that signed the server and client certificates. */
  ca: string;
  /** A CA that signed nothing the server uses. */
  otherCa: string;
  /** Client certificate and key for `cert_user` (CN=cert_user). */
  clientCert: string;
  clientKey: string;
  /** A client certificate for `cert_user` signed by the other CA: the server does not trust it. */
  strangerCert: string;
  strangerKey: string;
  /** A server certificate for localhost that expired in 2020. */
  expiredServerCert: string;
  serverCert: string;
  serverKey: string;
}

export interface TlsServer {
  port: number;
  /** Owns the `app` database; logs in only with its client certificate. */
  certUser: string;
  /** Logs in with a password, over TLS. */
  passwordUser: string;
  password: string;
  database: string;
  files: TlsFiles;
  /** The superuser's URL (no TLS). */
  adminUrl: string;
  /** Serves the given certificate from now on (for new connections). */
  useServerCertificate(file: string): Promise<void>;
  stop(): Promise<void>;
}

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(cwd: string, name: string): void {
  openssl(cwd, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', name]);
}

function newCa(cwd: string, name: string, subject: string): void {
  newKey(cwd, `${name}.key`);
  openssl(cwd, [
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    subject,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

/** A certificate signed by `ca`; `dates` ["YYMMDDHHMMSSZ", ...] for one valid at another time. */
function newCertificate(
  cwd: string,
  name: string,
  ca: string,
  subject: string,
  extensions: string,
  dates?: [string, string],
): void {
  newKey(cwd, `${name}.key`);
  openssl(cwd, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  const extFile = `${name}.ext`;
  execFileSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', extensions, path.join(cwd, extFile)]);
  if (!dates) {
    openssl(cwd, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      extFile,
    ]);
    return;
  }
  // x509 -req cannot date a certificate in the past; `openssl ca` can.
  const db = path.join(cwd, `${name}-ca`);
  execFileSync('mkdir', ['-p', db]);
  execFileSync('sh', ['-c', `: > "$1/index.txt"; echo 1000 > "$1/serial"`, 'sh', db]);
  const config = `[ ca ]\ndefault_ca = test\n[ test ]\ndatabase = ${db}/index.txt\nnew_certs_dir = ${db}\nserial = ${db}/serial\ndefault_md = sha256\npolicy = any\n[ any ]\ncommonName = supplied\n`;
  execFileSync('sh', ['-c', `printf '%s' "$1" > "$2"`, 'sh', config, path.join(db, 'ca.cnf')]);
  openssl(cwd, [
    'ca',
    '-batch',
    '-config',
    path.join(db, 'ca.cnf'),
    '-cert',
    `${ca}.crt`,
    '-keyfile',
    `${ca}.key`,
    '-in',
    `${name}.csr`,
    '-out',
    `${name}.crt`,
    '-startdate',
    dates[0],
    '-enddate',
    dates[1],
    '-notext',
    '-extfile',
    extFile,
  ]);
}

async function runOnce(url: string, text: string): Promise<void> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** The SHA-256 fingerprint of the certificate the server presents now. */
async function servedCertificate(port: number, adminUrl: string): Promise<string> {
  const url = new URL(adminUrl);
  const client = new pg.Client({
    host: 'localhost',
    port,
    user: 'postgres',
    password: decodeURIComponent(url.password),
    database: 'postgres',
    ssl: { rejectUnauthorized: false },
  });
  await client.connect();
  try {
    const socket = (client as unknown as { connection: { stream: TLSSocket } }).connection.stream;
    return socket.getPeerX509Certificate()!.fingerprint256;
  } finally {
    await client.end();
  }
}

export async function startTlsServer(): Promise<TlsServer> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-test-tls-'));
  await fs.chmod(root, 0o711);
  const dir = path.join(root, 'certs');
  await fs.mkdir(dir, { mode: 0o755 });
  const serverExt = 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth';
  newCa(dir, 'ca', '/CN=Partwise Test CA');
  newCa(dir, 'other-ca', '/CN=Someone Else CA');
  newCertificate(dir, 'server', 'ca', '/CN=localhost', serverExt);
  newCertificate(dir, 'expired', 'ca', '/CN=localhost', serverExt, ['200101000000Z', '200201000000Z']);
  newCertificate(dir, 'client', 'ca', '/CN=cert_user', 'extendedKeyUsage=clientAuth');
  newCertificate(dir, 'stranger', 'other-ca', '/CN=cert_user', 'extendedKeyUsage=clientAuth');
  await fs.copyFile(path.join(dir, 'server.crt'), path.join(dir, 'current.crt'));
  await fs.copyFile(path.join(dir, 'server.key'), path.join(dir, 'current.key'));
  const runAs = runAsUser();
  for (const name of await fs.readdir(dir)) {
    const file = path.join(dir, name);
    // The server reads its key as its own user, and refuses a key others can read.
    await fs.chmod(file, name.endsWith('.key') ? 0o600 : 0o644);
    if (runAs && (name.startsWith('current') || name === 'ca.crt')) {
      await fs.chown(file, runAs.uid, runAs.gid);
    }
  }
  const hba = path.join(root, 'pg_hba.conf');
  await fs.writeFile(
    hba,
    [
      'local all all trust',
      'hostnossl all postgres 127.0.0.1/32 scram-sha-256',
      'hostssl all cert_user 127.0.0.1/32 cert',
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
    { mode: 0o644 },
  );
  let cluster: RunningCluster;
  try {
    cluster = await startCluster({
      major: requestedMajor(),
      dataDir: path.join(root, 'data'),
      listen: 'tcp',
      settings: {
        ...THROWAWAY_SETTINGS,
        hba_file: hba,
        ssl: 'on',
        ssl_cert_file: path.join(dir, 'current.crt'),
        ssl_key_file: path.join(dir, 'current.key'),
        ssl_ca_file: path.join(dir, 'ca.crt'),
      },
    });
  } catch (error) {
    await fs.rm(root, { recursive: true, force: true });
    throw error;
  }
  const password = randomBytes(12).toString('base64url');
  const adminUrl = cluster.url();
  await runOnce(adminUrl, `CREATE ROLE cert_user LOGIN`);
  await runOnce(adminUrl, `CREATE ROLE password_user LOGIN PASSWORD '${password}'`);
  await runOnce(adminUrl, `CREATE DATABASE app OWNER cert_user`);
  await runOnce(cluster.url('app'), `GRANT CREATE ON SCHEMA public TO cert_user`);
  const file = (name: string) => path.join(dir, name);
  return {
    port: cluster.params.port,
    certUser: 'cert_user',
    passwordUser: 'password_user',
    password,
    database: 'app',
    adminUrl,
    files: {
      ca: file('ca.crt'),
      otherCa: file('other-ca.crt'),
      clientCert: file('client.crt'),
      clientKey: file('client.key'),
      strangerCert: file('stranger.crt'),
      strangerKey: file('stranger.key'),
      expiredServerCert: file('expired.crt'),
      serverCert: file('server.crt'),
      serverKey: file('server.key'),
    },
    async useServerCertificate(certificate) {
      // Settings given on the command line outrank ALTER SYSTEM, so the files themselves are replaced.
      const key = certificate.replace(/\.crt$/, '.key');
      await fs.copyFile(certificate, file('current.crt'));
      await fs.copyFile(key, file('current.key'));
      await runOnce(adminUrl, 'SELECT pg_reload_conf()');
      // The reload is a signal: wait until a new TLS session is served the new certificate.
      const wanted = new crypto.X509Certificate(await fs.readFile(certificate)).fingerprint256;
      for (let attempt = 0; ; attempt++) {
        if ((await servedCertificate(cluster.params.port, adminUrl)) === wanted) return;
        if (attempt > 100) throw new Error(`the server did not take ${certificate} within 10 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await cluster.stop();
      await fs.rm(root, { recursive: true, force: true });
    },
  };
}
