// The conditions below are copied from EXPLAIN (VERBOSE, FORMAT JSON) output
// of PostgreSQL 13 and 18 (the two ends of the supported range).
import { describe, expect, it } from 'vitest';
import { keyRestriction, splitTopLevel, stripOuterParentheses, type ScanContext } from './conditions.js';

const orders: ScanContext = { alias: 'orders', key: 'customer_id', otherAliases: [], runTimeParams: new Set() };

describe('keyRestriction', () => {
  it('finds the key compared with a parameter, a constant or a list', () => {
    expect(keyRestriction('(orders.customer_id = $1)', orders)).toBe('static');
    expect(keyRestriction('((orders.id = $2) AND (orders.customer_id = $1))', orders)).toBe('static');
    expect(keyRestriction('(orders.customer_id = ANY (ARRAY[$1, $2]))', orders)).toBe('static');
    expect(keyRestriction('(orders.customer_id = ANY ($1))', orders)).toBe('static');
    expect(keyRestriction("(orders.customer_id = ANY ('{1,2}'::integer[]))", orders)).toBe('static');
    expect(keyRestriction('($1 = orders.customer_id)', orders)).toBe('static');
    expect(keyRestriction('(orders.customer_id = ($1)::integer)', orders)).toBe('static');
  });

  it('needs every alternative of an OR to name the key', () => {
    expect(keyRestriction('((orders.customer_id = $1) OR (orders.customer_id = $2))', orders)).toBe('static');
    expect(
      keyRestriction(
        '(((orders.customer_id = $1) AND (orders.id = $2)) OR ((orders.customer_id = $3) AND (orders.id = $4)))',
        orders,
      ),
    ).toBe('static');
    expect(keyRestriction('((orders.customer_id = $1) OR (orders.id = $2))', orders)).toBe('none');
  });

  it('sees no restriction where pruning sees none', () => {
    expect(keyRestriction('(orders.id = $1)', orders)).toBe('none');
    expect(keyRestriction('((orders.customer_id)::text = $1)', orders)).toBe('none');
    expect(keyRestriction('(orders.customer_id > $1)', orders)).toBe('none');
    expect(keyRestriction('(orders.customer_id = orders.module_id)', orders)).toBe('none');
    expect(keyRestriction('(NOT (orders.customer_id IS DISTINCT FROM $1))', orders)).toBe('none');
    // Another relation's column of the same name is not this scan's key.
    expect(keyRestriction('(o.customer_id = $1)', orders)).toBe('none');
    expect(keyRestriction("(orders.note = 'orders.customer_id = 1')", orders)).toBe('none');
  });

  it('tells values known only while the statement runs', () => {
    const join: ScanContext = { ...orders, alias: 'o', otherAliases: ['l', '"ANY_subquery"'] };
    expect(keyRestriction('(o.customer_id = l.id)', join)).toBe('run_time');
    expect(keyRestriction('(o.customer_id = "ANY_subquery".customer_id)', join)).toBe('run_time');
    // PostgreSQL 17 and later name the sub-select's output.
    expect(keyRestriction('(orders.customer_id = (InitPlan 1).col1)', orders)).toBe('run_time');
    expect(keyRestriction('(orders.customer_id = (SubPlan 1))', orders)).toBe('run_time');
    // Before 17 it is a parameter, listed by the sub-plan ("InitPlan 1 (returns $0)").
    const initPlan: ScanContext = { ...orders, runTimeParams: new Set(['$0']) };
    expect(keyRestriction('((orders_p_1.id = $2) AND (orders.customer_id = $0))', initPlan)).toBe('run_time');
    expect(keyRestriction('((orders.customer_id = $0) AND (orders.customer_id = $1))', initPlan)).toBe('static');
  });

  it('reads quoted identifiers and aliases', () => {
    const odd: ScanContext = { alias: '"Order Items"', key: '"Tenant Id"', otherAliases: [], runTimeParams: new Set() };
    expect(keyRestriction('("Order Items"."Tenant Id" = $1)', odd)).toBe('static');
    expect(keyRestriction('("Order Items"."Tenant Id AND x" = $1)', odd)).toBe('none');
    expect(keyRestriction('(("Order Items".id = $1) AND ("Order Items"."Tenant Id" = ANY ($2)))', odd)).toBe('static');
  });
});

describe('the splitting of conditions', () => {
  it('splits at the top level only, outside quotes', () => {
    expect(splitTopLevel("(a = 1) AND (b = ' AND ')", ' AND ')).toEqual(['(a = 1)', "(b = ' AND ')"]);
    expect(splitTopLevel('x = ANY (ARRAY[1, 2])', ' = ')).toEqual(['x', 'ANY (ARRAY[1, 2])']);
    expect(splitTopLevel('"a = b" = 1', ' = ')).toEqual(['"a = b"', '1']);
  });

  it('strips only parentheses that enclose everything', () => {
    expect(stripOuterParentheses('((a = 1))')).toBe('a = 1');
    expect(stripOuterParentheses('(a = 1) AND (b = 2)')).toBe('(a = 1) AND (b = 2)');
    expect(stripOuterParentheses("(a = ')')")).toBe("a = ')'");
  });
});
