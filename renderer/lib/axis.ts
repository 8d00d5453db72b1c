// Chart axes a person can read: sizes in round steps of one binary unit
// (0, 5, 10, 15, 20 MB rather than 4.29, 8.58, 12.9 MB), and counts on a
// symmetric log scale at powers of ten, so that 24,000 buckets in one band
// and 3 in another both show.

const UNITS: ReadonlyArray<readonly [string, number]> = [
  ['B', 1],
  ['kB', 1024],
  ['MB', 1024 ** 2],
  ['GB', 1024 ** 3],
  ['TB', 1024 ** 4],
  ['PB', 1024 ** 5],
];

/** Steps in the chosen unit: fractions for a maximum of one or two units, round numbers above. */
const STEPS = [0.25, 0.5, 1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500];

export interface ByteAxis {
  /** Tick values in bytes, from 0; the last one is the top of the axis. */
  ticks: number[];
  unit: string;
  format(bytes: number): string;
}

const trim = (value: number) => String(Number(value.toFixed(2)));

/** Ticks for an axis from 0 to at least `max` bytes, at most `maxTicks` of them, in one unit. */
export function byteAxis(max: number, maxTicks = 6): ByteAxis {
  const [unit, size] = [...UNITS].reverse().find(([, bytes]) => max >= bytes) ?? UNITS[0]!;
  const inUnit = Math.max(max, 1) / size;
  const step =
    STEPS.filter((candidate) => size > 1 || candidate >= 1).find(
      (candidate) => Math.ceil(inUnit / candidate) <= maxTicks - 1,
    ) ?? STEPS.at(-1)!;
  const count = Math.max(1, Math.ceil(inUnit / step - 1e-9));
  const ticks = Array.from({ length: count + 1 }, (_, i) => i * step * size);
  return { ticks, unit, format: (bytes) => (bytes === 0 ? '0' : `${trim(bytes / size)} ${unit}`) };
}

/** Ticks of a count axis on a symmetric log scale: 0 and the powers of ten up to the first above `max`. */
export function logCountTicks(max: number): number[] {
  const ticks = [0, 1];
  while (ticks.at(-1)! < max) ticks.push(ticks.at(-1)! * 10);
  return ticks;
}
