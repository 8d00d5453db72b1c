// Which PRIMARY KEY, UNIQUE constraints and unique indexes keep their
// guarantee across the whole table after the migration, and which are
// enforced per bucket only. PostgreSQL requires the partition columns in every
// unique index of a partitioned table, so (tenant, id) becomes unique per
// (tenant, id, bucket): a duplicate landing in another bucket is accepted. A
// registry (migration/unique-registry.ts) keeps the original guarantee at the
// cost of one more index entry per write; the plan shows the choice per key,
// the target may override it, and prepare follows the same resolution.
import type { PlanIssue, UniqueEnforcement, UniqueKeyPlan } from '../../shared/plan.js';
import { displayIdentifier, displayTableName } from '../../shared/identifiers.js';
import { rowIdentity, type IndexInfo, type TableInfo } from './catalog.js';

export interface UniqueKey extends UniqueKeyPlan {
  index: IndexInfo;
  /** Plain column names (keys with a registry have no expressions). */
  keyColumns: string[];
}

/** Why a registry cannot mirror this index exactly, or null when it can. */
function registryObstacle(info: TableInfo, index: IndexInfo, identity: readonly string[]): string | null {
  if (identity.length === 0) {
    return 'the table has no primary key or unique index on NOT NULL columns to follow changed rows by during the copy';
  }
  if (index.temporal) return 'it is a temporal (WITHOUT OVERLAPS) constraint';
  if (index.method !== 'btree') return `it uses the ${index.method} access method`;
  if (index.predicate !== null) return 'it is a partial index (WHERE ...)';
  if (index.columns.some((c) => c.column === null)) return 'it indexes expressions';
  const special = index.columns.find((c) => !c.opclassDefault || !c.columnCollation);
  if (special) {
    return `column ${displayIdentifier(special.column!)} uses ${special.opclassDefault ? 'a collation other than its own' : `operator class ${special.opclass}`}`;
  }
  if (info.columns.some((c) => index.keyColumns.includes(c.name) && c.generated === 'v')) {
    return 'it includes a virtual generated column';
  }
  return null;
}

/** Every unique key that widening weakens, with its default and the registry's availability. */
export function uniqueKeys(info: TableInfo, requested: Record<string, UniqueEnforcement> = {}): UniqueKey[] {
  const identity = rowIdentity(info);
  return info.indexes
    .filter((index) => index.isUnique && index.isValid && index.constraintType !== 'x')
    .map((index): UniqueKey => {
      const name = index.constraintName ?? index.name;
      const obstacle = registryObstacle(info, index, identity);
      const always = info.columns.find((c) => index.keyColumns.includes(c.name) && c.identity === 'a');
      const defaultEnforcement: UniqueEnforcement = obstacle === null && !always ? 'table' : 'bucket';
      const reason =
        obstacle !== null
          ? `No registry can keep it across the table: ${obstacle}.`
          : always
            ? `Its values come from the GENERATED ALWAYS identity column ${displayIdentifier(always.name)}, which only the table itself fills (an explicit value needs OVERRIDING SYSTEM VALUE), so a registry would add cost without adding protection.`
            : undefined;
      const choice = requested[name];
      return {
        name,
        kind: index.constraintType === 'p' ? 'primary' : index.constraintType === 'u' ? 'unique_constraint' : 'unique',
        columns: index.columns.map((c) => (c.column !== null ? displayIdentifier(c.column) : c.expression!)).join(', '),
        enforcement: choice === 'table' && obstacle !== null ? 'bucket' : (choice ?? defaultEnforcement),
        defaultEnforcement,
        registryAvailable: obstacle === null,
        ...(reason ? { reason } : {}),
        deferrable: index.deferrable,
        // The registry holds the key once more in a table and in a unique index.
        registryBytes: Math.round(index.bytes * 2),
        index,
        keyColumns: index.keyColumns.filter((c): c is string => c !== null),
      };
    });
}

/** The keys a migration keeps across the whole table with a registry. */
export function registryKeys(info: TableInfo, requested: Record<string, UniqueEnforcement> = {}): UniqueKey[] {
  return uniqueKeys(info, requested).filter((key) => key.enforcement === 'table');
}

/** The command-line option that makes this choice, quoted for a shell when the name needs quotes. */
export function uniqueOption(name: string, choice: UniqueEnforcement): string {
  const display = displayIdentifier(name);
  return display === name ? `--unique ${name}=${choice}` : `--unique '${display.replace(/'/g, `'\\''`)}=${choice}'`;
}

function label(key: UniqueKey): string {
  const kind = key.kind === 'primary' ? 'Primary key' : key.kind === 'unique' ? 'Unique index' : 'Unique constraint';
  return `${kind} ${displayIdentifier(key.name)} (${key.columns})`;
}

/** What the plan says about each unique key, and about choices that name no key or cannot be honoured. */
export function uniquenessIssues(
  info: TableInfo,
  keys: readonly UniqueKey[],
  requested: Record<string, UniqueEnforcement> = {},
): PlanIssue[] {
  const issues: PlanIssue[] = [];
  for (const name of Object.keys(requested)) {
    if (!keys.some((key) => key.name === name)) {
      issues.push({
        code: 'unique_choice_unknown',
        severity: 'blocker',
        message: `${displayTableName(info)} has no primary key, unique constraint or unique index named ${displayIdentifier(name)} to choose the enforcement of.`,
        fix: `Pick one of: ${keys.map((key) => displayIdentifier(key.name)).join(', ') || '(none)'}`,
      });
    }
  }
  for (const key of keys) {
    if (requested[key.name] === 'table' && !key.registryAvailable) {
      issues.push({
        code: 'unique_registry_unavailable',
        severity: 'blocker',
        message: `${label(key)} cannot be kept unique across the whole table. ${key.reason}`,
        fix: `Accept uniqueness per bucket for it (${uniqueOption(key.name, 'bucket')}), or change the index first.`,
      });
    } else if (key.enforcement === 'table') {
      issues.push({
        code: 'unique_kept',
        severity: 'info',
        message: `${label(key)} stays unique across the whole table: a registry in Partwise's schema holds its columns under a unique index named like it, kept by row triggers on the partitioned table. Every insert and delete, and every update of these columns, also writes the registry${key.deferrable ? ' (checked when the constraint is checked, as before)' : ''}.`,
        fix: `To enforce it per bucket only instead, and save that cost: ${uniqueOption(key.name, 'bucket')}`,
      });
    } else {
      issues.push({
        code: 'unique_index_widened',
        severity: 'warning',
        message: `${label(key)} becomes unique per bucket only: PostgreSQL requires the partition columns in every unique index of a partitioned table, so a duplicate of (${key.columns}) that lands in another key or bucket is accepted.${key.reason ? ` ${key.reason}` : ''}`,
        fix: key.registryAvailable
          ? `Keep it unique across the table with a registry: ${uniqueOption(key.name, 'table')}`
          : 'Keep generating these values from a sequence or identity (they stay unique in practice), or enforce uniqueness in the application.',
      });
    }
  }
  return issues;
}

/** The plan's view of the keys (without the catalog details). */
export function uniquenessPlan(keys: readonly UniqueKey[]): UniqueKeyPlan[] {
  return keys.map(({ index: _index, keyColumns: _keyColumns, ...plan }) => plan);
}
