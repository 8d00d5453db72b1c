// The plan of an action on one key: what it will do, the DDL, the locks it
// takes and for how long, and the rows and bytes concerned. Read-only.
import type { KeyActionKind, KeyActionOptions, KeyPlan, LockStep } from '../../../shared/keys.js';
import { ident, qualified } from '../../db/sql.js';
import { PartwiseError } from '../../db/errors.js';
import { countOf, formatBytes } from '../../../shared/text.js';
import type { KeyFacts } from './facts.js';
import type { CompactionProposal } from './compact.js';
import { isolatedLevelOne, type MoveFacts } from './move.js';
import { compactPlan, movePlan } from './plan-storage.js';
import { isolatePlan, sharePlan, type PoolFacts } from './isolate.js';

/** What move and compact need to know beyond the key's facts (loaded by run.ts). */
export interface StorageFacts {
  /** move: where the key's relations are; for a pooled key, those its isolation will create. */
  move?: MoveFacts;
  compaction?: CompactionProposal;
  /** isolate (and the actions that isolate a pooled key first): what the switch reads of the pool. */
  pool?: PoolFacts;
  /** move of a pooled key: its rows are in the tablespace already (the pool leaves holding them), nothing to do. */
  pooledInPlace?: boolean;
  /** isolate, share: whether the role may create the temporary table its switch holds the key's rows in. */
  temp?: { allowed: boolean; role: string; database: string };
  /** isolate, share: whether the role may give the partitions its switch makes to the table's owner. */
  giveToOwner?: { allowed: boolean; role: string; owner: string };
}

function detachDdl(facts: KeyFacts, parent: string): { ddl: string[]; locks: LockStep[]; notes: string[] } {
  const levelOne = facts.levelOne!;
  if (facts.serverMajor >= 14 && (!facts.tableHasPool || facts.detachPending)) {
    return {
      ddl: [`ALTER TABLE ${parent} DETACH PARTITION ${levelOne} ${facts.detachPending ? 'FINALIZE' : 'CONCURRENTLY'}`],
      locks: [
        {
          relation: parent,
          mode: 'SHARE UPDATE EXCLUSIVE',
          held: 'for the whole detach, including its wait for transactions that use the table; reads and writes of the table go on, other DDL and VACUUM of it wait',
        },
        {
          relation: levelOne,
          mode: 'ACCESS EXCLUSIVE',
          held: "in the detach's second transaction only, after every transaction that used the table has ended (milliseconds)",
        },
      ],
      notes: [
        'PostgreSQL 14 and later: DETACH PARTITION ... CONCURRENTLY (two transactions; it waits for every transaction that uses the table to end). Run again after an interruption, it finishes with DETACH ... FINALIZE.',
      ],
    };
  }
  return {
    ddl: [`ALTER TABLE ${parent} DETACH PARTITION ${levelOne}`],
    locks: [
      {
        relation: parent,
        mode: 'ACCESS EXCLUSIVE',
        held: 'for the detach transaction (milliseconds once granted); it waits for every transaction using the table, and reads and writes of the table queue behind it meanwhile: requested under a short lock_timeout and retried',
      },
      ...(facts.tableHasPool
        ? [
            {
              relation: 'the pool of small keys (the DEFAULT partition, not its leaves)',
              mode: 'ACCESS EXCLUSIVE',
              held: 'for the detach transaction: PostgreSQL changes the default partition constraint to take the key in',
            },
          ]
        : []),
    ],
    notes: [
      facts.serverMajor >= 14
        ? 'The table has a pool of small keys (a DEFAULT partition), and PostgreSQL refuses DETACH ... CONCURRENTLY while a default partition exists: the plain detach locks the whole table, and the pool, for a moment.'
        : 'PostgreSQL 13 has no DETACH ... CONCURRENTLY: the plain detach locks the whole table for a moment. Version 14 and later detach without blocking reads and writes.',
    ],
  };
}

