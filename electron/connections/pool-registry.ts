// The connections of each profile, opened on first use with the profile's
// stored password and closed when the profile changes or goes away. A profile
// with an SSH tunnel gets one tunnel, which every connection of the profile
// goes through.
//
// Three kinds of pool, so that one kind of work never starves another:
// - screens: the app's catalog and explorer queries. Small, and every
//   statement stops after SCREEN_STATEMENT_TIMEOUT_MS, so that a slow or
//   locked server shows an error on one panel instead of a screen that never
//   loads (a query waiting behind the swap's lock, say).
// - work: what a user asked for and watches progress of (maintenance, exact
//   counts): no statement timeout.
// - one pool per run, of connectionsForRun(workers): a run's workers never
//   wait for the screens' connections, nor the screens for the workers'.
//   The run owns it and ends it; a profile edited during a run leaves the run
//   on its old pool (and tunnel) until it ends.
import type pg from 'pg';
import { connectPool, tunnelFor, type ConnectionTarget, type PoolSize } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import type { SshTunnel } from '../db/ssh-tunnel.js';
import type { PoolProvider, RunPool } from '../services/context.js';
import { connectionsForRun } from '../../shared/plan.js';
import type { ProfileSecrets } from './profile-secrets.js';

export const SCREEN_STATEMENT_TIMEOUT_MS = 30_000;
const SCREEN_POOL: PoolSize = { max: 5, statementTimeoutMs: SCREEN_STATEMENT_TIMEOUT_MS };
const WORK_POOL: PoolSize = { max: 4 };

/** A profile's target and its secrets (see profile-secrets.ts). */
export interface PoolTarget extends ProfileSecrets {
  target: ConnectionTarget;
}

/** Where the registry learns how to reach a profile id; undefined for an unknown id. */
export type PoolTargetResolver = (connectionId: string) => Promise<PoolTarget | undefined>;

/** A pool of this size for a profile, through its tunnel, with its secrets. */
function openPool(reach: PoolTarget, tunnel: SshTunnel | undefined, size: PoolSize): Promise<pg.Pool> {
  return connectPool(reach.target, reach.password, { tunnel, sslPassword: reach.sslPassword }, size);
}

class Endpoint {
  private work: Promise<pg.Pool> | undefined;
  private readonly runPools = new Set<pg.Pool>();
  private retired = false;

  constructor(
    private readonly reach: PoolTarget,
    readonly tunnel: SshTunnel | undefined,
    readonly screens: pg.Pool,
  ) {}

  private open(size: PoolSize): Promise<pg.Pool> {
    return openPool(this.reach, this.tunnel, size);
  }

  workPool(): Promise<pg.Pool> {
    if (!this.work) {
      const opened = this.open(WORK_POOL);
      this.work = opened;
      opened.catch(() => {
        if (this.work === opened) this.work = undefined;
      });
    }
    return this.work;
  }

  async runPool(workers: number): Promise<RunPool> {
    const pool = await this.open({ max: connectionsForRun(workers) });
    this.runPools.add(pool);
    return {
      pool,
      // The tunnel of a retired profile (edited or removed meanwhile) goes with its last run.
      end: async () => {
        if (!this.runPools.delete(pool)) return;
        await pool.end().catch(() => undefined);
        if (this.retired && this.runPools.size === 0) await this.tunnel?.close();
      },
    };
  }

  /** Ends the screens' and work pools; runs keep theirs (and the tunnel) until they end, unless `everything`. */
  async retire(everything: boolean): Promise<void> {
    this.retired = true;
    const work = this.work;
    this.work = undefined;
    await this.screens.end().catch(() => undefined);
    await work?.then((pool) => pool.end()).catch(() => undefined);
    if (everything) {
      const runs = [...this.runPools];
      this.runPools.clear();
      await Promise.all(runs.map((pool) => pool.end().catch(() => undefined)));
    }
    if (this.runPools.size === 0) await this.tunnel?.close();
  }
}

export class PoolRegistry implements PoolProvider {
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  private closed = false;

  constructor(
    private readonly resolve: PoolTargetResolver,
    private readonly options: { knownHostsFile?: string | undefined } = {},
  ) {}

  async pool(connectionId: string): Promise<pg.Pool> {
    return (await this.endpoint(connectionId)).screens;
  }

  async workPool(connectionId: string): Promise<pg.Pool> {
    return (await this.endpoint(connectionId)).workPool();
  }

  async runPool(connectionId: string, workers: number): Promise<RunPool> {
    return (await this.endpoint(connectionId)).runPool(workers);
  }

  /** The profile's tunnel, when it has one and its pool exists (for tests and status). */
  async tunnel(connectionId: string): Promise<SshTunnel | undefined> {
    return (await this.endpoint(connectionId)).tunnel;
  }

  private endpoint(connectionId: string): Promise<Endpoint> {
    if (this.closed) return Promise.reject(new PartwiseError('blocked', 'Partwise is shutting down.'));
    const existing = this.endpoints.get(connectionId);
    if (existing) return existing;
    const created = this.create(connectionId);
    this.endpoints.set(connectionId, created);
    // A failed attempt (server down, wrong password) is not cached: the next call tries again.
    created.catch(() => {
      if (this.endpoints.get(connectionId) === created) this.endpoints.delete(connectionId);
    });
    return created;
  }

  private async create(connectionId: string): Promise<Endpoint> {
    const resolved = await this.resolve(connectionId);
    if (!resolved) {
      throw new PartwiseError('not_found', `No saved connection has the id ${JSON.stringify(connectionId)}.`);
    }
    const tunnel = tunnelFor(resolved.target, resolved.sshSecret, this.options.knownHostsFile);
    try {
      return new Endpoint(resolved, tunnel, await openPool(resolved, tunnel, SCREEN_POOL));
    } catch (error) {
      await tunnel?.close();
      throw error;
    }
  }

  /** Whether a pool exists (or is being made) for the profile. */
  has(connectionId: string): boolean {
    return this.endpoints.has(connectionId);
  }

  /** Ends the profile's pools, if any (runs keep theirs until they end); the next call makes new ones from the current profile. */
  async invalidate(connectionId: string): Promise<void> {
    const existing = this.endpoints.get(connectionId);
    if (!existing) return;
    this.endpoints.delete(connectionId);
    await retireQuietly(existing, false);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.endpoints.values()];
    this.endpoints.clear();
    await Promise.all(all.map((endpoint) => retireQuietly(endpoint, true)));
  }
}

async function retireQuietly(endpoint: Promise<Endpoint>, everything: boolean): Promise<void> {
  try {
    await (await endpoint).retire(everything);
  } catch {
    // a profile that never connected has nothing to end
  }
}
