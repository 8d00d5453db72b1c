// The bucket limit as people type it, in the app or on the command line: one
// parser, one set of messages. Digits, optionally grouped with commas,
// underscores or spaces ("1,000,000"); whitespace around the number is
// trimmed in both places (a config line "orders : customer_id : 100" has it,
// and it cannot change the meaning), anything else is refused with the reason.

/** The largest limit: bucket numbers and ticket arithmetic stay within a PostgreSQL integer. */
export const MAX_BUCKET_LIMIT = 2_000_000_000;

export type ParsedLimit = { ok: true; value: number } | { ok: false; error: string };

const GROUPED = /^\d{1,3}([,_ ]\d{3})+$/;

export function parseBucketLimit(text: string): ParsedLimit {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, error: 'Enter a bucket limit: the most rows a leaf partition may hold.' };
  // "-1" is a number, only not an allowed one: the same answer as 0.
  if (/^-\s*[\d,_ ]+$/.test(trimmed)) return { ok: false, error: 'The bucket limit must be at least 1 row.' };
  if (!/^\d+$/.test(trimmed) && !GROUPED.test(trimmed)) {
    return { ok: false, error: 'The bucket limit must be a whole number of rows, such as 100000.' };
  }
  const digits = trimmed.replace(/[,_ ]/g, '').replace(/^0+(?=\d)/, '');
  // Compared as digits: a number past 2^53 would lose its last digits as a double.
  if (digits.length > String(MAX_BUCKET_LIMIT).length || Number(digits) > MAX_BUCKET_LIMIT) {
    return { ok: false, error: `The bucket limit can be at most ${MAX_BUCKET_LIMIT.toLocaleString('en-US')} rows.` };
  }
  const value = Number(digits);
  if (value < 1) return { ok: false, error: 'The bucket limit must be at least 1 row.' };
  return { ok: true, value };
}
