// Connection profiles as the renderer sees them: never with a password. The
// main process keeps passwords (and SSH passwords or key passphrases) in the OS
// keychain (Electron safeStorage) and looks them up by profile id.
import { z } from 'zod';

export const SslMode = z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']);
export type SslMode = z.infer<typeof SslMode>;

const name = z.string().trim().min(1, 'Give the connection a name').max(100);
const host = z.string().trim().min(1, 'Host is required').max(255);
const port = z.number({ message: 'Port must be a number from 1 to 65535' }).int().min(1).max(65535);
const database = z.string().trim().min(1, 'Database is required').max(63);
const user = z.string().trim().min(1, 'User is required').max(63);
/** A file on the machine running Partwise (an absolute path, or one starting with ~/). */
const filePath = (what: string) =>
  z
    .string()
    .trim()
    .min(1, `${what}: give the path of a file`)
    .max(4096)
    .refine((value) => value.startsWith('/') || value.startsWith('~/') || /^[A-Za-z]:[\\/]/.test(value), {
      message: `${what} must be an absolute path (or start with ~/)`,
    });

export const SshAuth = z.enum(['key', 'password', 'agent']);
export type SshAuth = z.infer<typeof SshAuth>;

/** An OpenSSH SHA256 fingerprint, as `ssh-keygen -lf` prints it. */
export const HostKeyFingerprint = z
  .string()
  .trim()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'Host key must be a SHA256 fingerprint (SHA256: and 43 characters)');

/** The bastion a profile is reached through: every connection of the profile goes over this SSH tunnel. */
export const SshTunnel = z
  .object({
    host: z.string().trim().min(1, 'SSH host is required').max(255),
    port: z.number({ message: 'SSH port must be a number from 1 to 65535' }).int().min(1).max(65535),
    user: z.string().trim().min(1, 'SSH user is required').max(255),
    auth: SshAuth,
    /** The private key for `auth: key`. */
    keyFile: filePath('SSH key file').optional(),
    /** The host key the user accepted on first contact (a changed key is refused). */
    hostKey: HostKeyFingerprint.optional(),
  })
  .strict()
  .superRefine((ssh, context) => {
    if (ssh.auth === 'key' && !ssh.keyFile) {
      context.addIssue({
        code: 'custom',
        path: ['keyFile'],
        message: 'SSH key file is required for key authentication',
      });
    }
  });
export type SshTunnel = z.infer<typeof SshTunnel>;

/** Everything a profile says about the server beyond host and port; all optional, so older files stay valid. */
const serverOptions = {
  /** CA certificates to verify the server with (libpq's sslrootcert); else PGSSLROOTCERT, ~/.postgresql/root.crt, the system's. */
  sslRootCert: filePath('CA certificate file').optional(),
  /** Client certificate and key (libpq's sslcert / sslkey), for certificate authentication. */
  sslCert: filePath('Client certificate file').optional(),
  sslKey: filePath('Client key file').optional(),
  applicationName: z.string().max(63, 'Application name is at most 63 characters').optional(),
  /** Server settings sent at connection start, as libpq's `options` (e.g. `-c search_path=app`). */
  options: z.string().max(1000).optional(),
  connectTimeoutSeconds: z
    .number({ message: 'Connect timeout must be a number of seconds' })
    .int('Connect timeout must be a whole number of seconds')
    .min(1, 'Connect timeout is at least 1 second')
    .max(600, 'Connect timeout is at most 600 seconds')
    .optional(),
  ssh: SshTunnel.optional(),
  /** Production: a coloured band on every screen, and destructive actions ask for the table's name. */
  production: z.boolean().optional(),
  /** Read-only: the main process refuses every command that writes. */
  readOnly: z.boolean().optional(),
};

