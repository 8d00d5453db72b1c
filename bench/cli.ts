// npm run bench -- cli [--runs N]
//
// How long the built `partwise` command takes to start: `node bin/partwise.mjs
// --help` (the bundle of `npm run build`, rebuilt first so that it matches the
// sources), run N times one after another, against a bare `node -e 0` measured
// in the same way, interleaved so that the machine's load weighs on both alike;
// and, a few times, the unbuilt checkout's start (the sources through tsx).
// Goal: a median well under 200 ms.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { table } from './_cluster.js';
import { buildCli, cliBin, root } from './_cli.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '30' } } });
const RUNS = Number(values.runs);

buildCli();

const bin = cliBin;
const commands: [string, string[], Record<string, string>][] = [
  ['node -e 0', ['-e', '0'], {}],
  ['node bin/partwise.mjs --help', [bin, '--help'], {}],
  ['the same from the sources (tsx)', [bin, '--help'], { PARTWISE_FROM_SOURCE: '1' }],
];
const times: number[][] = commands.map(() => []);
for (let run = 0; run < RUNS; run++) {
  commands.forEach(([label, args, env], i) => {
    // The sources' start is the slow baseline: a few runs show it.
    if (i === 2 && run % 5 !== 0) return;
    const started = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    if (result.status !== 0) throw new Error(`${label} failed: ${result.stderr.toString()}`);
    times[i]!.push(Number(process.hrtime.bigint() - started) / 1e6);
  });
}
const stats = (ms: number[]): { min: number; median: number; p90: number } => {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { min: sorted[0]!, median: at(0.5), p90: at(0.9) };
};
const rows = commands.map(([label], i) => {
  const s = stats(times[i]!);
  return [label, s.min.toFixed(0), s.median.toFixed(0), s.p90.toFixed(0)];
});
const cli = stats(times[1]!);
const bare = stats(times[0]!);
process.stdout.write(
  `cli bench on Node ${process.version}, ${RUNS} runs each (the sources: ${times[2]!.length})\n\n${table(['ms', 'min', 'median', 'p90'], rows)}\n\n` +
    `partwise --help: median ${cli.median.toFixed(0)} ms, of which ${(cli.median - bare.median).toFixed(0)} ms above a bare node start.\n` +
    `Goal: a median well under 200 ms: ${cli.median < 200 ? 'met' : 'NOT met'}.\n`,
);
