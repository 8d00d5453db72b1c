import { PartwiseError } from '../db/errors.js';
import type { HandlerGroup, ServiceContext } from './context.js';

export function planHandlers(_context: ServiceContext): HandlerGroup<'plan.create'> {
  return {
    'plan.create': async () => {
      throw new PartwiseError('blocked', 'This build does not include the plan service yet.');
    },
  };
}