/** Actions that isolate a pooled key first (one action, journaled as steps), then act on its new partition. */
export const ISOLATING_FIRST: ReadonlySet<KeyActionKind> = new Set(['detach', 'drop', 'move', 'limit']);

/**
 * Compact merges a key's sparse buckets; a pooled key has none of its own:
 * its rows sit in pool buckets that every small key fills. Isolating it is
 * what would pack its rows (the switch fills new buckets to the limit), so
 * the refusal names that, and does not do it unasked.
 */
function refusePooledCompaction(action: KeyActionKind, facts: KeyFacts): void {
  if (!facts.inPool || action !== 'compact') return;
  const table = `${facts.config.schema}.${facts.config.table}`;
  throw new PartwiseError(
    'conflict',
    `key ${facts.keyValue} of ${table} shares the pool ${facts.levelOne} with the table's other small keys: its ${countOf(facts.rows, 'row')} sit in ${countOf(facts.leaves.length, 'pool bucket')} that other keys fill too, so it has no bucket of its own to merge, and compacting the pool would move every small key's rows`,
    {
      hint: `To pack this key's rows into buckets of its own, give it a partition: partwise key isolate --table ${table} --value ${facts.keyValue} (isolation fills each new bucket to the limit).`,
    },
  );
}

/**
 * Moving a key between the pool and a partition holds its rows in a
 * temporary table for the switch (sql/functions/18_key_isolate.sql): without
 * TEMP on the database it would fail there, after the isolation's first
 * steps. Refused before anything is written instead.
 */
function refuseWithoutTemp(action: KeyActionKind, facts: KeyFacts, storage: StorageFacts): void {
  const temp = storage.temp;
  if (!temp || temp.allowed) return;
  const doing =
    action === 'isolate' || action === 'share' ? action : `${action} of a pooled key (it is isolated first)`;
  throw new PartwiseError(
    'privilege',
    `role ${temp.role} has no TEMP privilege on database ${temp.database}: ${doing} holds key ${facts.keyValue}'s rows in a temporary table while they move between the pool and a partition of their own`,
    { hint: `GRANT TEMP ON DATABASE ${ident(temp.database)} TO ${ident(temp.role)};` },
  );
}

/**
 * The partitions the switch makes go to the table's owner (take_owner_of),
 * which on PostgreSQL 16 and later needs the SET option of the membership: a
 * member without it would fail in the switch, after the isolation's proofs
 * were added to the pool's leaves. Refused before anything is written.
 */
function refuseWithoutSetOnOwner(action: KeyActionKind, facts: KeyFacts, storage: StorageFacts): void {
  const give = storage.giveToOwner;
  if (!give || give.allowed) return;
  const doing =
    action === 'isolate' || action === 'share' ? action : `${action} of a pooled key (it is isolated first)`;
  throw new PartwiseError(
    'privilege',
    `role ${give.role} may not SET ROLE to ${give.owner}, the owner of ${facts.config.schema}.${facts.config.table}: ${doing} makes partitions that must be given to ${give.owner} (ALTER ... OWNER TO), which needs that option of the membership`,
    { hint: `GRANT ${ident(give.owner)} TO ${ident(give.role)} WITH SET TRUE;  -- or connect as ${give.owner}` },
  );
}

/** isolate takes a pooled key out of the pool, share puts a key with a partition of its own in it. */
function refuseMisplaced(action: KeyActionKind, facts: KeyFacts): void {
  const key = `key ${facts.keyValue} of ${facts.config.schema}.${facts.config.table}`;
  if (action === 'share' && !facts.tableHasPool)
    throw new PartwiseError(
      'conflict',
      `${facts.config.schema}.${facts.config.table} has no pool of small keys (its keys each have a partition); share moves a key into the pool`,
      { hint: 'Small keys share once the table has a pool (placement shared).' },
    );
  if ((action === 'isolate' || action === 'share') && facts.state !== 'active')
    throw new PartwiseError('conflict', `${key} is ${facts.state}; ${action} needs it active`);
}

