// The command line's grammar: options, their parsing, and the error for bad
// usage (exit status 2). Light on purpose: the entry parses with it before
// loading the command's module.
import { parseArgs } from 'node:util';

export const options = {
  url: { type: 'string' },
  ssh: { type: 'string' },
  'ssh-key': { type: 'string' },
  'ssh-host-key': { type: 'string' },
  'ssh-known-hosts': { type: 'string' },
  table: { type: 'string' },
  key: { type: 'string' },
  'bucket-limit': { type: 'string' },
  unique: { type: 'string', multiple: true },
  'share-below': { type: 'string' },
  config: { type: 'string' },
  run: { type: 'string' },
  exact: { type: 'boolean' },
  ddl: { type: 'boolean' },
  workers: { type: 'string' },
  ahead: { type: 'string' },
  'max-rate': { type: 'string' },
  'max-standby-lag': { type: 'string' },
  slot: { type: 'string' },
  'lock-timeout': { type: 'string' },
  schema: { type: 'string' },
  json: { type: 'boolean' },
  yes: { type: 'boolean' },
  'accept-keyless': { type: 'boolean' },
  value: { type: 'string', multiple: true },
  then: { type: 'string' },
  format: { type: 'string' },
  out: { type: 'string' },
  tablespace: { type: 'string' },
  'dry-run': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

export class UsageError extends Error {}

export function integerOption(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}

/**
 * parseArgs takes "-1" after an option for another option ("argument is
 * ambiguous"); a value that looks like a negative number is a value, for the
 * option's own check to refuse with its own message.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const name = arg.startsWith('--') ? arg.slice(2) : null;
    const next = argv[i + 1];
    if (
      name !== null &&
      options[name as keyof typeof options]?.type === 'string' &&
      next !== undefined &&
      /^-[\d.]/.test(next)
    ) {
      joined.push(`${arg}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

/** The command line parsed: a bad option is a UsageError. */
export function parseCommandLine(argv: readonly string[]): { values: Values; positionals: string[] } {
  try {
    return parseArgs({ args: joinNegativeValues(argv), options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
