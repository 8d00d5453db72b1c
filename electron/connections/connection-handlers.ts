// The connection commands of the contract (app.info, connections.*,
// sandbox.start) and the pools every other command uses. Profiles live in
// connections.json, passwords (database and SSH) in the shell's SecretStore;
// a secret never travels back to the renderer, which only sees `hasPassword`
// and `hasSshSecret`.
import { randomUUID } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import type { ConnectionDraft, ConnectionProfile, ServiceEntry } from '../../shared/connection.js';
import { testConnection, type ConnectionTarget } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import { pgpassPassword, readServices, serviceFiles, type Service } from '../db/libpq-files.js';
import { expandHome } from '../db/ssh-tunnel.js';
import type { SecretStore } from '../secrets/secret-store.js';
import {
  applySecrets,
  deleteSecrets,
  draftSecrets,
  secretChanges,
  secretFlags,
  storedSecrets,
  type ProfileSecrets,
} from './profile-secrets.js';
import type { PoolProvider } from '../services/context.js';
import type { ConnectionHandlers } from '../services/handlers.js';
import { SANDBOX_ID, type Sandbox } from '../sandbox/sandbox.js';
import { PARTWISE_VERSION } from '../version.js';
import { PoolRegistry, type PoolTarget } from './pool-registry.js';
import { ProfileStore, type StoredProfile } from './profile-store.js';

export interface ConnectionHandlerOptions {
  dataDir: string;
  secrets: SecretStore;
  shell: 'electron' | 'browser';
  /** The embedded Sandbox; undefined where none is offered. */
  sandbox: Sandbox | undefined;
  /** Start the Sandbox at once when no profile is saved yet (the first launch). Default true. */
  autoStartSandbox?: boolean;
  /** Problems of background work (the automatic Sandbox start), for the shell's log. */
  onBackgroundError?: (error: unknown) => void;
  /** How long a connection test waits for the server. */
  testTimeoutMs?: number;
  /** OpenSSH's known_hosts for bastions' host keys; default ~/.ssh/known_hosts. */
  knownHostsFile?: string;
  /** Where libpq's files are looked up (PGSERVICEFILE, PGSYSCONFDIR, PGPASSFILE); default process.env. */
  libpqEnv?: Record<string, string | undefined>;
}

export interface ConnectionService {
  handlers: ConnectionHandlers;
  pools: PoolRegistry & PoolProvider;
  /** Where a saved connection (or the Sandbox) points, without connecting; undefined for an unknown id. */
  target(connectionId: string): Promise<ConnectionTarget | undefined>;
  /** The profile of a connection id (saved or the Sandbox); undefined for an unknown id. */
  profile(connectionId: string): Promise<ConnectionProfile | undefined>;
  /** Resolves once the automatic Sandbox start (if any) has finished or failed. */
  autoStart: Promise<void>;
  /** Ends every pool, then stops the Sandbox. */
  close(): Promise<void>;
}

type TargetFields = Pick<
  ConnectionProfile,
  | 'host'
  | 'port'
  | 'database'
  | 'user'
  | 'sslMode'
  | 'sslRootCert'
  | 'sslCert'
  | 'sslKey'
  | 'applicationName'
  | 'options'
  | 'connectTimeoutSeconds'
  | 'ssh'
  | 'readOnly'
>;

function targetOf(profile: TargetFields): ConnectionTarget {
  // A read-only profile's sessions refuse writes in the server too, whatever a command tries.
  const readOnly = profile.readOnly ? '-c default_transaction_read_only=on' : '';
  const options = [profile.options, readOnly].filter(Boolean).join(' ');
  return {
    host: profile.host,
    port: profile.port,
    database: profile.database,
    user: profile.user,
    sslMode: profile.sslMode,
    sslRootCert: profile.sslRootCert,
    sslCert: profile.sslCert,
    sslKey: profile.sslKey,
    applicationName: profile.applicationName,
    options: options || undefined,
    connectTimeoutSeconds: profile.connectTimeoutSeconds,
    ssh: profile.ssh,
  };
}

/** The files a draft names must be readable now: saving a profile that cannot connect helps nobody. */
function checkFiles(draft: ConnectionDraft): void {
  const files: Array<[string, string | undefined]> = [
    ['sslRootCert', draft.sslRootCert],
    ['sslCert', draft.sslCert],
    ['sslKey', draft.sslKey],
    ['ssh.keyFile', draft.ssh?.auth === 'key' ? draft.ssh.keyFile : undefined],
  ];
  const problems: string[] = [];
  for (const [field, file] of files) {
    if (!file) continue;
    try {
      accessSync(expandHome(file), constants.R_OK);
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
      problems.push(`${field}: ${file} cannot be read (${reason})`);
    }
  }
  if (problems.length > 0)
    throw new PartwiseError('invalid_input', `Invalid input for connections.save: ${problems.join('; ')}`);
}

