// Tables and their columns, for the Tables screen.
import { listTables, tableDetail } from '../engine/tables.js';
import type { HandlerGroup, ServiceContext } from './context.js';

export function catalogHandlers(context: ServiceContext): HandlerGroup<'tables.list' | 'tables.detail'> {
  return {
    'tables.list': async ({ connectionId, schema }) =>
      listTables(await context.pools.pool(connectionId), context.installSchema, schema),
    'tables.detail': async ({ connectionId, schema, table }) =>
      tableDetail(await context.pools.pool(connectionId), schema, table),
  };
}