function plannedSteps(
  action: KeyActionKind,
  facts: KeyFacts,
  options: KeyActionOptions,
  storage: StorageFacts,
): Pick<KeyPlan, 'steps' | 'ddl' | 'locks' | 'notes' | 'tablespaces' | 'compaction'> {
  const { config, keyValue } = facts;
  const parent = qualified(config.schema, config.partitionedTable);
  const levelOne = facts.levelOne ?? '(none)';
  const refuse = `mark key ${keyValue} ${action === 'drop' ? 'dropping' : 'detaching'}: routing refuses its new rows from this commit on`;
  const trackerLock: LockStep = {
    relation: `tracker row of key ${keyValue}`,
    mode: 'FOR UPDATE',
    held: 'for each short state change (a routed insert opening a bucket of this key waits that long)',
  };
  const none = { steps: [], ddl: [], locks: [], notes: [] };
  switch (action) {
    case 'detach': {
      if (facts.state === 'detached') return { ...none, notes: [`key ${keyValue} is already detached`] };
      const d = facts.attached ? detachDdl(facts, parent) : { ddl: [], locks: [], notes: [] };
      return {
        steps: [
          refuse,
          ...(facts.attached
            ? [`detach ${levelOne} (with its ${countOf(facts.leaves.length, 'leaf', 'leaves')}) from ${parent}`]
            : []),
          `mark key ${keyValue} detached; ${levelOne} stays as a standalone table with its rows and indexes`,
        ],
        ddl: d.ddl,
        locks: [trackerLock, ...d.locks],
        notes: d.notes,
      };
    }
    case 'attach': {
      if (facts.state === 'active') return { ...none, notes: [`key ${keyValue} is already attached`] };
      return {
        steps: [
          `mark key ${keyValue} attaching`,
          ...(facts.attached
            ? []
            : [`attach ${levelOne} to ${parent} (PostgreSQL checks every row's key while attaching)`]),
          `mark key ${keyValue} active: routing places its rows again`,
        ],
        ddl: facts.attached
          ? []
          : [`ALTER TABLE ${parent} ATTACH PARTITION ${levelOne} FOR VALUES IN ('${keyValue.replace(/'/g, "''")}')`],
        locks: [
          trackerLock,
          ...(facts.attached
            ? []
            : [
                {
                  relation: parent,
                  mode: 'SHARE UPDATE EXCLUSIVE',
                  held: 'while the key rows are checked (a scan of the key, whose size is shown); reads and writes go on',
                },
                {
                  relation: levelOne,
                  mode: 'ACCESS EXCLUSIVE',
                  held: 'while the key rows are checked; only readers of the detached table itself wait',
                },
                ...(facts.tableHasPool
                  ? [
                      {
                        relation: 'the pool of small keys (the DEFAULT partition) and each of its leaves',
                        mode: 'ACCESS EXCLUSIVE',
                        held: 'while PostgreSQL scans the pool for rows of the key (a default partition may not hold a key that has a partition of its own): reads and writes of every pooled key wait that long',
                      },
                    ]
                  : []),
              ]),
        ],
        notes: [],
      };
    }
    case 'drop': {
      if (facts.state === 'retired') return { ...none, notes: [`key ${keyValue} was already dropped`] };
      const d = facts.attached ? detachDdl(facts, parent) : { ddl: [], locks: [], notes: [] };
      const onInsert = options.onInsert ?? 'refuse';
      return {
        steps: [
          refuse,
          ...(facts.attached ? [`detach ${levelOne} from ${parent}`] : []),
          `drop ${levelOne} and its ${countOf(facts.leaves.length, 'leaf', 'leaves')}: ${countOf(facts.rows, 'row')}, ${formatBytes(facts.bytes)} deleted`,
          `forget the key's metadata; a later row of key ${keyValue} is ${onInsert === 'refuse' ? 'refused' : 'placed in new partitions'}`,
        ],
        ddl: [...d.ddl, `DROP TABLE ${levelOne}`],
        locks: [
          trackerLock,
          ...d.locks,
          {
            relation: levelOne,
            mode: 'ACCESS EXCLUSIVE',
            held: 'for the drop transaction, once detached (nobody uses it)',
          },
        ],
        notes: d.notes,
      };
    }
    case 'readmit':
      return {
        steps: [`forget that key ${keyValue} was dropped: its next row creates its partitions again`],
        ddl: [],
        locks: [],
        notes: [],
      };
    case 'vacuum':
    case 'analyze': {
      const verb = action === 'vacuum' ? 'VACUUM (ANALYZE)' : 'ANALYZE';
      return {
        steps: [
          `${verb} each of the ${countOf(facts.leaves.length, 'leaf', 'leaves')} of key ${keyValue}, one at a time`,
        ],
        ddl: facts.leaves.map((leaf) => `${verb} ${leaf}`),
        locks: [
          {
            relation: 'each leaf in turn',
            mode: 'SHARE UPDATE EXCLUSIVE',
            held: `while that leaf is ${action === 'vacuum' ? 'vacuumed' : 'analyzed'}; reads and writes go on, DDL on it waits`,
          },
        ],
        notes: [],
      };
    }
    case 'limit': {
      const limit = options.bucketLimit ?? null;
      return {
        steps: [
          limit === null
            ? `key ${keyValue} uses the table's bucket limit (${config.bucketLimit}) for buckets opened from now on`
            : `key ${keyValue} gets a bucket limit of ${limit} for buckets opened from now on; its existing buckets keep their capacity`,
        ],
        ddl: [],
        locks: [trackerLock],
        notes: [],
      };
    }
    case 'export': {
      const format = options.format ?? 'csv';
      return {
        steps: [
          `COPY the rows of key ${keyValue} (${facts.rows} rows, one snapshot) to the output, ${format === 'csv' ? 'as CSV with a header' : 'in the COPY binary format'}`,
        ],
        ddl: [],
        locks: [
          {
            relation: `${levelOne} and its leaves`,
            mode: 'ACCESS SHARE',
            held: 'while the rows are copied; only DDL on the key (detach, drop) waits',
          },
        ],
        notes: [],
      };
    }
    case 'move':
      return movePlan(facts, storage.move!);
    case 'compact':
      return compactPlan(facts, storage.compaction!);
    case 'isolate':
      if (!facts.inPool)
        return { ...none, notes: [`key ${keyValue} has a partition of its own already (${levelOne})`] };
      return isolatePlan(facts, storage.pool!);
    case 'share':
      if (facts.inPool) return { ...none, notes: [`key ${keyValue} is in the pool of small keys already`] };
      return sharePlan(facts);
  }
}