const SANDBOX_READ_ONLY =
  'The Sandbox connection is managed by Partwise: it cannot be edited or deleted. Its data lives in the Partwise data directory.';

/** A pg_service.conf entry as the profile it would become, with libpq's defaults for what it leaves out. */
function serviceProfile(
  service: Service,
  env: Record<string, string | undefined>,
): {
  entry: ServiceEntry;
  profile?: Omit<StoredProfile, 'id'>;
} {
  const p = service.params;
  const user = p.user ?? env.PGUSER ?? process.env.USER ?? 'postgres';
  const fields = {
    host: p.host ?? env.PGHOST ?? 'localhost',
    port: p.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432),
    database: p.database ?? env.PGDATABASE ?? user,
    user,
    sslMode: p.sslMode ?? 'prefer',
  };
  const relative = [p.sslRootCert, p.sslCert, p.sslKey].find(
    (file) => file !== undefined && !file.startsWith('/') && !file.startsWith('~/'),
  );
  const entry: ServiceEntry = {
    name: service.name,
    file: `${service.file}:${service.line}`,
    ...fields,
    pgpassPassword: p.password !== undefined || pgpassPassword(fields, env) !== undefined,
    ignored: p.ignored,
    ...(relative ? { problem: `the certificate path "${relative}" is relative; give an absolute path` } : {}),
  };
  if (relative) return { entry };
  return {
    entry,
    profile: {
      name: service.name,
      kind: 'server',
      ...fields,
      ...(p.sslRootCert ? { sslRootCert: p.sslRootCert } : {}),
      ...(p.sslCert ? { sslCert: p.sslCert } : {}),
      ...(p.sslKey ? { sslKey: p.sslKey } : {}),
      ...(p.applicationName ? { applicationName: p.applicationName } : {}),
      ...(p.options ? { options: p.options } : {}),
      ...(p.connectTimeoutSeconds ? { connectTimeoutSeconds: p.connectTimeoutSeconds } : {}),
    },
  };
}

