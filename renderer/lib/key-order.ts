// The order of partition key values. They travel as text (the metadata stores
// every key type as text), and text order puts 10 before 2. When every key of
// a table is an integer, they sort as numbers; otherwise as text, code point
// by code point, as PostgreSQL's C collation would.

const INTEGER = /^-?\d+$/;

export function allIntegers(values: Iterable<string>): boolean {
  for (const value of values) if (!INTEGER.test(value)) return false;
  return true;
}

function magnitude(digits: string): string {
  const trimmed = digits.replace(/^0+/, '');
  return trimmed === '' ? '0' : trimmed;
}

/**
 * Integers of any size (bigint and numeric keys exceed 2^53), compared by
 * sign, then number of digits, then digit by digit: no precision is lost.
 */
export function compareIntegerText(a: string, b: string): number {
  const negativeA = a.startsWith('-');
  const negativeB = b.startsWith('-');
  const digitsA = magnitude(negativeA ? a.slice(1) : a);
  const digitsB = magnitude(negativeB ? b.slice(1) : b);
  // -0 is 0.
  const signA = digitsA === '0' ? 0 : negativeA ? -1 : 1;
  const signB = digitsB === '0' ? 0 : negativeB ? -1 : 1;
  if (signA !== signB) return signA - signB;
  const byMagnitude =
    digitsA.length !== digitsB.length
      ? digitsA.length - digitsB.length
      : digitsA < digitsB
        ? -1
        : digitsA > digitsB
          ? 1
          : 0;
  return signA < 0 ? -byMagnitude : byMagnitude;
}

export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export type KeyComparator = (a: string, b: string) => number;

/** The comparator for a table's keys: numeric when all of them are integers. */
export function keyComparator(values: Iterable<string>): KeyComparator {
  return allIntegers(values) ? compareIntegerText : compareText;
}

/** Items ordered by their key value (a new array; the input is left alone). */
export function sortByKey<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const compare = keyComparator(items.map(keyOf));
  return [...items].sort((a, b) => compare(keyOf(a), keyOf(b)));
}
