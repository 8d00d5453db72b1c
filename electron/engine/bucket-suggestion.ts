// The bucket limit suggested for a table and key: leaves of a comfortable size
// (about 256 MB: vacuum, index builds and scans of one bucket stay quick),
// raised while the leaves it adds beyond one per key are many. Every leaf
// costs each statement that does not filter by the key planning time and
// locks (README: "Queries that do not name the key"), and the extra leaves are
// the only ones the limit decides: a key always has at least one.

/** A leaf of about this many bytes keeps vacuum, index builds and scans of one bucket quick. */
export const TARGET_LEAF_BYTES = 256 * 1024 * 1024;
/** The limit is raised for fewer leaves, but never past leaves of this size. */
export const MAX_LEAF_BYTES = 1024 * 1024 * 1024;
/** Leaves beyond one per key that are worth a larger limit: more than this many, and more than a tenth of the keys. */
export const TOLERATED_EXTRA_LEAVES = 50;

const MIN_LIMIT = 10_000;
const MAX_LIMIT = 10_000_000;

/** The nearest of 1, 2 and 5 times a power of ten, within 10,000 and 10,000,000. */
export function roundBucketLimit(value: number): number {
  const clamped = Math.min(Math.max(value, MIN_LIMIT), MAX_LIMIT);
  const power = 10 ** Math.floor(Math.log10(clamped));
  const candidates = [1, 2, 5, 10].map((m) => m * power);
  return candidates.reduce((best, c) => (Math.abs(c - clamped) < Math.abs(best - clamped) ? c : best));
}

/** 1, 2, 5 times powers of ten from `from` to `to`. */
function limitsBetween(from: number, to: number): number[] {
  const limits: number[] = [];
  for (let power = 10 ** Math.floor(Math.log10(from)); power <= to; power *= 10) {
    for (const m of [1, 2, 5]) if (m * power >= from && m * power <= to) limits.push(m * power);
  }
  return limits;
}

export interface KeyStatistics {
  rows: number;
  /** Estimated distinct keys. */
  distinct: number;
  /** Rows of the most common keys (from pg_stats' most_common_freqs). */
  commonKeyRows: number[];
  /** Rows whose key is NULL. */
  nullRows: number;
}

/** Leaves a limit gives: the common keys' buckets, and the other keys' as if they shared the remaining rows evenly. */
export function estimateLeaves(stats: KeyStatistics, limit: number): number {
  const restKeys = Math.max(stats.distinct - stats.commonKeyRows.length, 0);
  const commonRows = stats.commonKeyRows.reduce((sum, rows) => sum + rows, 0);
  const restAverage = restKeys > 0 ? Math.max(stats.rows - commonRows - stats.nullRows, 0) / restKeys : 0;
  return (
    stats.commonKeyRows.reduce((sum, rows) => sum + Math.max(1, Math.ceil(rows / limit)), 0) +
    restKeys * Math.max(1, Math.ceil(restAverage / limit))
  );
}

export interface Suggestion {
  bucketLimit: number;
  leaves: number;
}

/** The size-based limit, raised (up to leaves of MAX_LEAF_BYTES) while it adds too many leaves beyond one per key. */
export function suggestBucketLimit(stats: KeyStatistics, bytesPerRow: number): Suggestion {
  const sized = roundBucketLimit(TARGET_LEAF_BYTES / Math.max(bytesPerRow, 1));
  const largest = Math.max(sized, roundBucketLimit(MAX_LEAF_BYTES / Math.max(bytesPerRow, 1)));
  const keys = Math.max(1, Math.round(stats.distinct));
  const tolerated = Math.max(TOLERATED_EXTRA_LEAVES, keys / 10);
  const candidates = limitsBetween(sized, largest);
  for (const limit of candidates) {
    const leaves = estimateLeaves(stats, limit);
    if (leaves - keys <= tolerated) return { bucketLimit: limit, leaves };
  }
  const limit = candidates.at(-1) ?? sized;
  return { bucketLimit: limit, leaves: estimateLeaves(stats, limit) };
}
