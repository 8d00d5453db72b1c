// The suite's PostgreSQL: one throwaway cluster for the whole run (started by
// the global setup), with a seeded template database; each test gets its own
// copy of the template (CREATE DATABASE ... TEMPLATE copies files, so a fresh
// 40,000-row database costs a fraction of a second).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startCluster, THROWAWAY_SETTINGS, type RunningCluster } from '../../electron/embedded/cluster.js';
import { requestedMajor, startTemporaryCluster } from '../../electron/embedded/temporary-cluster.js';
import { APP_ROLE, seed } from './seed.js';

export const TEMPLATE_DATABASE = 'e2e_template';
const ENV_KEY = 'PARTWISE_E2E_POSTGRES';

/** What tests need to reach the cluster; passed from the global setup to workers through the environment. */
export interface E2ePostgres {
  host: string;
  port: number;
  major: number;
  adminUser: string;
  adminPassword: string;
  appUser: string;
  appPassword: string;
}

function adminUrl(server: E2ePostgres, database = 'postgres'): string {
  const url = new URL('postgresql://localhost');
  url.hostname = server.host;
  url.port = String(server.port);
  url.username = server.adminUser;
  url.password = server.adminPassword;
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export async function startE2ePostgres(): Promise<{ server: E2ePostgres; stop(): Promise<void> }> {
  const major = requestedMajor();
  const cluster = await startTemporaryCluster(major, 'e2e-pg', {
    ...THROWAWAY_SETTINGS,
    max_connections: 100,
    shared_preload_libraries: 'pg_stat_statements',
  });
  const server: E2ePostgres = {
    host: cluster.params.host,
    port: cluster.params.port,
    major,
    adminUser: cluster.params.user,
    adminPassword: cluster.params.password!,
    appUser: APP_ROLE,
    appPassword: randomBytes(12).toString('base64url'),
  };
  const stop = () => cluster.stop();
  try {
    await createSeededDatabase(
      { host: server.host, port: server.port, user: server.adminUser, password: server.adminPassword },
      {
        host: server.host,
        port: server.port,
        user: server.appUser,
        password: server.appPassword,
        database: TEMPLATE_DATABASE,
      },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { server, stop };
}

/**
 * The app's login role and a database it owns, seeded as that role: the
 * tables belong to the role the app connects as, as on a real server.
 */
async function createSeededDatabase(
  admin: pg.ClientConfig,
  app: pg.ClientConfig & { user: string; password: string; database: string },
): Promise<void> {
  const client = new pg.Client({ ...admin, database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE ROLE ${APP_ROLE} LOGIN PASSWORD ${pg.escapeLiteral(app.password)}`);
    await client.query(`CREATE DATABASE ${pg.escapeIdentifier(app.database)} OWNER ${APP_ROLE}`);
  } finally {
    await client.end();
  }
  const owner = new pg.Client(app);
  await owner.connect();
  try {
    await seed(owner);
  } finally {
    await owner.end();
  }
}

export function publishE2ePostgres(server: E2ePostgres): void {
  process.env[ENV_KEY] = JSON.stringify(server);
}

export function e2ePostgres(): E2ePostgres {
  const raw = process.env[ENV_KEY];
  if (!raw) throw new Error(`${ENV_KEY} is not set: run the end-to-end tests with \`npm run test:e2e\`.`);
  return JSON.parse(raw) as E2ePostgres;
}

function appParams(server: E2ePostgres, database: string): pg.ClientConfig {
  return { host: server.host, port: server.port, user: server.appUser, password: server.appPassword, database };
}

/** A database of its own for one test: a copy of the seeded template, dropped afterwards. */
export interface TestDatabase {
  name: string;
  /** What a user types into the Connections form. */
  connection: { host: string; port: number; database: string; user: string; password: string };
  /** Runs one statement as the superuser (which sees everything, whatever the test did to privileges). */
  query<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /** Runs one statement as the role the app connects as (what an application writing to the table would be). */
  queryAsOwner<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /**
   * A reader of the application with a transaction open on `table` (as the
   * owner role): a swap waits for it, retrying. Returns the function that ends it.
   */
  holdReader(table: string): Promise<() => Promise<void>>;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'e2e'): Promise<TestDatabase> {
  const server = e2ePostgres();
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client(adminUrl(server));
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(name)} TEMPLATE ${TEMPLATE_DATABASE} OWNER ${APP_ROLE}`);
  } finally {
    await admin.end();
  }
  const pool = new pg.Pool({ connectionString: adminUrl(server, name), max: 3 });
  pool.on('error', () => undefined);
  return {
    name,
    connection: {
      host: server.host,
      port: server.port,
      database: name,
      user: server.appUser,
      password: server.appPassword,
    },
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async queryAsOwner(text, values) {
      const client = new pg.Client(appParams(server, name));
      await client.connect();
      try {
        return (await client.query(text, values)).rows;
      } finally {
        await client.end();
      }
    },
    async holdReader(table) {
      const client = new pg.Client(appParams(server, name));
      await client.connect();
      await client.query('BEGIN');
      await client.query(`SELECT count(*) FROM ${table}`);
      return async () => {
        await client.query('COMMIT');
        await client.end();
      };
    },
    async drop() {
      await pool.end();
      const cleanup = new pg.Client(adminUrl(server));
      await cleanup.connect();
      try {
        await cleanup.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await cleanup.end();
      }
    },
  };
}

/**
 * A server of its own that a test can stop and start again on the same port,
 * as a DBA's server restarts under the app (the suite's shared server must
 * stay up for the other tests). Seeded like the template: the app's role owns
 * a database with the seed tables.
 */
export interface RestartableServer {
  /** What a user types into the Connections form. */
  connection: TestDatabase['connection'];
  /** Stops the server (a fast shutdown: sessions are ended, as on `pg_ctl stop`). */
  stop(): Promise<void>;
  /** Starts it again with the same data, port and password. */
  start(): Promise<void>;
  /** Stops it and removes its files. */
  close(): Promise<void>;
}

export async function startRestartableServer(): Promise<RestartableServer> {
  const major = requestedMajor();
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'partwise-e2e-restart-'));
  // When this process is root the server runs as `postgres`, which must reach its data directory.
  await fs.chmod(root, 0o711);
  const dataDir = path.join(root, 'data');
  const settings = { ...THROWAWAY_SETTINGS, max_connections: 40 };
  let cluster: RunningCluster | null = await startCluster({ major, dataDir, listen: 'tcp', settings });
  const { port, password } = cluster.params;
  const appPassword = randomBytes(12).toString('base64url');
  const database = 'restart_app';
  const connection = { host: cluster.params.host, port, database, user: APP_ROLE, password: appPassword };
  const close = async () => {
    await cluster?.stop();
    cluster = null;
    await fs.rm(root, { recursive: true, force: true });
  };
  try {
    await createSeededDatabase(cluster.params, connection);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    connection,
    async stop() {
      await cluster?.stop();
      cluster = null;
    },
    async start() {
      if (cluster) return;
      cluster = await startCluster({ major, dataDir, listen: 'tcp', port, password, settings });
    },
    close,
  };
}
