// partwise key <action> --table T --value V [--value V2 ...]: an action on one
// or more keys of a managed table, each planned, confirmed where it removes
// rows or refuses them (detach, drop), then run and journaled (see
// electron/engine/keys/). Keys are acted on one after the other; the first
// failure stops the rest, and says which keys were done.
import fs from 'node:fs';
import { dirname } from 'node:path';
import { Writable } from 'node:stream';
import type pg from 'pg';
import { KeyActionKind, type KeyActionOptions, type KeyActionResult, type KeyPlan } from '../../shared/keys.js';
import { parseTableName } from '../../shared/identifiers.js';
import { PartwiseError } from '../db/errors.js';
import { planKeyActionFor, runKeyAction } from '../engine/keys/run.js';
import { formatKeyPlan } from './key-text.js';
import { keyProgressText } from '../../shared/text.js';

export interface KeyCommandValues {
  table?: string;
  value?: string[];
  'bucket-limit'?: string;
  then?: string;
  format?: string;
  out?: string;
  tablespace?: string;
  'dry-run'?: boolean;
  json?: boolean;
  yes?: boolean;
  'lock-timeout'?: string;
}

export class KeyUsageError extends Error {}

export interface KeyCommand {
  action: KeyActionKind;
  table: ReturnType<typeof parseTableName>;
  values: string[];
  options: KeyActionOptions;
}

/** Checks the command line before connecting. */
export function parseKeyCommand(actionName: string | undefined, values: KeyCommandValues): KeyCommand {
  const parsed = KeyActionKind.safeParse(actionName);
  if (!parsed.success)
    throw new KeyUsageError(
      `partwise key needs an action: ${KeyActionKind.options.join(', ')}${actionName ? ` (got "${actionName}")` : ''}`,
    );
  const action = parsed.data;
  if (!values.table) throw new KeyUsageError('--table is required');
  if (!values.value || values.value.length === 0)
    throw new KeyUsageError('--value is required (repeat it for several keys)');
  const options: KeyActionOptions = {};
  if (values.then !== undefined) {
    if (action !== 'drop') throw new KeyUsageError('--then goes with drop');
    if (values.then !== 'refuse' && values.then !== 'recreate')
      throw new KeyUsageError(`--then must be refuse or recreate, got "${values.then}"`);
    options.onInsert = values.then;
  }
  if (action === 'limit') {
    const limit = values['bucket-limit'];
    if (limit === undefined) throw new KeyUsageError('limit needs --bucket-limit N (or none for the table limit)');
    if (limit === 'none') options.bucketLimit = null;
    else if (/^\d+$/.test(limit) && Number(limit) >= 1 && Number.isSafeInteger(Number(limit)))
      options.bucketLimit = Number(limit);
    else throw new KeyUsageError(`--bucket-limit must be a positive integer or none, got "${limit}"`);
  }
  if (values.format !== undefined || values.out !== undefined) {
    if (action !== 'export') throw new KeyUsageError('--format and --out go with export');
  }
  if (values.tablespace !== undefined && action !== 'move') throw new KeyUsageError('--tablespace goes with move');
  if (action === 'move') {
    if (!values.tablespace) throw new KeyUsageError('move needs --tablespace NAME');
    options.tablespace = values.tablespace;
  }
  if (action === 'export') {
    const format = values.format ?? 'csv';
    if (format !== 'csv' && format !== 'binary')
      throw new KeyUsageError(`--format must be csv or binary, got "${format}"`);
    options.format = format;
    if (values.value.length > 1 && !values.out) throw new KeyUsageError('export one key at a time to stdout');
  }
  return { action, table: parseTableName(values.table), values: values.value, options };
}

/** Where an export goes: a file (created, or replaced), or stdout (left open). */
function exportTarget(
  out: string | undefined,
  keyValue: string,
  several: boolean,
): { stream: Writable; close(): Promise<void> } {
  if (!out) {
    const stream = new Writable({
      write: (chunk: Buffer, _encoding, done) =>
        process.stdout.write(chunk) ? done() : process.stdout.once('drain', done),
    });
    return { stream, close: async () => undefined };
  }
  // Several keys into one name: one file per key beside it.
  const path = several ? out.replace(/(\.[^./]*)?$/, (ext) => `.${keyValue.replace(/[^\w.-]/g, '_')}${ext}`) : out;
  let stream: fs.WriteStream;
  try {
    fs.accessSync(dirname(path), fs.constants.W_OK);
    stream = fs.createWriteStream(path);
  } catch (error) {
    throw new PartwiseError('invalid_input', `cannot write ${path}: ${(error as Error).message}`);
  }
  return {
    stream,
    close: () => new Promise((resolve) => (stream.closed ? resolve() : stream.once('close', () => resolve()))),
  };
}

export async function keyCommand(
  pool: pg.Pool,
  installSchema: string,
  command: KeyCommand,
  values: KeyCommandValues,
  confirm: (question: string) => Promise<void>,
  lockTimeoutMs: number,
): Promise<number> {
  const { action, table, options } = command;
  const exportToStdout = action === 'export' && !values.out;
  // Results go to stdout, unless the rows do.
  const say = (text: string): boolean => (exportToStdout ? process.stderr : process.stdout).write(`${text}\n`);
  const plans: KeyPlan[] = [];
  for (const value of command.values)
    plans.push(await planKeyActionFor(pool, installSchema, table, value, action, options));
  if (values['dry-run']) {
    say(values.json ? JSON.stringify(plans, null, 2) : plans.map(formatKeyPlan).join('\n\n'));
    return 0;
  }
  if (action === 'detach' || action === 'drop') {
    if (!values.json && !values.yes) process.stderr.write(`${plans.map(formatKeyPlan).join('\n\n')}\n\n`);
    const keys = plans.map(
      (p) => `${p.keyValue} (${p.rows.toLocaleString('en-US')} rows, ${p.bytes.toLocaleString('en-US')} bytes)`,
    );
    await confirm(
      action === 'drop'
        ? `Drop key ${keys.join(', ')} of ${plans[0]!.schema}.${plans[0]!.table}? Its rows are deleted.`
        : `Detach key ${keys.join(', ')} of ${plans[0]!.schema}.${plans[0]!.table}? New rows of it are refused until it is attached.`,
    );
  }
  const results: KeyActionResult[] = [];
  for (const value of command.values) {
    const target = action === 'export' ? exportTarget(values.out, value, command.values.length > 1) : null;
    try {
      const result = await runKeyAction(pool, table, value, action, options, {
        installSchema,
        lock: { lockTimeoutMs },
        output: target?.stream,
        onProgress: (p) =>
          process.stderr.write(
            values.json ? `${JSON.stringify({ progress: { key: value, ...p } })}\n` : `  ${keyProgressText(p)}\n`,
          ),
      });
      await target?.close();
      results.push(result);
      if (!values.json) say(result.message);
    } catch (error) {
      target?.stream.destroy();
      const done = results.map((r) => r.keyValue);
      if (done.length > 0) process.stderr.write(`partwise: done before the failure: key ${done.join(', ')}\n`);
      throw error;
    }
  }
  if (values.json) say(JSON.stringify(results, null, 2));
  return 0;
}
