// Whether a scan's conditions, as EXPLAIN (VERBOSE) prints them, restrict the
// partition key the way partition pruning needs: an equality (or = ANY, which
// is how IN lists print) between the bare key column and a value that does
// not come from the same row. EXPLAIN prints every condition fully
// parenthesised, one boolean operator per level, so the structure can be
// read back exactly; anything else (a cast on the key, an inequality, NOT,
// IS NOT DISTINCT FROM) restricts nothing, as it restricts nothing for pruning.

/**
 * - `static`: the value is known when execution starts (a parameter, a
 *   constant, a stable expression): pruned before any leaf is opened.
 * - `run_time`: the value comes from a sub-select or another relation of a
 *   join: every leaf is planned and locked, only the matching ones are read.
 * - `none`: the key is not restricted.
 */
export type KeyRestriction = 'static' | 'run_time' | 'none';

export interface ScanContext {
  /** The scanned relation's alias, quoted the way PostgreSQL prints identifiers. */
  alias: string;
  /** The key column, quoted the same way. */
  key: string;
  /** Every other alias of the plan (quoted): a value that names one of them comes from a join. */
  otherAliases: readonly string[];
  /** Parameters that sub-selects set while the statement runs, as printed before PostgreSQL 17 ("$0"). */
  runTimeParams: ReadonlySet<string>;
}

const RANK: Record<KeyRestriction, number> = { static: 2, run_time: 1, none: 0 };

/** The best restriction of conditions that all hold (AND). */
export function strongest(restrictions: readonly KeyRestriction[]): KeyRestriction {
  return restrictions.reduce<KeyRestriction>((best, r) => (RANK[r] > RANK[best] ? r : best), 'none');
}

/** The restriction that holds whichever of the alternatives (OR) matches: the weakest. */
export function weakest(restrictions: readonly KeyRestriction[]): KeyRestriction {
  return restrictions.reduce<KeyRestriction>((worst, r) => (RANK[r] < RANK[worst] ? r : worst), 'static');
}

export function keyRestriction(condition: string, context: ScanContext): KeyRestriction {
  const text = stripOuterParentheses(condition.trim());
  const conjuncts = splitTopLevel(text, ' AND ');
  if (conjuncts.length > 1) return strongest(conjuncts.map((part) => keyRestriction(part, context)));
  const alternatives = splitTopLevel(text, ' OR ');
  if (alternatives.length > 1) return weakest(alternatives.map((part) => keyRestriction(part, context)));
  const sides = splitTopLevel(text, ' = ');
  if (sides.length !== 2) return 'none';
  const keyRef = `${context.alias}.${context.key}`;
  const [left, right] = sides as [string, string];
  if (left === keyRef) return valueSource(right, context);
  if (right === keyRef) return valueSource(left, context);
  return 'none';
}

/** Where the value compared with the key comes from. */
function valueSource(value: string, context: ScanContext): KeyRestriction {
  const code = blankStringLiterals(value);
  if (mentionsAlias(code, context.alias)) return 'none';
  if (/\((InitPlan|SubPlan) \d+\)/.test(code)) return 'run_time';
  if (context.otherAliases.some((alias) => mentionsAlias(code, alias))) return 'run_time';
  for (const param of code.match(/\$\d+/g) ?? []) if (context.runTimeParams.has(param)) return 'run_time';
  return 'static';
}

/** Whether `code` refers to a column of `alias` (`alias.column`), not merely contains its text. */
function mentionsAlias(code: string, alias: string): boolean {
  const needle = `${alias}.`;
  for (let at = code.indexOf(needle); at !== -1; at = code.indexOf(needle, at + 1)) {
    const before = at === 0 ? '' : code[at - 1]!;
    if (!/[\w$".]/.test(before)) return true;
  }
  return false;
}

/** The text with the contents of '...' literals blanked, so that nothing inside them is read as code. */
function blankStringLiterals(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === "'" && text[i + 1] === "'") {
        out += '  ';
        i++;
      } else if (c === "'") {
        inString = false;
        out += c;
      } else out += ' ';
    } else {
      if (c === "'") inString = true;
      out += c;
    }
  }
  return out;
}

/**
 * Visits every character outside quotes with the nesting depth after it:
 * parentheses and brackets count, quoted identifiers and literals are opaque.
 */
function scan(text: string, visit: (index: number, depth: number) => void): void {
  let depth = 0;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) {
        if (text[i + 1] === quote) i++;
        else quote = null;
      }
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    visit(i, depth);
  }
}

/** Parts of `text` separated by `separator` at nesting depth 0. */
export function splitTopLevel(text: string, separator: string): string[] {
  const cuts: number[] = [];
  scan(text, (i, depth) => {
    if (depth === 0 && text.startsWith(separator, i)) cuts.push(i);
  });
  if (cuts.length === 0) return [text];
  const parts: string[] = [];
  let from = 0;
  for (const cut of cuts) {
    if (cut < from) continue; // inside the previous separator
    parts.push(text.slice(from, cut).trim());
    from = cut + separator.length;
  }
  parts.push(text.slice(from).trim());
  return parts;
}

/** `((a = 1))` is `a = 1`; `(a = 1) AND (b = 2)` stays as it is. */
export function stripOuterParentheses(text: string): string {
  let current = text;
  while (current.startsWith('(') && current.endsWith(')')) {
    // The first parenthesis must close at the very end, not before.
    let closesEarly = false;
    const last = current.length - 1;
    scan(current, (i, depth) => {
      if (depth === 0 && i < last) closesEarly = true;
    });
    if (closesEarly) break;
    current = current.slice(1, -1).trim();
  }
  return current;
}