export function createConnectionHandlers(options: ConnectionHandlerOptions): ConnectionService {
  const { secrets, shell, sandbox } = options;
  const store = new ProfileStore(options.dataDir);
  const libpqEnv = options.libpqEnv ?? process.env;

  const requireSandbox = (): Sandbox => {
    if (!sandbox) throw new PartwiseError('blocked', 'This build of Partwise does not include the Sandbox.');
    return sandbox;
  };

  const requireProfile = async (id: string): Promise<StoredProfile> => {
    const profile = await store.get(id);
    if (!profile) throw new PartwiseError('not_found', `No saved connection has the id ${JSON.stringify(id)}.`);
    return profile;
  };

  const withSecretFlags = async (profile: StoredProfile): Promise<ConnectionProfile> => ({
    ...profile,
    ...(await secretFlags(secrets, profile.id, profile)),
  });

  const resolvePoolTarget = async (id: string): Promise<PoolTarget | undefined> => {
    if (id === SANDBOX_ID && sandbox) {
      const running = await sandbox.start();
      return { target: running.target, password: running.password };
    }
    const profile = await store.get(id);
    if (!profile) return undefined;
    return { target: targetOf(profile), ...(await storedSecrets(secrets, id, profile)) };
  };

  const pools = new PoolRegistry(resolvePoolTarget, { knownHostsFile: options.knownHostsFile });

  /** The Sandbox is listed on a first launch (nothing saved) and whenever it has been created before. */
  const sandboxListed = async (saved: StoredProfile[]): Promise<boolean> => {
    if (!sandbox) return false;
    return saved.length === 0 || sandbox.status() !== 'stopped' || (await sandbox.exists());
  };

  const autoStart = (async () => {
    if (!sandbox || options.autoStartSandbox === false) return;
    try {
      if ((await store.list()).length > 0) return;
      await sandbox.start();
    } catch (error) {
      // Shown again, with its hint, when the user tests or starts the Sandbox.
      options.onBackgroundError?.(error);
    }
  })();

  const test = (target: ConnectionTarget, { password, sshSecret, sslPassword }: ProfileSecrets) =>
    testConnection(target, password, {
      timeoutMs: options.testTimeoutMs,
      ...(sshSecret !== undefined ? { sshSecret } : {}),
      ...(sslPassword !== undefined ? { sslPassword } : {}),
      ...(options.knownHostsFile ? { knownHostsFile: options.knownHostsFile } : {}),
    });

  const servicesIn = (file: string | undefined) => {
    const env = file ? { ...libpqEnv, PGSERVICEFILE: file, PGSYSCONFDIR: undefined } : libpqEnv;
    try {
      return { env, files: file ? [file] : serviceFiles(env), services: readServices(env) };
    } catch (error) {
      throw new PartwiseError('invalid_input', (error as Error).message, { cause: error });
    }
  };

  const handlers: ConnectionHandlers = {
    'app.info': async () => ({ version: PARTWISE_VERSION, shell, secretStorage: secrets.kind }),

    'connections.list': async () => {
      const saved = await store.list();
      const listed: ConnectionProfile[] = [];
      if (await sandboxListed(saved)) listed.push(await sandbox!.profile());
      const sorted = [...saved].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
      for (const profile of sorted) listed.push(await withSecretFlags(profile));
      return listed;
    },

    'connections.save': async (draft: ConnectionDraft) => {
      if (draft.id === SANDBOX_ID) throw new PartwiseError('invalid_input', SANDBOX_READ_ONLY);
      const isNew = draft.id === undefined;
      if (!isNew) await requireProfile(draft.id!);
      checkFiles(draft);
      const id = draft.id ?? randomUUID();
      const { password: _password, sshSecret: _sshSecret, sslPassword: _sslPassword, id: _id, ...fields } = draft;
      const profile: StoredProfile = { ...fields, id, kind: 'server' };
      // Secrets first: when they cannot be stored (no keychain), nothing changes; when the
      // profile cannot be written, the secrets are put back as they were.
      const undo = await applySecrets(secrets, await secretChanges(secrets, id, draft));
      try {
        await store.save(profile);
      } catch (error) {
        await undo();
        throw error;
      }
      await pools.invalidate(id);
      return withSecretFlags(profile);
    },

    'connections.delete': async ({ id }) => {
      if (id === SANDBOX_ID) throw new PartwiseError('invalid_input', SANDBOX_READ_ONLY);
      if (!(await store.remove(id))) {
        throw new PartwiseError('not_found', `No saved connection has the id ${JSON.stringify(id)}.`);
      }
      await pools.invalidate(id);
      await deleteSecrets(secrets, id);
      return {};
    },

    'connections.test': async (input) => {
      if ('id' in input) {
        if (input.id === SANDBOX_ID && sandbox) {
          const running = await sandbox.start();
          return test(running.target, { password: running.password });
        }
        const profile = await requireProfile(input.id);
        return test(targetOf(profile), await storedSecrets(secrets, profile.id, profile));
      }
      const { draft } = input;
      // An edited profile tested before saving: keep using its stored secrets unless new ones are typed.
      const storedId = draft.id !== undefined && draft.id !== SANDBOX_ID ? draft.id : undefined;
      return test(targetOf(draft), await draftSecrets(secrets, draft, storedId));
    },

    'connections.ping': async ({ connectionId }) => {
      await (await pools.pool(connectionId)).query('SELECT 1');
      return {};
    },

    'connections.services': async ({ file }) => {
      const { env, files, services } = servicesIn(file);
      return { files, services: services.map((service) => serviceProfile(service, env).entry) };
    },

    'connections.importServices': async ({ file, names }) => {
      const { env, services } = servicesIn(file);
      const chosen = names.map((name) => {
        const service = services.find((candidate) => candidate.name === name);
        if (!service)
          throw new PartwiseError(
            'not_found',
            `names: no service "${name}" in ${file ?? serviceFiles(env).join(' or ')}.`,
          );
        const { entry, profile } = serviceProfile(service, env);
        if (!profile) throw new PartwiseError('invalid_input', `Service "${name}" (${entry.file}): ${entry.problem}.`);
        return { service, profile };
      });
      // Everything is checked before anything is saved; a failure half-way undoes what was saved.
      const saved: ConnectionProfile[] = [];
      const made: string[] = [];
      try {
        for (const { service, profile } of chosen) {
          const id = randomUUID();
          made.push(id);
          const password = service.params.password ?? pgpassPassword(profile, env);
          if (password !== undefined) await secrets.set(id, password);
          await store.save({ ...profile, id });
          saved.push(await withSecretFlags({ ...profile, id }));
        }
      } catch (error) {
        for (const id of made) {
          await store.remove(id).catch(() => undefined);
          await secrets.delete(id).catch(() => undefined);
        }
        throw error;
      }
      return saved;
    },

    'sandbox.start': async () => (await requireSandbox().start()).profile,
  };

  const profileOf = async (connectionId: string): Promise<ConnectionProfile | undefined> => {
    if (connectionId === SANDBOX_ID && sandbox) return sandbox.profile();
    const profile = await store.get(connectionId);
    return profile ? withSecretFlags(profile) : undefined;
  };

  return {
    handlers,
    pools,
    async target(connectionId) {
      const profile = await profileOf(connectionId);
      return profile ? targetOf(profile) : undefined;
    },
    profile: profileOf,
    autoStart,
    async close() {
      await autoStart;
      await pools.close();
      await sandbox?.stop();
    },
  };
}