/**
 * A pooled key that an action would isolate for nothing: a move to where the
 * pool leaves holding its rows are already, a limit of none when it has no
 * limit of its own. The plan says so and the run does nothing (run.ts).
 */
export function pooledNothingToDo(
  action: KeyActionKind,
  facts: KeyFacts,
  options: KeyActionOptions,
  storage: StorageFacts,
): string | null {
  if (!facts.inPool) return null;
  if (action === 'move' && storage.pooledInPlace)
    return `key ${facts.keyValue} is in tablespace ${options.tablespace} already: the pool leaves that hold its rows, and their indexes, are there; it stays in the pool`;
  if (action === 'limit' && options.bucketLimit === null && facts.bucketLimit === null)
    return `key ${facts.keyValue} uses the table's bucket limit already; it stays in the pool`;
  return null;
}

const AFTER_ISOLATION: Partial<Record<KeyActionKind, string>> = {
  detach: 'detached',
  drop: 'dropped',
  move: 'moved',
  limit: 'given its bucket limit',
};

/**
 * A pooled key's detach, drop, move or limit: the isolate plan, then the
 * action's on the partition isolation makes (its buckets as the switch fills
 * them; a move's figures are those of that partition, storageFacts in run.ts).
 */
function isolatingFirst(
  action: KeyActionKind,
  facts: KeyFacts,
  options: KeyActionOptions,
  storage: StorageFacts,
): ReturnType<typeof plannedSteps> {
  const isolate = isolatePlan(facts, storage.pool!);
  const buckets = Math.max(1, Math.ceil(facts.rows / storage.pool!.bucketLimit));
  const own: KeyFacts = {
    ...facts,
    inPool: false,
    keyFilter: null,
    levelOne: isolatedLevelOne(facts.keyValue),
    leaves: Array.from({ length: buckets }, (_, bucket) => `<its leaf of bucket ${bucket}>`),
  };
  const then = plannedSteps(action, own, options, storage);
  // A partitioned table in the tablespace asked for: isolation creates the key's partition there.
  if (action === 'move' && then.steps.length === 0)
    then.notes = [
      `the partition isolation creates is in tablespace ${options.tablespace} already (the partitioned table's), its indexes too: nothing to rewrite after it`,
    ];
  return {
    ...then,
    steps: [...isolate.steps.map((s) => `isolate: ${s}`), ...then.steps],
    ddl: [...isolate.ddl, ...then.ddl],
    locks: [...isolate.locks, ...then.locks],
    notes: [
      `Key ${facts.keyValue} shares the pool of small keys: it is isolated first (partwise key isolate), then ${AFTER_ISOLATION[action]}, in one action. Interrupted after the isolation, ${action} run again continues with the key's own partition.`,
      ...then.notes,
    ],
  };
}

