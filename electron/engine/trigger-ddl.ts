// A trigger of the original table, rebuilt for the partitioned table from
// pg_trigger's fields: timing, events (UPDATE OF columns), transition tables,
// FOR EACH, constraint trigger options, function and arguments.
//
// Only the WHEN clause has no field to rebuild it from (pg_get_expr cannot
// print its OLD and NEW references): it is read out of pg_get_triggerdef's
// text, and only after that text was checked to be exactly the statement
// built from the fields, spelled as the deparser spells it, with the WHEN
// clause in its place. Anything else fails with the reason, at plan time.
import { PartwiseError } from '../db/errors.js';
import type { TriggerInfo } from './catalog.js';

/** A trigger whose WHEN clause cannot be carried over exactly: the plan makes it a blocker. */
export class TriggerRebuildError extends PartwiseError {
  constructor(message: string) {
    super('blocked', message);
  }
}

interface Parts {
  name: string;
  table: string;
  functionName: string;
  args: string[];
  constraintFrom: string | null;
}

/** Everything up to and including "FOR EACH ROW|STATEMENT ", with a space after each clause as pg_get_triggerdef prints it. */
function head(trigger: TriggerInfo, parts: Parts): string {
  const events = trigger.events
    .map((event) =>
      event === 'UPDATE' && trigger.updateColumns.length > 0 ? `UPDATE OF ${trigger.updateColumns.join(', ')}` : event,
    )
    .join(' OR ');
  let text = `CREATE ${trigger.isConstraint ? 'CONSTRAINT ' : ''}TRIGGER ${parts.name} ${trigger.timing} ${events} ON ${parts.table} `;
  if (trigger.isConstraint) {
    if (parts.constraintFrom) text += `FROM ${parts.constraintFrom} `;
    text += `${trigger.deferrable ? '' : 'NOT '}DEFERRABLE INITIALLY ${trigger.deferred ? 'DEFERRED' : 'IMMEDIATE'} `;
  }
  if (trigger.oldTable || trigger.newTable) {
    text += 'REFERENCING ';
    if (trigger.oldTable) text += `OLD TABLE AS ${trigger.oldTable} `;
    if (trigger.newTable) text += `NEW TABLE AS ${trigger.newTable} `;
  }
  return `${text}FOR EACH ${trigger.isRowLevel ? 'ROW' : 'STATEMENT'} `;
}

function tail(parts: Parts): string {
  return `EXECUTE FUNCTION ${parts.functionName}(${parts.args.join(', ')})`;
}

/**
 * The WHEN condition of a trigger (null when it has none), read from
 * pg_get_triggerdef once the rest of its text is verified against the fields.
 */
export function whenCondition(trigger: TriggerInfo): string | null {
  const displayed: Parts = {
    name: trigger.quotedName,
    table: trigger.tableDisplay,
    functionName: trigger.functionDisplay,
    args: trigger.argumentDisplay,
    constraintFrom: trigger.constraintFrom,
  };
  const expectedHead = head(trigger, displayed);
  const expectedTail = tail(displayed);
  const text = trigger.definition;
  const mismatch = (): TriggerRebuildError =>
    new TriggerRebuildError(
      `the definition of trigger ${trigger.name} does not read back as the statement built from its catalog fields (${text})`,
    );
  if (!text.startsWith(expectedHead) || !text.endsWith(expectedTail)) throw mismatch();
  const middle = text.slice(expectedHead.length, text.length - expectedTail.length);
  if (!trigger.hasWhen) {
    if (middle !== '') throw mismatch();
    return null;
  }
  if (!middle.startsWith('WHEN (') || !middle.endsWith(') ') || middle.length <= 'WHEN () '.length) throw mismatch();
  return middle.slice('WHEN ('.length, -2);
}

/** CREATE [CONSTRAINT] TRIGGER of `trigger` on `relation` (quoted), with its WHEN condition. */
export function triggerStatement(trigger: TriggerInfo, relation: string): string {
  const when = whenCondition(trigger);
  const parts: Parts = {
    name: trigger.quotedName,
    table: relation,
    functionName: trigger.functionName,
    args: trigger.argumentLiterals,
    constraintFrom: trigger.constraintFrom,
  };
  return `${head(trigger, parts)}${when === null ? '' : `WHEN (${when}) `}${tail(parts)}`;
}

/** The statement that gives a re-created trigger the original's firing state (tgenabled), if not the default. */
export function triggerStateStatement(trigger: TriggerInfo, relation: string): string | null {
  switch (trigger.enabled) {
    case 'D':
      return `ALTER TABLE ${relation} DISABLE TRIGGER ${trigger.quotedName}`;
    case 'R':
      return `ALTER TABLE ${relation} ENABLE REPLICA TRIGGER ${trigger.quotedName}`;
    case 'A':
      return `ALTER TABLE ${relation} ENABLE ALWAYS TRIGGER ${trigger.quotedName}`;
    default:
      return null;
  }
}
