// The verdict on one statement from its plan: which of its scans read the
// table (before the migration) or its leaves (after it), and whether each of
// them is restricted by the key.
import type pg from 'pg';
import type { WorkloadVerdict } from '../../../shared/workload.js';
import { PartwiseError } from '../../db/errors.js';
import { keyRestriction, strongest, type KeyRestriction } from './conditions.js';
import { planNodes, type ExplainedStatement, type PlanNode } from './explain.js';

export interface AnalysisTarget {
  /** The relations whose scans count, as "schema.name" (unquoted). */
  relations: ReadonlySet<string>;
  keyColumn: string;
  /** Leaves of the partitioned table (predicted before the migration). */
  leaves: number;
  /** Most leaves a statement that names one key reads: that key's buckets. */
  leavesPerKey: number;
  /** After the migration the relations are the leaves: a statement naming some of them directly is pruned by its names. */
  relationsAreLeaves: boolean;
}

export interface Analysis {
  verdict: Exclude<WorkloadVerdict, 'not_analysed'>;
  reason: string;
  leaves: number;
}

const CONDITIONS = ['Index Cond', 'Recheck Cond', 'Filter', 'TID Cond'] as const;

/** Identifiers as PostgreSQL prints them, asked of the server (its keyword list decides). */
export class IdentifierQuoter {
  private readonly cache = new Map<string, string>();

  constructor(private readonly client: pg.ClientBase) {}

  async load(names: Iterable<string>): Promise<void> {
    const missing = [...new Set(names)].filter((n) => !this.cache.has(n));
    if (missing.length === 0) return;
    const { rows } = await this.client.query<{ name: string; quoted: string }>(
      `SELECT name, quote_ident(name) AS quoted FROM unnest($1::text[]) name`,
      [missing],
    );
    for (const row of rows) this.cache.set(row.name, row.quoted);
  }

  quote(name: string): string {
    const quoted = this.cache.get(name);
    if (quoted === undefined) throw new PartwiseError('internal', `identifier ${name} was not loaded`);
    return quoted;
  }
}

/** Outputs of sub-selects, as PostgreSQL before 17 prints them: "InitPlan 1 (returns $0,$1)". */
function runTimeParams(nodes: readonly PlanNode[]): Set<string> {
  const params = new Set<string>();
  for (const node of nodes) {
    const returns = /\(returns (.*)\)$/.exec(node['Subplan Name'] ?? '');
    if (returns) for (const param of returns[1]!.split(',')) params.add(param.trim());
  }
  return params;
}

/** null when the statement does not read the table at all (an INSERT ... VALUES, another table). */
export async function analysePlan(
  plan: ExplainedStatement,
  target: AnalysisTarget,
  quoter: IdentifierQuoter,
): Promise<Analysis | null> {
  const nodes = planNodes(plan.root);
  const scans = nodes.filter(
    (n) =>
      n['Relation Name'] !== undefined &&
      n['Node Type'] !== 'ModifyTable' &&
      target.relations.has(`${n.Schema}.${n['Relation Name']}`),
  );
  if (scans.length === 0) return null;
  const aliases = nodes.map((n) => n.Alias).filter((a): a is string => a !== undefined);
  await quoter.load([...aliases, target.keyColumn]);
  const quotedAliases = aliases.map((a) => quoter.quote(a));
  const params = runTimeParams(nodes);
  const key = quoter.quote(target.keyColumn);
  let worst: KeyRestriction = 'static';
  for (const scan of scans) {
    const alias = quoter.quote(scan.Alias ?? scan['Relation Name']!);
    const context = { alias, key, otherAliases: quotedAliases.filter((a) => a !== alias), runTimeParams: params };
    const restriction = strongest(
      CONDITIONS.map((field) => scan[field]).flatMap((condition) =>
        condition === undefined ? [] : [keyRestriction(condition, context)],
      ),
    );
    if (restriction === 'none' || (restriction === 'run_time' && worst === 'static')) worst = restriction;
  }
  const leavesRead = new Set(scans.map((s) => `${s.Schema}.${s['Relation Name']}`)).size;
  if (target.relationsAreLeaves && worst !== 'static' && leavesRead < target.leaves) {
    return {
      verdict: 'key',
      reason: `Names ${leavesRead === 1 ? 'a partition' : 'partitions'} directly: reads ${leavesRead.toLocaleString('en-US')} of ${target.leaves.toLocaleString('en-US')} leaves.`,
      leaves: leavesRead,
    };
  }
  const scanWord = scans.length === 1 ? 'its scan' : 'one of its scans';
  switch (worst) {
    case 'static':
      return {
        verdict: 'key',
        reason: `Filters by ${target.keyColumn}: PostgreSQL reads only the buckets of the keys it names.`,
        leaves: target.leavesPerKey,
      };
    case 'run_time':
      return {
        verdict: 'key_at_run_time',
        reason: `${scans.length === 1 ? 'Its scan gets' : 'One of its scans gets'} ${target.keyColumn} only while it runs (from a sub-select or a join): every leaf is planned and locked, the matching ones read.`,
        leaves: target.leaves,
      };
    case 'none':
      return {
        verdict: 'keyless',
        reason: `${scanWord[0]!.toUpperCase()}${scanWord.slice(1)} of the table is not restricted by ${target.keyColumn}: every leaf is planned, locked and read.`,
        leaves: target.leaves,
      };
  }
}
