import { describe, expect, it } from 'vitest';
import { estimateLeaves, roundBucketLimit, suggestBucketLimit } from './bucket-suggestion.js';

const even = (rows: number, keys: number) => ({ rows, distinct: keys, commonKeyRows: [], nullRows: 0 });

describe('the suggested bucket limit', () => {
  it('keeps leaves near 256 MB when keys give one leaf each anyway', () => {
    // 200 bytes a row: 256 MB is about 1.3M rows, rounded to 1M.
    expect(suggestBucketLimit(even(1_000_000, 200), 200)).toEqual({ bucketLimit: 1_000_000, leaves: 200 });
    expect(suggestBucketLimit(even(100_000_000, 2_000), 200)).toEqual({ bucketLimit: 1_000_000, leaves: 2_000 });
  });

  it('raises the limit while it adds many leaves beyond one per key, within leaves of 1 GB', () => {
    // 20 keys of 10M rows, 100 bytes a row: 2M a leaf gives 100 leaves, 5M gives 40.
    expect(suggestBucketLimit(even(200_000_000, 20), 100)).toEqual({ bucketLimit: 5_000_000, leaves: 40 });
    // Nothing within 1 GB leaves (10M rows) gets close to one leaf per key: the largest.
    expect(suggestBucketLimit(even(10_000_000_000, 10), 100)).toEqual({ bucketLimit: 10_000_000, leaves: 1_000 });
  });

  it('tolerates a tenth of the keys in extra leaves when there are many keys', () => {
    // 5,000 keys, one of them with 30M rows: 2M a leaf adds 14 leaves, well within 500.
    const skewed = { rows: 80_000_000, distinct: 5_000, commonKeyRows: [30_000_000], nullRows: 0 };
    expect(suggestBucketLimit(skewed, 100).bucketLimit).toBe(2_000_000);
  });

  it('estimates leaves from the common keys and the rest spread evenly', () => {
    const stats = { rows: 1_000_000, distinct: 102, commonKeyRows: [500_000, 300_000], nullRows: 0 };
    expect(estimateLeaves(stats, 100_000)).toBe(5 + 3 + 100);
    expect(estimateLeaves({ ...stats, nullRows: 200_000 }, 100_000)).toBe(5 + 3 + 100);
  });

  it('rounds to 1, 2 or 5 times a power of ten between 10,000 and 10,000,000', () => {
    expect(roundBucketLimit(1_342_177)).toBe(1_000_000);
    expect(roundBucketLimit(3_800_000)).toBe(5_000_000);
    expect(roundBucketLimit(12)).toBe(10_000);
    expect(roundBucketLimit(1e12)).toBe(10_000_000);
  });
});
