// The copy's chunks are its progress steps: small and mid-sized tables are cut
// fine enough that the count moves while they are copied.
import { describe, expect, it } from 'vitest';
import { chunksOf, copyUnits, DEFAULT_CHUNK_BLOCKS } from './copy.js';

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

describe('copy units', () => {
  /** 20 counted chunks of a table whose keys 1..n each have `perChunk` rows in every chunk. */
  const counted = (keys: number, perChunk: number) => {
    const cut = chunks(180);
    cut.forEach((chunk, c) => {
      for (let k = 1; k <= keys; k++) {
        chunk.keys.push(String(k));
        chunk.offsets.push(c * perChunk);
        chunk.counts.push(perChunk);
        chunk.rows += perChunk;
      }
    });
    const keyRows = Array.from({ length: keys }, (_, k): [string, number] => [String(k + 1), 20 * perChunk]);
    return { cut, keyRows };
  };
  const merging = { minUnits: 20, maxBytes: DEFAULT_CHUNK_BLOCKS * BLOCK };

  it('keeps one unit per chunk when every key fits one transaction', () => {
    const { cut, keyRows } = counted(200, 25);
    const { units, groups } = copyUnits(cut, keyRows, 100_000, 1000, 1e9, merging);
    expect(groups).toBe(1);
    expect(units).toHaveLength(20);
  });

  it('merges chunks when keys are copied in groups, keeping 20 progress steps and every row once', () => {
    // 2,000 keys of 2 partitions each, 1,000 partitions per transaction: 4 groups.
    const { cut, keyRows } = counted(2000, 25);
    const { units, groups, chunks: merged } = copyUnits(cut, keyRows, 100_000, 1000, 1e9, merging);
    expect(groups).toBe(4);
    expect(merged).toBe(5);
    expect(units).toHaveLength(20);
    // Each key: 5 units of 100 rows, numbered from 0, 100, ... 400: its 500 rows, each once.
    const ranges = new Map<string, [number, number][]>();
    for (const unit of units) {
      expect(unit.chunk.bytes).toBeLessThanOrEqual(merging.maxBytes);
      unit.keys.forEach((k, i) => ranges.set(k, [...(ranges.get(k) ?? []), [unit.offsets[i]!, unit.counts[i]!]]));
    }
    expect(ranges.size).toBe(2000);
    for (const list of ranges.values()) {
      expect(list.sort((a, b) => a[0] - b[0])).toEqual([
        [0, 100],
        [100, 100],
        [200, 100],
        [300, 100],
        [400, 100],
      ]);
    }
    // The merged ranges cover the table once, in order, the last open-ended.
    const byRange = [...new Set(units.map((u) => u.chunk))].sort((a, b) => a.firstBlock - b.firstBlock);
    expect(byRange[0]!.firstBlock).toBe(0);
    byRange.forEach((c, i) => i > 0 && expect(c.firstBlock).toBe(byRange[i - 1]!.endBlock));
    expect(byRange.at(-1)!.endBlock).toBeNull();
  });

  it('never merges beyond the largest chunk a transaction may read', () => {
    const { cut, keyRows } = counted(2000, 25);
    const { chunks: merged } = copyUnits(cut, keyRows, 100_000, 1000, 1e9, {
      minUnits: 20,
      maxBytes: 2 * cut[0]!.bytes,
    });
    expect(merged).toBe(10);
  });
});
