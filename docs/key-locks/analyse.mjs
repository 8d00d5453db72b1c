// Reads what measure.sh wrote: pgbench's per-transaction log (latency in µs,
// end time) and each action's window; prints the probe's latency outside the
// actions and during each one, with the action's own duration.
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const say = (line) => process.stdout.write(`${line}\n`);

const dir = process.argv[2] ?? '/tmp/key-locks';
const transactions = fs
  .readdirSync(dir)
  .filter((file) => file.startsWith('pgb'))
  .flatMap((file) => fs.readFileSync(path.join(dir, file), 'utf8').trim().split('\n'))
  .map((line) => {
    const fields = line.split(' ');
    const ms = Number(fields[2]) / 1000;
    const end = Number(fields[4]) + Number(fields[5]) / 1e6;
    return { ms, end, start: end - ms / 1000 };
  })
  .filter((t) => Number.isFinite(t.ms));
const actions = fs
  .readFileSync(path.join(dir, 'actions.txt'), 'utf8')
  .trim()
  .split('\n')
  .map((line) => {
    const [action, key, start, end, ms] = line.split(' ');
    return { action, key, start: Number(start), end: Number(end), ms: Number(ms) };
  });
const during = (a) => transactions.filter((t) => t.end >= a.start && t.start <= a.end).map((t) => t.ms);
const sorted = (values) => [...values].sort((x, y) => x - y);
const at = (values, p) =>
  values.length === 0 ? '-' : values[Math.min(values.length - 1, Math.floor(values.length * p))].toFixed(1);
const outside = sorted(
  transactions.filter((t) => !actions.some((a) => t.end >= a.start && t.start <= a.end)).map((t) => t.ms),
);
say(
  `probe outside the actions: ${outside.length} transactions, p50 ${at(outside, 0.5)} ms, p99 ${at(outside, 0.99)} ms, max ${at(outside, 1)} ms`,
);
for (const a of actions) {
  const inside = sorted(during(a));
  say(
    `${a.action.padEnd(8)} key ${a.key}: ${a.ms} ms in the database; probe during the command: ${inside.length} transactions, p99 ${at(inside, 0.99)} ms, max ${at(inside, 1)} ms`,
  );
}
