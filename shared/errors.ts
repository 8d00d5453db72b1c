// Errors as they cross from the engine to the CLI and the renderer: a kind the
// UI can act on, a one-line message for people, and PostgreSQL's own details.
import { z } from 'zod';

export const errorKinds = [
  'invalid_input',
  'not_found',
  'privilege',
  'conflict',
  'blocked',
  'connection',
  'auth',
  'lock_timeout',
  'verification_failed',
  'cancelled',
  'internal',
] as const;

export const ErrorKind = z.enum(errorKinds);
export type ErrorKind = z.infer<typeof ErrorKind>;

export const ErrorInfo = z.object({
  kind: ErrorKind,
  message: z.string(),
  hint: z.string().optional(),
  detail: z.string().optional(),
  sqlstate: z.string().optional(),
});
export type ErrorInfo = z.infer<typeof ErrorInfo>;
