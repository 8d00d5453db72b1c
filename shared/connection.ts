// Connection profiles as the renderer sees them: never with a password. The
// main process keeps passwords in the OS keychain (Electron safeStorage) and
// looks them up by profile id.
import { z } from 'zod';

export const SslMode = z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']);
export type SslMode = z.infer<typeof SslMode>;

const name = z.string().trim().min(1, 'Give the connection a name').max(100);
const host = z.string().trim().min(1, 'Host is required').max(255);
const port = z.number().int().min(1).max(65535);
const database = z.string().trim().min(1, 'Database is required').max(63);
const user = z.string().trim().min(1, 'User is required').max(63);

export const ConnectionProfile = z.object({
  id: z.string().min(1),
  name,
  kind: z.enum(['server', 'sandbox']),
  host,
  port,
  database,
  user,
  sslMode: SslMode,
  /** Whether a password is stored for this profile (the password itself never leaves the main process). */
  hasPassword: z.boolean(),
});
export type ConnectionProfile = z.infer<typeof ConnectionProfile>;

/** What the connection form submits. `password` undefined keeps the stored one; '' clears it. */
export const ConnectionDraft = z.object({
  id: z.string().min(1).optional(),
  name,
  host,
  port,
  database,
  user,
  sslMode: SslMode,
  password: z.string().max(1000).optional(),
});
export type ConnectionDraft = z.infer<typeof ConnectionDraft>;

/** What "Test connection" sends: a draft that may have no name yet (testing needs none). */
export const ConnectionTestDraft = ConnectionDraft.extend({ name: z.string().max(100).optional() });
export type ConnectionTestDraft = z.infer<typeof ConnectionTestDraft>;

export const ConnectionTestResult = z.object({
  ok: z.boolean(),
  message: z.string(),
  serverVersion: z.string().optional(),
  /** refused | auth | ssl | unknown_database | timeout | other, when not ok */
  failure: z.enum(['refused', 'auth', 'ssl', 'unknown_database', 'timeout', 'other']).optional(),
});
export type ConnectionTestResult = z.infer<typeof ConnectionTestResult>;
