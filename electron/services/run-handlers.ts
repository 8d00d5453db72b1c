import { PartwiseError } from '../db/errors.js';
import type { HandlerGroup, ServiceContext } from './context.js';

type RunCommands = 'runs.start' | 'runs.cancel' | 'runs.list' | 'runs.resume' | 'runs.rollback' | 'runs.finalize';

export function runHandlers(_context: ServiceContext): HandlerGroup<RunCommands> {
  const pending = async (): Promise<never> => {
    throw new PartwiseError('blocked', 'This build does not include the run service yet.');
  };
  return {
    'runs.start': pending,
    'runs.cancel': pending,
    'runs.list': pending,
    'runs.resume': pending,
    'runs.rollback': pending,
    'runs.finalize': pending,
  };
}
