// Turning whatever a query or mutation threw into what the UI shows.
import { ApiError } from './transport';

export interface ShownError {
  kind: string;
  message: string;
  hint?: string;
  detail?: string;
}

export function toShownError(error: unknown): ShownError {
  if (error instanceof ApiError) {
    const info = error.info as ShownError;
    return { kind: info.kind, message: info.message, hint: info.hint, detail: info.detail };
  }
  if (error instanceof Error) return { kind: 'internal', message: error.message };
  return { kind: 'internal', message: String(error) };
}

export function errorKind(error: unknown): string | undefined {
  return error instanceof ApiError ? error.kind : undefined;
}

/** Kinds worth retrying automatically: the server or network may come back. */
export function isTransient(error: unknown): boolean {
  const kind = errorKind(error);
  return kind === 'connection' || kind === 'lock_timeout';
}
