// How hard a migration may press on the server: a cap on how fast the copy and
// the index builds read the table, and a bound on how far standbys (or a named
// replication slot) may fall behind before that work pauses. Shared by the CLI
// flags, the start dialog and the engine.
import { z } from 'zod';

/** Replication slot names: lower-case letters, digits and underscores, at most 63 (NAMEDATALEN - 1). */
export const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

export const Throttle = z
  .object({
    /** Most megabytes (1,048,576 bytes) of the table the copy and the index builds read per second. */
    maxRateMBps: z.number().positive().max(100_000).optional(),
    /** Copy and index work waits while any standby's replay lag, or the slot's, is over this many bytes. */
    maxStandbyLagBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(2 ** 50)
      .optional(),
    /** A replication slot whose lag (WAL it still holds) counts as a standby's. */
    slot: z.string().regex(SLOT_NAME, 'a slot name is lower-case letters, digits and underscores').optional(),
  })
  .strict()
  .refine((t) => t.slot === undefined || t.maxStandbyLagBytes !== undefined, {
    message: 'a slot needs a lag bound (maxStandbyLagBytes) to throttle on',
    path: ['slot'],
  });
export type Throttle = z.infer<typeof Throttle>;

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/**
 * Bytes from a size as PostgreSQL settings write them ("8MB", "512 kB", "1GB";
 * binary units; a bare number is bytes), or null when it is not one.
 */
export function parseSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?b)?\s*$/i.exec(text);
  if (!match) return null;
  const bytes = Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()]!;
  return Number.isFinite(bytes) ? Math.round(bytes) : null;
}
