import { describe, expect, it } from 'vitest';
import { parseBucketLimit } from './bucket-limit';

describe('parseBucketLimit', () => {
  it.each([
    ['1000000', 1_000_000],
    ['  250 ', 250],
    ['1,000,000', 1_000_000],
    ['1_000_000', 1_000_000],
    ['1 000 000', 1_000_000],
    ['1', 1],
    ['2000000000', 2_000_000_000],
  ])('accepts %j', (text, value) => {
    expect(parseBucketLimit(text)).toEqual({ ok: true, value });
  });

  it.each([
    ['', /Enter a bucket limit/],
    ['   ', /Enter a bucket limit/],
    ['0', /at least 1/],
    ['-5', /positive whole number/],
    ['1.5', /whole number/],
    ['1e6', /whole number/],
    ['abc', /whole number/],
    ['1,00,000', /whole number/],
    ['2000000001', /at most 2,000,000,000/],
    ['99999999999999999999', /positive whole number|at most/],
  ])('rejects %j', (text, message) => {
    const result = parseBucketLimit(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(message);
  });
});
