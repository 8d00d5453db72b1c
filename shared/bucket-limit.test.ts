import { describe, expect, it } from 'vitest';
import { MAX_BUCKET_LIMIT, parseBucketLimit } from './bucket-limit.js';
import { MigrationTarget } from './plan.js';

describe('parseBucketLimit (the app and the command line)', () => {
  it.each([
    ['1000000', 1_000_000],
    ['  250 ', 250],
    [' 100', 100],
    ['\t100\n', 100],
    ['1,000,000', 1_000_000],
    ['1_000_000', 1_000_000],
    ['1 000 000', 1_000_000],
    ['1', 1],
    ['007', 7],
    ['2000000000', 2_000_000_000],
    ['2,000,000,000', 2_000_000_000],
  ])('accepts %j', (text, value) => {
    expect(parseBucketLimit(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['', 'Enter a bucket limit: the most rows a leaf partition may hold.'],
    ['   ', 'Enter a bucket limit: the most rows a leaf partition may hold.'],
    ['0', 'The bucket limit must be at least 1 row.'],
    ['000', 'The bucket limit must be at least 1 row.'],
    ['-1', 'The bucket limit must be at least 1 row.'],
    ['-5', 'The bucket limit must be at least 1 row.'],
    ['-1,000', 'The bucket limit must be at least 1 row.'],
    ['1.5', 'The bucket limit must be a whole number of rows, such as 100000.'],
    ['1e6', 'The bucket limit must be a whole number of rows, such as 100000.'],
    ['+5', 'The bucket limit must be a whole number of rows, such as 100000.'],
    ['abc', 'The bucket limit must be a whole number of rows, such as 100000.'],
    ['1,00,000', 'The bucket limit must be a whole number of rows, such as 100000.'],
    ['1 2', 'The bucket limit must be a whole number of rows, such as 100000.'],
    ['2000000001', 'The bucket limit can be at most 2,000,000,000 rows.'],
    ['99999999999999999999', 'The bucket limit can be at most 2,000,000,000 rows.'],
    ['9'.repeat(400), 'The bucket limit can be at most 2,000,000,000 rows.'],
  ])('refuses %j', (text, error) => {
    expect(parseBucketLimit(text)).toEqual({ ok: false, error });
  });

  it('accepts exactly what the contract accepts', () => {
    const contract = (bucketLimit: number) =>
      MigrationTarget.safeParse({ schema: 's', table: 't', keyColumn: 'k', bucketLimit }).success;
    expect(contract(MAX_BUCKET_LIMIT)).toBe(true);
    expect(contract(MAX_BUCKET_LIMIT + 1)).toBe(false);
    expect(contract(1)).toBe(true);
    expect(contract(0)).toBe(false);
  });
});
