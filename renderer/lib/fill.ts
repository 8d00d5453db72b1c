// How full a bucket is, and the colour band that says so. A full bucket is the
// normal end of a bucket's life (routing opens the next one), so full reads as
// a calm, neutral "closed", not as a warning; amber marks a bucket filling up
// (80% or more: maintenance can open the next one ahead), and red is kept for
// over-full, the one state that needs attention.
import { bucketFill, fillBand } from '../../shared/explorer';

export { bucketFill, fillBand };

export type FillLevel = 'empty' | 'low' | 'mid' | 'high' | 'full' | 'over';

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
  full: 'full (normal)',
  over: 'over-full',
};

/**
 * The colour of one band of `SizesReport.fillBands` (see `fillBand`): index 0
 * is 0-10%, 9 is 90-100% (where full buckets are), 10 is over-full.
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
