// A fresh database per test file in the run's throwaway cluster, with a pool
// and helpers. Tests use real PostgreSQL only, and connect the way users do on
// managed databases: as an ordinary role (no superuser, no CREATEROLE) that
// owns the database, and so the tables it creates. The cluster's superuser is
// kept apart (`admin`) for what only a DBA with those rights would do:
// creating application roles, loading extensions, changing server settings.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { ident } from '../db/sql.js';

export interface Queries {
  /** Runs one statement and returns its rows. */
  query<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
}

/** A login role made for one test database, connected to on demand. */
export interface TestRole extends Queries {
  /** The role's name (unique in the cluster), quoted for SQL. */
  sql: string;
  name: string;
  url: string;
  /** A dedicated connection as this role; the caller ends it. */
  connect(): Promise<pg.Client>;
}

export interface TestDatabase extends Queries {
  name: string;
  /** Connection URL of the owner: a non-superuser role that owns the database. */
  url: string;
  /** The owning role's name. */
  owner: string;
  major: number;
  /** A pool of connections as the owner. */
  pool: pg.Pool;
  /** A dedicated connection as the owner; the caller ends it. */
  connect(): Promise<pg.Client>;
  /** The cluster's superuser, in this database: for what an application's owner cannot do itself. */
  admin: Queries & { url: string };
  /**
   * Creates a login role for this test (its name is prefixed to stay unique in
   * the cluster) with the given attributes, e.g. `NOINHERIT`. Roles are dropped
   * with the database.
   */
  createRole(name: string, attributes?: string): Promise<TestRole>;
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

function withUser(baseUrl: string, user: string, password: string): string {
  const url = new URL(baseUrl);
  url.username = encodeURIComponent(user);
  url.password = encodeURIComponent(password);
  return url.toString();
}

async function runOnce<T extends pg.QueryResultRow>(url: string, text: string, values?: unknown[]): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Until `database` has no session left (5 s at most). pg-pool's end()
 * resolves once its clients are told to end, before their connections close,
 * and so do the pools a test file ends in its afterAll: dropped WITH (FORCE)
 * at once, the server terminated those still closing, and a client of a pool
 * without an error listener threw that as an unhandled error, failing the
 * run (CI, registry-fill.db.test.ts on 18). A session still there after 5 s
 * is one a test left open: FORCE ends it.
 */
async function sessionsGone(clusterAdminUrl: string, database: string): Promise<void> {
  const client = new pg.Client(clusterAdminUrl);
  await client.connect();
  try {
    for (const started = Date.now(); Date.now() - started < 5_000;) {
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
        [database],
      );
      if (rows[0]!.n === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    console.warn(`test database ${database}: sessions still open 5 s after its pool ended; dropped with them`);
  } finally {
    await client.end();
  }
}

async function connectTo(url: string): Promise<pg.Client> {
  const client = new pg.Client(url);
  client.on('error', () => undefined); // connections killed by tests on purpose
  await client.connect();
  return client;
}

export async function createDatabase(prefix = 'test'): Promise<TestDatabase & { drop(): Promise<void> }> {
  const clusterAdminUrl = inject('pgAdminUrl');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const owner = `${name}_owner`;
  const ownerPassword = randomBytes(12).toString('base64url');
  const roles: string[] = [owner];
  await runOnce(
    clusterAdminUrl,
    `CREATE ROLE ${ident(owner)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '${ownerPassword}'`,
  );
  await runOnce(clusterAdminUrl, `CREATE DATABASE ${ident(name)} OWNER ${ident(owner)}`);
  const adminUrl = databaseUrl(clusterAdminUrl, name);
  const url = withUser(adminUrl, owner, ownerPassword);
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  pool.on('error', () => undefined); // connections killed by tests on purpose
  const admin = {
    url: adminUrl,
    query: <T extends pg.QueryResultRow>(text: string, values?: unknown[]) => runOnce<T>(adminUrl, text, values),
  };
  return {
    name,
    url,
    owner,
    major: inject('pgMajor'),
    pool,
    admin,
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    connect: () => connectTo(url),
    async createRole(roleName, attributes = '') {
      const full = `${name}_${roleName}`;
      const password = randomBytes(12).toString('base64url');
      await admin.query(`CREATE ROLE ${ident(full)} LOGIN ${attributes} PASSWORD '${password}'`);
      roles.push(full);
      const roleUrl = withUser(adminUrl, full, password);
      return {
        name: full,
        sql: ident(full),
        url: roleUrl,
        query: (text, values) => runOnce(roleUrl, text, values),
        connect: () => connectTo(roleUrl),
      };
    },
    async drop() {
      await pool.end();
      await sessionsGone(clusterAdminUrl, name);
      await runOnce(clusterAdminUrl, `DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
      for (const role of roles.reverse()) await runOnce(clusterAdminUrl, `DROP ROLE IF EXISTS ${ident(role)}`);
    },
  };
}

/** Registers a database for the current test file, created before and dropped after its tests. */
export function useTestDatabase(prefix?: string): TestDatabase {
  let database: Awaited<ReturnType<typeof createDatabase>> | undefined;
  const handle = {} as TestDatabase;
  beforeAll(async () => {
    database = await createDatabase(prefix);
    Object.assign(handle, database);
  }, 60_000);
  afterAll(async () => {
    await database?.drop();
  }, 60_000);
  return handle;
}
