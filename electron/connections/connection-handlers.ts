// The connection commands of the contract (app.info, connections.*,
// sandbox.start) and the pools every other command uses. Profiles live in
// connections.json, passwords in the shell's SecretStore; a password never
// travels back to the renderer, which only sees `hasPassword`.
import { randomUUID } from 'node:crypto';
import type { ConnectionDraft, ConnectionProfile } from '../../shared/connection.js';
import { testConnection, type ConnectionTarget } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import type { SecretStore } from '../secrets/secret-store.js';
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
}

export interface ConnectionService {
  handlers: ConnectionHandlers;
  pools: PoolProvider;
  /** Where a saved connection (or the Sandbox) points, without connecting; undefined for an unknown id. */
  target(connectionId: string): Promise<ConnectionTarget | undefined>;
  /** Resolves once the automatic Sandbox start (if any) has finished or failed. */
  autoStart: Promise<void>;
  /** Ends every pool, then stops the Sandbox. */
  close(): Promise<void>;
}

function targetOf(
  profile: Pick<ConnectionProfile, 'host' | 'port' | 'database' | 'user' | 'sslMode'>,
): ConnectionTarget {
  return {
    host: profile.host,
    port: profile.port,
    database: profile.database,
    user: profile.user,
    sslMode: profile.sslMode,
  };
}

const SANDBOX_READ_ONLY =
  'The Sandbox connection is managed by Partwise: it cannot be edited or deleted. Its data lives in the Partwise data directory.';

export function createConnectionHandlers(options: ConnectionHandlerOptions): ConnectionService {
  const { secrets, shell, sandbox } = options;
  const store = new ProfileStore(options.dataDir);

  const requireSandbox = (): Sandbox => {
    if (!sandbox) throw new PartwiseError('blocked', 'This build of Partwise does not include the Sandbox.');
    return sandbox;
  };

  const requireProfile = async (id: string): Promise<StoredProfile> => {
    const profile = await store.get(id);
    if (!profile) throw new PartwiseError('not_found', `No saved connection has the id ${JSON.stringify(id)}.`);
    return profile;
  };

  const withPasswordFlag = async (profile: StoredProfile): Promise<ConnectionProfile> => ({
    ...profile,
    hasPassword: await secrets.has(profile.id),
  });

  const resolvePoolTarget = async (id: string): Promise<PoolTarget | undefined> => {
    if (id === SANDBOX_ID && sandbox) {
      const running = await sandbox.start();
      return { target: running.target, password: running.password };
    }
    const profile = await store.get(id);
    if (!profile) return undefined;
    return { target: targetOf(profile), password: await secrets.get(id) };
  };

  const pools = new PoolRegistry(resolvePoolTarget);

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

  const test = (target: ConnectionTarget, password: string | undefined) =>
    testConnection(target, password, { timeoutMs: options.testTimeoutMs });

  const handlers: ConnectionHandlers = {
    'app.info': async () => ({ version: PARTWISE_VERSION, shell, secretStorage: secrets.kind }),

    'connections.list': async () => {
      const saved = await store.list();
      const listed: ConnectionProfile[] = [];
      if (await sandboxListed(saved)) listed.push(await sandbox!.profile());
      const sorted = [...saved].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
      for (const profile of sorted) listed.push(await withPasswordFlag(profile));
      return listed;
    },

    'connections.save': async (draft: ConnectionDraft) => {
      if (draft.id === SANDBOX_ID) throw new PartwiseError('invalid_input', SANDBOX_READ_ONLY);
      const isNew = draft.id === undefined;
      if (!isNew) await requireProfile(draft.id!);
      const id = draft.id ?? randomUUID();
      const profile: StoredProfile = {
        id,
        name: draft.name,
        kind: 'server',
        host: draft.host,
        port: draft.port,
        database: draft.database,
        user: draft.user,
        sslMode: draft.sslMode,
      };
      // The password first: when it cannot be stored (no keychain), nothing changes.
      if (draft.password === '') await secrets.delete(id);
      else if (draft.password !== undefined) await secrets.set(id, draft.password);
      try {
        await store.save(profile);
      } catch (error) {
        if (isNew) await secrets.delete(id).catch(() => undefined);
        throw error;
      }
      await pools.invalidate(id);
      return withPasswordFlag(profile);
    },

    'connections.delete': async ({ id }) => {
      if (id === SANDBOX_ID) throw new PartwiseError('invalid_input', SANDBOX_READ_ONLY);
      if (!(await store.remove(id))) {
        throw new PartwiseError('not_found', `No saved connection has the id ${JSON.stringify(id)}.`);
      }
      await pools.invalidate(id);
      await secrets.delete(id);
      return {};
    },

    'connections.test': async (input) => {
      if ('id' in input) {
        if (input.id === SANDBOX_ID && sandbox) {
          const running = await sandbox.start();
          return test(running.target, running.password);
        }
        const profile = await requireProfile(input.id);
        return test(targetOf(profile), await secrets.get(profile.id));
      }
      const { draft } = input;
      // An edited profile tested before saving: keep using its stored password unless a new one is typed.
      let password: string | undefined;
      if (draft.password !== undefined) password = draft.password === '' ? undefined : draft.password;
      else if (draft.id !== undefined && draft.id !== SANDBOX_ID) password = await secrets.get(draft.id);
      return test(targetOf(draft), password);
    },

    'connections.ping': async ({ connectionId }) => {
      await (await pools.pool(connectionId)).query('SELECT 1');
      return {};
    },

    'sandbox.start': async () => (await requireSandbox().start()).profile,
  };

  return {
    handlers,
    pools,
    async target(connectionId) {
      if (connectionId === SANDBOX_ID && sandbox) return targetOf(await sandbox.profile());
      const profile = await store.get(connectionId);
      return profile ? targetOf(profile) : undefined;
    },
    autoStart,
    async close() {
      await autoStart;
      await pools.close();
      await sandbox?.stop();
    },
  };
}
