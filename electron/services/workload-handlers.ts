// The live workload of a managed table: which statements still read every leaf.
import { managedTable } from '../engine/explorer.js';
import { workloadAfterMigration } from '../engine/workload/index.js';
import type { HandlerGroup, ServiceContext } from './context.js';

export function workloadHandlers(context: ServiceContext): HandlerGroup<'workload.live'> {
  return {
    'workload.live': async ({ connectionId, configId }) => {
      const pool = await context.pools.pool(connectionId);
      const table = await managedTable(pool, context.installSchema, configId);
      // One connection: the analysis prepares statements and sets transaction-local settings.
      const client = await pool.connect();
      try {
        return await workloadAfterMigration(client, table);
      } finally {
        client.release();
      }
    },
  };
}