export function tlsPairCheck(
  profile: { sslCert?: string | undefined; sslKey?: string | undefined; sslMode: SslMode },
  context: z.RefinementCtx,
) {
  if (profile.sslCert && !profile.sslKey) {
    context.addIssue({
      code: 'custom',
      path: ['sslKey'],
      message: 'Client key file is required with a client certificate',
    });
  }
  if (profile.sslKey && !profile.sslCert) {
    context.addIssue({
      code: 'custom',
      path: ['sslCert'],
      message: 'Client certificate file is required with a client key',
    });
  }
  if (profile.sslCert && profile.sslMode === 'disable') {
    context.addIssue({
      code: 'custom',
      path: ['sslMode'],
      message: 'A client certificate needs TLS: choose an SSL mode other than disable',
    });
  }
}

export const ConnectionProfileFields = z.object({
  id: z.string().min(1),
  name,
  kind: z.enum(['server', 'sandbox']),
  host,
  port,
  database,
  user,
  sslMode: SslMode,
  ...serverOptions,
  /** Whether a password is stored for this profile (the password itself never leaves the main process). */
  hasPassword: z.boolean(),
  /** Whether an SSH password or key passphrase is stored. */
  hasSshSecret: z.boolean().optional(),
  /** Whether the passphrase of an encrypted client key is stored. */
  hasSslPassword: z.boolean().optional(),
});
export const ConnectionProfile = ConnectionProfileFields.superRefine(tlsPairCheck);
export type ConnectionProfile = z.infer<typeof ConnectionProfile>;

const draftFields = z.object({
  id: z.string().min(1).optional(),
  name,
  host,
  port,
  database,
  user,
  sslMode: SslMode,
  ...serverOptions,
  password: z.string().max(1000).optional(),
  /** The SSH password (auth: password) or key passphrase (auth: key); undefined keeps the stored one, '' clears it. */
  sshSecret: z.string().max(1000).optional(),
  /** The passphrase of an encrypted client key (libpq's sslpassword); undefined keeps the stored one, '' clears it. */
  sslPassword: z.string().max(1000).optional(),
});

/** What the connection form submits. `password` undefined keeps the stored one; '' clears it. */
export const ConnectionDraft = draftFields.superRefine(tlsPairCheck);
export type ConnectionDraft = z.infer<typeof ConnectionDraft>;

/** What "Test connection" sends: a draft that may have no name yet (testing needs none). */
export const ConnectionTestDraft = draftFields
  .extend({ name: z.string().max(100).optional() })
  .superRefine(tlsPairCheck);
export type ConnectionTestDraft = z.infer<typeof ConnectionTestDraft>;

export const ConnectionFailure = z.enum([
  'refused',
  'auth',
  'ssl',
  'unknown_database',
  'timeout',
  'ssh',
  'ssh_host_key',
  'other',
]);
export type ConnectionFailure = z.infer<typeof ConnectionFailure>;

export const ConnectionTestResult = z.object({
  ok: z.boolean(),
  message: z.string(),
  serverVersion: z.string().optional(),
  /** Why it failed, when not ok. `ssh_host_key`: the bastion's key is unknown or changed. */
  failure: ConnectionFailure.optional(),
  /** The bastion's host key when it is not known yet: shown for the user to accept and pin. */
  sshHostKey: z.object({ fingerprint: HostKeyFingerprint, keyType: z.string() }).optional(),
});
export type ConnectionTestResult = z.infer<typeof ConnectionTestResult>;

/** A pg_service.conf entry, as the import offers it. */
export const ServiceEntry = z.object({
  name: z.string(),
  file: z.string(),
  /** The fields the service gives (missing ones fall back to libpq's defaults on import). */
  host: z.string(),
  port: z.number(),
  database: z.string(),
  user: z.string(),
  sslMode: SslMode,
  /** Whether ~/.pgpass holds a password for it. */
  pgpassPassword: z.boolean(),
  /** Parameters of the service a profile cannot keep. */
  ignored: z.array(z.string()),
  /** Why it cannot be imported as it is (e.g. a relative certificate path), if so. */
  problem: z.string().optional(),
});
export type ServiceEntry = z.infer<typeof ServiceEntry>;
