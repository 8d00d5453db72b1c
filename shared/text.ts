// Counts and sizes in messages written by the engine and the command line (the
// renderer formats its own, with renderer/lib/format.ts).

/** "1 row", "2 rows", "1,000,000 rows": a count with its noun, en-US digits. */
export function countOf(value: number, singular: string, plural = `${singular}s`): string {
  const rounded = Math.round(value);
  return `${rounded.toLocaleString('en-US')} ${rounded === 1 ? singular : plural}`;
}

/**
 * Sizes in binary units with pg_size_pretty's unit names (kB, not KB), so that
 * the engine's messages, the command line and the app's screens print one
 * size one way: three significant digits, 512 B, 1.5 kB, 12.3 MB, 123 MB, 1.21 GB.
 */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${sign}${Math.round(value)} B`;
  const decimalsFor = (v: number) => (v >= 100 ? 0 : v >= 10 ? 1 : 2);
  // Rounding can carry into the next unit (1023.9 kB would print as "1024 kB").
  if (Number(value.toFixed(decimalsFor(value))) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const fixed = value.toFixed(decimalsFor(value));
  // Trailing zeros of the fraction only: "1.50" -> "1.5", "2.00" -> "2", but "120" stays.
  const text = fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
  return `${sign}${text} ${units[unit]}`;
}

/**
 * A key action's progress in words, the same on the command line and in the
 * app: "exporting key 7: 12.3 MB written", "vacuum: 3 of 8 leaves".
 */
export function keyProgressText(progress: {
  step: string;
  done?: number | undefined;
  total?: number | null | undefined;
  unit?: string | undefined;
}): string {
  if (progress.done === undefined) return progress.step;
  if (progress.unit === 'bytes') return `${progress.step}: ${formatBytes(progress.done)} written`;
  const of = progress.total ? ` of ${progress.total.toLocaleString('en-US')}` : '';
  return `${progress.step}: ${progress.done.toLocaleString('en-US')}${of}${progress.unit ? ` ${progress.unit}` : ''}`;
}
