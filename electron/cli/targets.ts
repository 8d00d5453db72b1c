// Targets from the command line (--table, --key, --bucket-limit, --unique) or
// from a file listing several: JSON (with an optional "uniqueness",
// "shareBelow" and "acceptKeylessQueries" per target), or the original
// script's lines "table : key_column : bucket_limit" (# starts a comment).
import fs from 'node:fs';
import { MigrationTarget, UniqueEnforcement } from '../../shared/plan.js';
import { parseTableName } from '../../shared/identifiers.js';
import { parseBucketLimit } from '../../shared/bucket-limit.js';
import { PartwiseError } from '../db/errors.js';

/** The shared parser's verdict, with where the text came from and what it was. */
export function bucketLimitArgument(text: string | undefined, where: string): number {
  if (text === undefined) throw new PartwiseError('invalid_input', `${where}: a bucket limit is required`);
  const parsed = parseBucketLimit(text);
  if (!parsed.ok) throw new PartwiseError('invalid_input', `${where}: ${parsed.error} Got "${text}".`);
  return parsed.value;
}

export function parseKeyColumn(text: string | undefined, where: string): string {
  if (!text || text.trim() === '')
    throw new PartwiseError('invalid_input', `${where}: a key column is required (--key)`);
  const trimmed = text.trim();
  // A quoted column name keeps its case and characters; an unquoted one folds to lower case.
  if (trimmed.startsWith('"')) {
    if (!trimmed.endsWith('"') || trimmed.length < 3)
      throw new PartwiseError('invalid_input', `${where}: bad quoted column name ${text}`);
    return trimmed.slice(1, -1).replace(/""/g, '"');
  }
  if (!/^[A-Za-z_][A-Za-z0-9_$]*$/.test(trimmed)) {
    throw new PartwiseError(
      'invalid_input',
      `${where}: "${trimmed}" is not a valid column name; quote it: '"${trimmed}"'`,
    );
  }
  return trimmed.toLowerCase();
}

/**
 * `--unique NAME=table|bucket` choices: how each named primary key, unique
 * constraint or unique index stays enforced. NAME is read as SQL reads it
 * (unquoted folds to lower case).
 */
export function parseUniqueness(entries: readonly string[], where: string): Record<string, UniqueEnforcement> {
  const choices: Record<string, UniqueEnforcement> = {};
  for (const entry of entries) {
    const at = entry.lastIndexOf('=');
    const choice = entry.slice(at + 1).trim();
    if (at < 1 || !UniqueEnforcement.safeParse(choice).success) {
      throw new PartwiseError('invalid_input', `${where}: expected NAME=table or NAME=bucket, got "${entry}"`);
    }
    const raw = entry.slice(0, at).trim();
    let name: string;
    if (raw.startsWith('"')) {
      if (!raw.endsWith('"') || raw.length < 3 || raw.slice(1, -1).replace(/""/g, '').includes('"'))
        throw new PartwiseError('invalid_input', `${where}: bad quoted name ${raw}`);
      name = raw.slice(1, -1).replace(/""/g, '"');
    } else if (/^[A-Za-z_][A-Za-z0-9_$]*$/.test(raw)) {
      name = raw.toLowerCase();
    } else {
      throw new PartwiseError(
        'invalid_input',
        `${where}: "${raw}" is not a valid name; quote it: '"${raw}"=${choice}'`,
      );
    }
    choices[name] = choice as UniqueEnforcement;
  }
  return choices;
}

export function targetFromArgs(
  table: string | undefined,
  key: string | undefined,
  limit: string | undefined,
  uniqueness?: Record<string, UniqueEnforcement>,
): MigrationTarget {
  if (!table) throw new PartwiseError('invalid_input', 'a table is required (--table schema.table, or --config FILE)');
  let name;
  try {
    name = parseTableName(table);
  } catch (error) {
    throw new PartwiseError('invalid_input', `--table: ${(error as Error).message}`);
  }
  return validate({
    schema: name.schema,
    table: name.name,
    keyColumn: parseKeyColumn(key, '--key'),
    bucketLimit: bucketLimitArgument(limit, '--bucket-limit'),
    ...(uniqueness && Object.keys(uniqueness).length > 0 ? { uniqueness } : {}),
  });
}

