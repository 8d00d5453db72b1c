import { PartwiseError } from '../db/errors.js';
import type { HandlerGroup, ServiceContext } from './context.js';

export function catalogHandlers(_context: ServiceContext): HandlerGroup<'tables.list' | 'tables.detail'> {
  const pending = async (): Promise<never> => {
    throw new PartwiseError('blocked', 'This build does not include the catalog service yet.');
  };
  return { 'tables.list': pending, 'tables.detail': pending };
}