export function planKeyAction(
  action: KeyActionKind,
  facts: KeyFacts,
  options: KeyActionOptions = {},
  storage: StorageFacts = {},
): KeyPlan {
  refusePooledCompaction(action, facts);
  if (facts.state !== 'retired') refuseMisplaced(action, facts);
  refuseWithoutTemp(action, facts, storage);
  refuseWithoutSetOnOwner(action, facts, storage);
  if (action === 'readmit' && facts.state !== 'retired') {
    throw new PartwiseError(
      'invalid_input',
      `key ${facts.keyValue} of ${facts.config.schema}.${facts.config.table} was not dropped; only a dropped key is readmitted`,
    );
  }
  if (facts.state === 'retired' && action !== 'drop' && action !== 'readmit') {
    throw new PartwiseError(
      'not_found',
      `key ${facts.keyValue} of ${facts.config.schema}.${facts.config.table} was dropped; it has no partitions`,
    );
  }
  if (action === 'limit' && options.bucketLimit === undefined) {
    throw new PartwiseError(
      'invalid_input',
      'a bucket limit is required (a positive integer, or none for the table limit)',
    );
  }
  if (options.tablespace !== undefined && action !== 'move')
    throw new PartwiseError('invalid_input', 'a tablespace goes with move only');
  // Routing goes on during a move or a compaction, but not beside a detach,
  // attach or drop under way; a detached key's table may be moved, not compacted.
  const allowed = action === 'move' ? ['active', 'detached'] : ['active'];
  if ((action === 'move' || action === 'compact') && !allowed.includes(facts.state)) {
    throw new PartwiseError(
      'conflict',
      `key ${facts.keyValue} of ${facts.config.schema}.${facts.config.table} is ${facts.state}; ${action} needs it ${allowed.join(' or ')}`,
    );
  }
  const nothing = pooledNothingToDo(action, facts, options, storage);
  const planned = nothing
    ? { steps: [], ddl: [], locks: [], notes: [nothing], tablespaces: storage.move?.usable }
    : storage.pool && ISOLATING_FIRST.has(action)
      ? isolatingFirst(action, facts, options, storage)
      : plannedSteps(action, facts, options, storage);
  return {
    action,
    schema: facts.config.schema,
    table: facts.config.table,
    keyColumn: facts.config.keyColumn,
    keyValue: facts.keyValue,
    state: facts.state,
    levelOne: facts.levelOne ?? '',
    leaves: facts.leaves,
    rows: facts.rows,
    rowsExact: facts.rowsExact,
    bytes: facts.bytes,
    bucketLimit: facts.bucketLimit,
    serverMajor: facts.serverMajor,
    ...planned,
  };
}
