// One pg.Pool per connection profile, created on first use with the profile's
// stored password, closed when the profile changes or goes away.
import type pg from 'pg';
import { connectPool, type ConnectionTarget } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import type { PoolProvider } from '../services/context.js';

export interface PoolTarget {
  target: ConnectionTarget;
  password: string | undefined;
}

/** Where the registry learns how to reach a profile id; undefined for an unknown id. */
export type PoolTargetResolver = (connectionId: string) => Promise<PoolTarget | undefined>;

export class PoolRegistry implements PoolProvider {
  private readonly pools = new Map<string, Promise<pg.Pool>>();
  private closed = false;

  constructor(
    private readonly resolve: PoolTargetResolver,
    private readonly connect: (
      target: ConnectionTarget,
      password: string | undefined,
    ) => Promise<pg.Pool> = connectPool,
  ) {}

  pool(connectionId: string): Promise<pg.Pool> {
    if (this.closed) return Promise.reject(new PartwiseError('blocked', 'Partwise is shutting down.'));
    const existing = this.pools.get(connectionId);
    if (existing) return existing;
    const created = this.create(connectionId);
    this.pools.set(connectionId, created);
    // A failed attempt (server down, wrong password) is not cached: the next call tries again.
    created.catch(() => {
      if (this.pools.get(connectionId) === created) this.pools.delete(connectionId);
    });
    return created;
  }

  private async create(connectionId: string): Promise<pg.Pool> {
    const resolved = await this.resolve(connectionId);
    if (!resolved) {
      throw new PartwiseError('not_found', `No saved connection has the id ${JSON.stringify(connectionId)}.`);
    }
    return this.connect(resolved.target, resolved.password);
  }

  /** Whether a pool exists (or is being made) for the profile. */
  has(connectionId: string): boolean {
    return this.pools.has(connectionId);
  }

  /** Ends the profile's pool, if any; the next `pool()` call makes a new one from the current profile. */
  async invalidate(connectionId: string): Promise<void> {
    const existing = this.pools.get(connectionId);
    if (!existing) return;
    this.pools.delete(connectionId);
    await endQuietly(existing);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map(endQuietly));
  }
}

async function endQuietly(pool: Promise<pg.Pool>): Promise<void> {
  try {
    await (await pool).end();
  } catch {
    // a pool that never connected has nothing to end
  }
}
