// A fresh database per test file in the run's throwaway cluster, with a pool
// and helpers. Tests use real PostgreSQL only.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { ident } from '../db/sql.js';

export interface TestDatabase {
  name: string;
  url: string;
  major: number;
  pool: pg.Pool;
  /** Runs one statement and returns its rows. */
  query<T extends pg.QueryResultRow = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /** A dedicated connection; the caller ends it. */
  connect(): Promise<pg.Client>;
}

export function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export async function createDatabase(prefix = 'test'): Promise<TestDatabase & { drop(): Promise<void> }> {
  const adminUrl = inject('pgAdminUrl');
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`CREATE DATABASE ${ident(name)}`);
  await admin.end();
  const url = databaseUrl(adminUrl, name);
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  pool.on('error', () => undefined); // connections killed by tests on purpose
  return {
    name,
    url,
    major: inject('pgMajor'),
    pool,
    async query(text, values) {
      return (await pool.query(text, values)).rows;
    },
    async connect() {
      const client = new pg.Client(url);
      client.on('error', () => undefined);
      await client.connect();
      return client;
    },
    async drop() {
      await pool.end();
      const cleanup = new pg.Client(adminUrl);
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
      await cleanup.end();
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
