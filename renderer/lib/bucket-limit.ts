// The bucket limit as people type it: digits, optionally grouped with commas,
// underscores or spaces ("1,000,000"), within what the contract accepts.

export const MAX_BUCKET_LIMIT = 2_000_000_000;

export type ParsedLimit = { ok: true; value: number } | { ok: false; error: string };

export function parseBucketLimit(text: string): ParsedLimit {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, error: 'Enter a bucket limit (rows per leaf partition).' };
  if (/^-/.test(trimmed)) return { ok: false, error: 'The bucket limit must be a positive whole number.' };
  if (!/^\d{1,3}([,_ ]\d{3})*$|^\d+$/.test(trimmed)) {
    return { ok: false, error: 'The bucket limit must be a whole number of rows, such as 1000000.' };
  }
  const value = Number(trimmed.replace(/[,_ ]/g, ''));
  if (!Number.isSafeInteger(value) || value <= 0) {
    return value === 0
      ? { ok: false, error: 'The bucket limit must be at least 1.' }
      : { ok: false, error: 'The bucket limit must be a positive whole number.' };
  }
  if (value > MAX_BUCKET_LIMIT) return { ok: false, error: 'The bucket limit can be at most 2,000,000,000 rows.' };
  return { ok: true, value };
}
