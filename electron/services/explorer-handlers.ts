// The managed tables: partition tree, sizes, tracker, bucket limit, maintenance.
import { maintainTable } from '../engine/maintain.js';
import {
  leafSizes,
  listManagedTables,
  managedTable,
  partitionTree,
  setBucketLimit,
  sizesReport,
  trackerRows,
} from '../engine/explorer.js';
import { Reporter } from '../engine/reporter.js';
import type { HandlerGroup, ServiceContext } from './context.js';

type ExplorerCommands =
  | 'managed.list'
  | 'explorer.tree'
  | 'explorer.leafSizes'
  | 'explorer.sizes'
  | 'tracker.list'
  | 'tracker.setBucketLimit'
  | 'maintenance.run';

/** Maintenance jobs are not journaled runs; their progress events carry run id 0. */
const MAINTENANCE_RUN_ID = 0;

export function explorerHandlers(context: ServiceContext): HandlerGroup<ExplorerCommands> {
  const schema = context.installSchema;
  return {
    'managed.list': async ({ connectionId }) => listManagedTables(await context.pools.pool(connectionId), schema),
    // Exact counts read every leaf: asked for, watched, and not cut off by the screens' statement timeout.
    'explorer.tree': async ({ connectionId, configId, exactCounts }) =>
      partitionTree(
        await (exactCounts ? context.pools.workPool(connectionId) : context.pools.pool(connectionId)),
        schema,
        configId,
        exactCounts ?? false,
      ),
    'explorer.leafSizes': async ({ connectionId, configId }) =>
      leafSizes(await context.pools.pool(connectionId), schema, configId),
    'explorer.sizes': async ({ connectionId, configId }) =>
      sizesReport(await context.pools.pool(connectionId), schema, configId),
    'tracker.list': async ({ connectionId, configId }) => {
      const pool = await context.pools.pool(connectionId);
      return { table: await managedTable(pool, schema, configId), rows: await trackerRows(pool, schema, configId) };
    },
    'tracker.setBucketLimit': async ({ connectionId, configId, bucketLimit }) =>
      setBucketLimit(await context.pools.pool(connectionId), schema, configId, bucketLimit),
    'maintenance.run': async ({ connectionId, configId, ahead }) => {
      const pool = await context.pools.workPool(connectionId);
      return maintainTable(pool, configId, {
        installSchema: schema,
        ahead,
        reporter: new Reporter(
          MAINTENANCE_RUN_ID,
          (event) => context.emit('run.event', { ...event, connectionId }),
          null,
        ),
      });
    },
  };
}
