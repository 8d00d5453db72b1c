// The pools a ServiceContext hands out, for handler tests that call the real
// dispatcher on one test database: the screens and work share the test's
// pool; each run gets a pool of its own of the size the app would give it, so
// that a run needing more connections than its rule allows waits (and the
// test times out) as it would in the app.
import pg from 'pg';
import { connectionsForRun } from '../../shared/plan.js';
import type { PoolProvider } from '../services/context.js';
import type { TestDatabase } from './database.js';

/** Pools for the connection id `id` (others are unknown, as an unsaved profile id is). */
export function testPools(db: Pick<TestDatabase, 'pool' | 'url'>, id = 'main'): PoolProvider {
  const known = (connectionId: string): void => {
    if (connectionId !== id) throw new Error(`unknown connection ${connectionId}`);
  };
  return {
    pool: async (connectionId) => (known(connectionId), db.pool),
    workPool: async (connectionId) => (known(connectionId), db.pool),
    runPool: async (connectionId, workers) => {
      known(connectionId);
      const pool = new pg.Pool({ connectionString: db.url, max: connectionsForRun(workers) });
      pool.on('error', () => undefined);
      return { pool, end: () => pool.end() };
    },
  };
}
