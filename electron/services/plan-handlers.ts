// The dry-run plan of the Plan screen. Read-only.
import type { MigrationPlan } from '../../shared/plan.js';
import { planMigration } from '../engine/plan.js';
import type { HandlerGroup, ServiceContext } from './context.js';

export function planHandlers(context: ServiceContext): HandlerGroup<'plan.create'> {
  return {
    'plan.create': async ({ connectionId, targets, exact }) => {
      const pool = await context.pools.pool(connectionId);
      // One connection for the whole plan: inspecting a table sets its search_path for a moment.
      const client = await pool.connect();
      try {
        const plans: MigrationPlan[] = [];
        for (const target of targets) {
          plans.push(
            await planMigration(client, target, {
              // Off, the switch still counts what is cheap to count.
              counting: exact ? 'exact' : 'auto',
              installSchema: context.installSchema,
              ddlKeyLimit: 200,
              ddlStatementLimit: 2000,
            }),
          );
        }
        return plans;
      } finally {
        client.release();
      }
    },
  };
}
