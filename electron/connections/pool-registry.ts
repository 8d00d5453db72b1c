// One pg.Pool per connection profile, created on first use with the profile's
// stored password, closed when the profile changes or goes away. A profile
// with an SSH tunnel gets one tunnel too, which every connection of its pool
// goes through; the tunnel is closed with the pool.
import type pg from 'pg';
import { connectPool, tunnelFor, type ConnectionTarget } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import type { SshTunnel } from '../db/ssh-tunnel.js';
import type { PoolProvider } from '../services/context.js';

export interface PoolTarget {
  target: ConnectionTarget;
  password: string | undefined;
  /** The SSH password or key passphrase, for a profile with a tunnel. */
  sshSecret?: string | undefined;
}

/** Where the registry learns how to reach a profile id; undefined for an unknown id. */
export type PoolTargetResolver = (connectionId: string) => Promise<PoolTarget | undefined>;

interface Endpoint {
  pool: pg.Pool;
  tunnel: SshTunnel | undefined;
}

export class PoolRegistry implements PoolProvider {
  private readonly endpoints = new Map<string, Promise<Endpoint>>();
  private closed = false;

  constructor(
    private readonly resolve: PoolTargetResolver,
    private readonly options: { knownHostsFile?: string | undefined } = {},
  ) {}

  async pool(connectionId: string): Promise<pg.Pool> {
    return (await this.endpoint(connectionId)).pool;
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
      return { pool: await connectPool(resolved.target, resolved.password, { tunnel }), tunnel };
    } catch (error) {
      await tunnel?.close();
      throw error;
    }
  }

  /** Whether a pool exists (or is being made) for the profile. */
  has(connectionId: string): boolean {
    return this.endpoints.has(connectionId);
  }

  /** Ends the profile's pool, if any; the next `pool()` call makes a new one from the current profile. */
  async invalidate(connectionId: string): Promise<void> {
    const existing = this.endpoints.get(connectionId);
    if (!existing) return;
    this.endpoints.delete(connectionId);
    await endQuietly(existing);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.endpoints.values()];
    this.endpoints.clear();
    await Promise.all(all.map(endQuietly));
  }
}

async function endQuietly(endpoint: Promise<Endpoint>): Promise<void> {
  try {
    const { pool, tunnel } = await endpoint;
    await pool.end().catch(() => undefined);
    await tunnel?.close();
  } catch {
    // a pool that never connected has nothing to end
  }
}
