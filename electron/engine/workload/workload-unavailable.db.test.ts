// Without pg_stat_statements the plan still works: it says that the workload
// is unknown, why, and the steps that make it known; nothing blocks on it.
// Two servers: the suite's, which loads the module (here not created in the
// database), and one started here that does not load it at all.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { THROWAWAY_SETTINGS, type RunningCluster } from '../../embedded/cluster.js';
import { requestedMajor, startTemporaryCluster } from '../../embedded/temporary-cluster.js';
import { formatPlan } from '../../cli/plan-text.js';
import { useTestDatabase } from '../../testing/database.js';
import { planMigration } from '../index.js';

const db = useTestDatabase('noworkload');
const TARGET = { schema: 'public', table: 'events', keyColumn: 'tenant_id', bucketLimit: 1000 };
const TABLE = `CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id int NOT NULL, body text)`;
const ROWS = `INSERT INTO events (tenant_id, body) SELECT g % 5, 'x' FROM generate_series(1, 2000) g`;

async function planAs(client: pg.ClientBase) {
  const plan = await planMigration(client, TARGET, { counting: 'exact' });
  return { plan, issue: plan.issues.find((i) => i.code === 'workload_unknown') };
}

describe('when the server loads pg_stat_statements but the database lacks it', () => {
  beforeAll(async () => {
    await db.query(TABLE);
    await db.query(ROWS);
    await db.query(`SELECT * FROM events WHERE id = $1`, [1]);
  });

  it('plans anyway and says to create the extension and grant pg_read_all_stats', async () => {
    const client = await db.connect();
    try {
      const { plan, issue } = await planAs(client);
      expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
      expect(plan.workload).toMatchObject({ source: { available: false }, statements: [], cost: null });
      expect(issue).toMatchObject({ severity: 'warning' });
      expect(issue!.message).toContain(`loaded by the server but not created in database ${db.name}`);
      expect(issue!.fix).toContain('CREATE EXTENSION pg_stat_statements;');
      expect(issue!.fix).toContain(`GRANT pg_read_all_stats TO "${db.owner}";`);
      expect(issue!.fix).not.toContain('shared_preload_libraries');
      expect(formatPlan(plan, { ddl: false })).toContain('CREATE EXTENSION pg_stat_statements;');
    } finally {
      await client.end();
    }
  });
});

describe('when the role may not read pg_stat_statements', () => {
  it('plans anyway, says why, and what to grant', async () => {
    await db.admin.query('CREATE EXTENSION pg_stat_statements');
    await db.admin.query('REVOKE SELECT ON pg_stat_statements FROM PUBLIC');
    const client = await db.connect();
    try {
      const { plan, issue } = await planAs(client);
      expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
      expect(issue!.message).toContain('reading pg_stat_statements failed: permission denied');
      expect(issue!.fix).toContain(`GRANT SELECT ON "public".pg_stat_statements TO "${db.owner}";`);
    } finally {
      await client.end();
    }
  });
});

describe('when the server does not load pg_stat_statements', () => {
  let cluster: RunningCluster;
  let ownerUrl: string;

  beforeAll(async () => {
    cluster = await startTemporaryCluster(requestedMajor(), 'no-pgss', THROWAWAY_SETTINGS);
    const admin = new pg.Client(cluster.url());
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE owner LOGIN PASSWORD 'owner'`);
      await admin.query(`CREATE DATABASE app OWNER owner`);
      await admin.query(`CREATE DATABASE created OWNER owner`);
    } finally {
      await admin.end();
    }
    // In one database a superuser created the extension anyway (which PostgreSQL allows).
    const created = new pg.Client(cluster.url('created'));
    await created.connect();
    await created.query('CREATE EXTENSION pg_stat_statements').finally(() => created.end());
    const url = new URL(cluster.url());
    url.username = 'owner';
    url.password = 'owner';
    ownerUrl = url.toString();
    for (const database of ['app', 'created']) {
      url.pathname = `/${database}`;
      const owner = new pg.Client(url.toString());
      await owner.connect();
      try {
        await owner.query(TABLE);
        await owner.query(ROWS);
      } finally {
        await owner.end();
      }
    }
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  async function planIn(database: string) {
    const url = new URL(ownerUrl);
    url.pathname = `/${database}`;
    const client = new pg.Client(url.toString());
    await client.connect();
    try {
      return await planAs(client);
    } finally {
      await client.end();
    }
  }

  it('says to preload it, restart, and create the extension', async () => {
    const { plan, issue } = await planIn('app');
    expect(plan.issues.filter((i) => i.severity === 'blocker')).toEqual([]);
    expect(issue!.message).toContain('neither loaded by the server nor created in database app');
    expect(issue!.fix).toContain("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';");
    expect(issue!.fix).toContain('CREATE EXTENSION pg_stat_statements;');
  });

  it('says to preload it when the extension exists but reading it fails', async () => {
    const { plan, issue } = await planIn('created');
    expect(plan.workload!.source).toMatchObject({ available: false });
    expect(issue!.message).toContain('created in database created but the server does not load it');
    expect(issue!.fix).toContain('shared_preload_libraries');
    expect(issue!.fix).not.toContain('CREATE EXTENSION');
  });
});
