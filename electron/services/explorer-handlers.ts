import { PartwiseError } from '../db/errors.js';
import type { HandlerGroup, ServiceContext } from './context.js';

type ExplorerCommands =
  'managed.list' | 'explorer.tree' | 'explorer.sizes' | 'tracker.list' | 'tracker.setBucketLimit' | 'maintenance.run';

export function explorerHandlers(_context: ServiceContext): HandlerGroup<ExplorerCommands> {
  const pending = async (): Promise<never> => {
    throw new PartwiseError('blocked', 'This build does not include the explorer service yet.');
  };
  return {
    'managed.list': pending,
    'explorer.tree': pending,
    'explorer.sizes': pending,
    'tracker.list': pending,
    'tracker.setBucketLimit': pending,
    'maintenance.run': pending,
  };
}
