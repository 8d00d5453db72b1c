// How full a bucket is, and the colour band that says so. A full bucket is the
// normal end of a bucket's life (routing opens the next one), so full reads as
// amber, not red; red is reserved for over-full, which needs attention.
import type { BucketNode } from '../../shared/explorer';

export type FillLevel = 'empty' | 'low' | 'mid' | 'high' | 'full' | 'over';

/**
 * The fill of a bucket as a fraction of its capacity. With exact counts the
 * counted rows are the truth; otherwise the tickets handed out are an upper
 * bound of the rows, and estimated rows beyond that (rows written around the
 * router) still count.
 */
export function bucketFill(bucket: Pick<BucketNode, 'assigned' | 'rows' | 'rowsExact' | 'capacity'>): number {
  const used = bucket.rowsExact ? bucket.rows : Math.max(bucket.assigned, bucket.rows);
  if (bucket.capacity <= 0) return used > 0 ? Infinity : 0;
  return used / bucket.capacity;
}

export function fillLevel(fraction: number): FillLevel {
  if (!(fraction > 0)) return 'empty';
  if (fraction > 1) return 'over';
  if (fraction >= 1) return 'full';
  if (fraction >= 0.8) return 'high';
  if (fraction >= 0.5) return 'mid';
  return 'low';
}

export const fillLevelLabel: Record<FillLevel, string> = {
  empty: 'empty',
  low: 'under half full',
  mid: 'half full or more',
  high: '80% full or more',
  full: 'full',
  over: 'over-full',
};

/**
 * The level of one band of `SizesReport.fillBands`: index 0 is 0-10%, 9 is
 * 90-100%, 10 is over-full.
 */
export function bandLevel(index: number): FillLevel {
  if (index >= 10) return 'over';
  if (index >= 9) return 'full';
  if (index >= 8) return 'high';
  if (index >= 5) return 'mid';
  return 'low';
}

/** Width of a fill bar in percent, capped so over-full bars do not overflow their track. */
export function barWidth(fraction: number): number {
  if (!(fraction > 0)) return 0;
  return Math.min(100, fraction * 100);
}
