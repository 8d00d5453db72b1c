import { describe, expect, it } from 'vitest';
import { PartwiseError } from '../db/errors.js';
import type { TriggerInfo } from './catalog.js';
import { TriggerRebuildError, triggerStatement, whenCondition } from './trigger-ddl.js';

const trigger = (overrides: Partial<TriggerInfo>): TriggerInfo => ({
  oid: 1,
  name: 'touch',
  quotedName: 'touch',
  definition: 'CREATE TRIGGER touch BEFORE UPDATE ON public."order" FOR EACH ROW EXECUTE FUNCTION public.touch()',
  enabled: 'O',
  hasTransitionTables: false,
  isRowLevel: true,
  isBefore: true,
  timing: 'BEFORE',
  events: ['UPDATE'],
  updateColumns: [],
  oldTable: null,
  newTable: null,
  isConstraint: false,
  constraintFrom: null,
  deferrable: false,
  deferred: false,
  functionName: 'public.touch',
  functionDisplay: 'public.touch',
  argumentLiterals: [],
  argumentDisplay: [],
  hasWhen: false,
  tableDisplay: 'public."order"',
  comment: null,
  ...overrides,
});

describe('triggers rebuilt from catalog fields', () => {
  it('builds the statement for another table, quoting as the server does', () => {
    expect(triggerStatement(trigger({}), '"public"."order_partitioned"')).toBe(
      'CREATE TRIGGER touch BEFORE UPDATE ON "public"."order_partitioned" FOR EACH ROW EXECUTE FUNCTION public.touch()',
    );
  });

  it('reads the WHEN condition only from a definition that matches the fields around it', () => {
    const withWhen = trigger({
      name: 'Odd "name"',
      quotedName: '"Odd ""name"""',
      events: ['INSERT', 'UPDATE'],
      updateColumns: ['"select"', 'note'],
      hasWhen: true,
      argumentLiterals: [`'a''b'`, `E'c\\\\d'`],
      argumentDisplay: [`'a''b'`, `'c\\d'`],
      definition: `CREATE TRIGGER "Odd ""name""" BEFORE INSERT OR UPDATE OF "select", note ON public."order" FOR EACH ROW WHEN ((new."select" <> 'x) EXECUTE FUNCTION f(')) EXECUTE FUNCTION public.touch('a''b', 'c\\d')`,
    });
    expect(whenCondition(withWhen)).toBe(`(new."select" <> 'x) EXECUTE FUNCTION f(')`);
    expect(triggerStatement(withWhen, 't')).toBe(
      `CREATE TRIGGER "Odd ""name""" BEFORE INSERT OR UPDATE OF "select", note ON t FOR EACH ROW WHEN ((new."select" <> 'x) EXECUTE FUNCTION f(')) EXECUTE FUNCTION public.touch('a''b', E'c\\\\d')`,
    );
  });

  it('builds constraint triggers and transition tables', () => {
    const constraint = trigger({
      timing: 'AFTER',
      events: ['INSERT'],
      isConstraint: true,
      constraintFrom: 'public.other',
      deferrable: true,
      deferred: true,
      definition:
        'CREATE CONSTRAINT TRIGGER touch AFTER INSERT ON public."order" FROM public.other DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.touch()',
    });
    expect(whenCondition(constraint)).toBeNull();
    const statement = trigger({
      timing: 'AFTER',
      events: ['INSERT', 'DELETE'],
      isRowLevel: false,
      oldTable: 'gone',
      newTable: '"New"',
      definition:
        'CREATE TRIGGER touch AFTER INSERT OR DELETE ON public."order" REFERENCING OLD TABLE AS gone NEW TABLE AS "New" FOR EACH STATEMENT EXECUTE FUNCTION public.touch()',
    });
    expect(triggerStatement(statement, 't')).toBe(
      'CREATE TRIGGER touch AFTER INSERT OR DELETE ON t REFERENCING OLD TABLE AS gone NEW TABLE AS "New" FOR EACH STATEMENT EXECUTE FUNCTION public.touch()',
    );
  });

  it('refuses a definition that does not read back as the fields say', () => {
    // The quoting rule of the old text surgery: "order" written without quotes.
    expect(() =>
      whenCondition(
        trigger({
          definition: 'CREATE TRIGGER touch BEFORE UPDATE ON public.order FOR EACH ROW EXECUTE FUNCTION public.touch()',
        }),
      ),
    ).toThrow(TriggerRebuildError);
    expect(() =>
      whenCondition(
        trigger({
          hasWhen: true,
          definition:
            'CREATE TRIGGER touch BEFORE UPDATE ON public."order" FOR EACH ROW EXECUTE FUNCTION public.touch()',
        }),
      ),
    ).toThrow(TriggerRebuildError);
  });

  it('reports a trigger it cannot rebuild as blocked, not as an internal failure', () => {
    const error = (() => {
      try {
        whenCondition(trigger({ definition: 'CREATE TRIGGER touch BEFORE UPDATE ON public.order' }));
      } catch (thrown) {
        return thrown;
      }
    })();
    expect(PartwiseError.from(error).kind).toBe('blocked');
  });
});
