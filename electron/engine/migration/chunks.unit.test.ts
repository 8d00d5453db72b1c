// The copy's chunks are its progress steps: small and mid-sized tables are cut
// fine enough that the count moves while they are copied.
import { describe, expect, it } from 'vitest';
import { chunksOf, DEFAULT_CHUNK_BLOCKS } from './copy.js';

const BLOCK = 8192;
const chunks = (megabytes: number, workers = 2) =>
  chunksOf((megabytes * 1024 * 1024) / BLOCK, BLOCK, DEFAULT_CHUNK_BLOCKS, workers, true);

describe('copy chunks', () => {
  it('cuts a 30 MB table (about 300,000 rows) into 20 steps of 5%', () => {
    const cut = chunks(30);
    expect(cut).toHaveLength(20);
    expect(Math.max(...cut.map((c) => c.bytes))).toBeLessThanOrEqual(0.06 * 30 * 1024 * 1024);
  });

  it('cuts a 400 MB table (about 4M rows) into 20 steps, not 7 chunks of 64 MB', () => {
    expect(chunks(400)).toHaveLength(20);
  });

  it('keeps chunks of at least 1 MB for tiny tables, and of at most 64 MB for large ones', () => {
    expect(chunks(5)).toHaveLength(5);
    expect(chunks(0.5)).toHaveLength(1);
    expect(chunks(10 * 1024)).toHaveLength(160);
  });

  it('gives many workers at least 4 chunks each', () => {
    expect(chunks(400, 8)).toHaveLength(32);
  });

  it('covers every block once, the last range open-ended with TID range scans', () => {
    const cut = chunks(30);
    cut.forEach((c, i) => {
      if (i > 0) expect(c.firstBlock).toBe(cut[i - 1]!.endBlock);
    });
    expect(cut[0]!.firstBlock).toBe(0);
    expect(cut.at(-1)!.endBlock).toBeNull();
  });
});