/** A config file's `"uniqueness": {"orders_pkey": "bucket"}`: names exactly as in the catalog. */
function uniquenessFromFile(value: unknown): Record<string, UniqueEnforcement> | undefined {
  if (value === undefined) return undefined;
  const parsed = MigrationTarget.shape.uniqueness.safeParse(value);
  if (!parsed.success) {
    throw new PartwiseError('invalid_input', `"uniqueness" must map constraint names to "table" or "bucket"`);
  }
  return parsed.data;
}

/**
 * A config file's `"shareBelow": 1000`: this target's keys under that many
 * rows share the pool of small keys. Per target, because the threshold that
 * makes sense is a share of each table's own rows.
 */
function shareBelowFromFile(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (!MigrationTarget.shape.shareBelow.safeParse(value).success) {
    throw new PartwiseError(
      'invalid_input',
      `"shareBelow" must be a whole number of rows, 1 or more (keys with fewer rows share the pool of small keys), got ${JSON.stringify(value)}`,
    );
  }
  return value as number;
}

function validate(target: MigrationTarget): MigrationTarget {
  const parsed = MigrationTarget.safeParse(target);
  if (!parsed.success) throw new PartwiseError('invalid_input', parsed.error.issues.map((i) => i.message).join('; '));
  return parsed.data;
}

export function targetsFromFile(path: string): MigrationTarget[] {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new PartwiseError('invalid_input', `cannot read ${path}: ${(error as Error).message}`);
  }
  if (text.trim().startsWith('{') || text.trim().startsWith('[')) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new PartwiseError('invalid_input', `${path} is not valid JSON: ${(error as Error).message}`);
    }
    const list = Array.isArray(data) ? data : (data as { targets?: unknown }).targets;
    if (!Array.isArray(list) || list.length === 0)
      throw new PartwiseError('invalid_input', `${path}: expected a "targets" list`);
    return list.map((entry, i) => {
      const item = entry as {
        table?: string;
        key?: string;
        keyColumn?: string;
        bucketLimit?: number | string;
        acceptKeylessQueries?: unknown;
        uniqueness?: unknown;
        shareBelow?: unknown;
      };
      const where = `${path} target ${i + 1}`;
      try {
        const target = targetFromArgs(
          item.table,
          item.key ?? item.keyColumn,
          item.bucketLimit === undefined ? undefined : String(item.bucketLimit),
          uniquenessFromFile(item.uniqueness),
        );
        const shareBelow = shareBelowFromFile(item.shareBelow);
        if (item.acceptKeylessQueries !== undefined && typeof item.acceptKeylessQueries !== 'boolean') {
          throw new PartwiseError('invalid_input', '"acceptKeylessQueries" must be true or false');
        }
        return {
          ...target,
          ...(item.acceptKeylessQueries !== undefined ? { acceptKeylessQueries: item.acceptKeylessQueries } : {}),
          ...(shareBelow !== undefined ? { shareBelow } : {}),
        };
      } catch (error) {
        throw new PartwiseError('invalid_input', `${where}: ${(error as Error).message}`);
      }
    });
  }
  const targets: MigrationTarget[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/#.*$/, '').trim().replace(/^"|"$/g, '');
    if (line === '') return;
    const parts = line.split(':').map((p) => p.trim());
    if (parts.length !== 3)
      throw new PartwiseError('invalid_input', `${path}:${index + 1}: expected "table : key_column : bucket_limit"`);
    try {
      targets.push(targetFromArgs(parts[0], parts[1], parts[2]));
    } catch (error) {
      throw new PartwiseError('invalid_input', `${path}:${index + 1}: ${(error as Error).message}`);
    }
  });
  if (targets.length === 0) throw new PartwiseError('invalid_input', `${path} lists no table`);
  return targets;
}
