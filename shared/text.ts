// Counts and sizes in messages written by the engine and the command line (the
// renderer formats its own, with renderer/lib/format.ts).

/** "1 row", "2 rows", "1,000,000 rows": a count with its noun, en-US digits. */
export function countOf(value: number, singular: string, plural = `${singular}s`): string {
  const rounded = Math.round(value);
  return `${rounded.toLocaleString('en-US')} ${rounded === 1 ? singular : plural}`;
}

/** Sizes in binary units as pg_size_pretty prints them: 512 B, 64 MB, 1.2 GB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1).replace(/\.0$/, '')} ${units[unit]}`;
}
