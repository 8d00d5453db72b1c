// Turning whatever a query or mutation threw into what the UI shows.
import type { ErrorKind } from '../../shared/errors';
import { ApiError } from './transport';

export interface ShownError {
  kind: ErrorKind;
  message: string;
  hint?: string;
  detail?: string;
}

export function toShownError(error: unknown): ShownError {
  if (error instanceof ApiError) {
    const info = error.info;
    return { kind: info.kind, message: info.message, hint: info.hint, detail: info.detail };
  }
  if (error instanceof Error) return { kind: 'internal', message: error.message };
  return { kind: 'internal', message: String(error) };
}

export function errorKind(error: unknown): ErrorKind | undefined {
  return error instanceof ApiError ? error.kind : undefined;
}

/**
 * Failures worth retrying at once: a lock another session holds may be free a
 * moment later. A server that cannot be reached is not retried query by
 * query: the heartbeat notices when it is back and everything is fetched again
 * (see connection-health), so that its screens say so at once.
 */
export function isTransient(error: unknown): boolean {
  return errorKind(error) === 'lock_timeout';
}
