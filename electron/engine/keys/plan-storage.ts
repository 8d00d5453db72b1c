// The plans of the two actions on where a key's rows are stored: move (to
// another tablespace) and compact (sparse buckets merged). Read-only; the
// lock durations quoted are measured by docs/key-locks/measure.sh.
import type { KeyPlan, LockStep } from '../../../shared/keys.js';
import { ident, qualified } from '../../db/sql.js';
import { countOf, formatBytes } from '../../../shared/text.js';
import { COMPACT_BATCH_ROWS, plannedMoves, type CompactionProposal } from './compact.js';
import type { KeyFacts } from './facts.js';
import { leafStatements, levelOneStatements, type MoveFacts } from './move.js';

type Planned = Pick<KeyPlan, 'steps' | 'ddl' | 'locks' | 'notes'> &
  Partial<Pick<KeyPlan, 'tablespaces' | 'compaction'>>;

export function movePlan(facts: KeyFacts, move: MoveFacts): Planned {
  const levelOne = facts.levelOne!;
  const none = { steps: [], ddl: [], locks: [], tablespaces: move.usable };
  if (move.tablespace === null) return { ...none, notes: [`Choose the tablespace to move key ${facts.keyValue} to.`] };
  const tablespace = move.tablespace;
  const head = levelOneStatements(move, levelOne);
  const leaves = move.leaves.filter((l) => leafStatements(move, l).length > 0);
  if (head.length === 0 && leaves.length === 0)
    return { ...none, notes: [`key ${facts.keyValue} is in tablespace ${tablespace} already, its indexes too`] };
  const bytes = leaves.reduce((sum, l) => sum + l.bytes, 0);
  const largest = leaves.reduce((max, l) => Math.max(max, l.bytes), 0);
  const locks: LockStep[] = [];
  if (head.length > 0)
    locks.push({
      relation: levelOne,
      mode: 'ACCESS EXCLUSIVE',
      held: `while its tablespace (and its indexes') is written in the catalog, nothing copied (milliseconds once granted); the key's reads and writes wait that long; requested under a short lock_timeout and retried`,
    });
  if (leaves.length > 0)
    locks.push({
      relation: 'each leaf in turn, with its indexes',
      mode: 'ACCESS EXCLUSIVE',
      held: `while that leaf and its indexes are copied to ${tablespace} (the largest here: ${formatBytes(largest)}); reads and writes of that leaf wait, the key's other leaves are not locked. A leaf of 100,000 rows (about 15 MB with its index) took about 0.13 s, measured`,
    });
  return {
    steps: [
      ...(head.length > 0
        ? [
            `set the tablespace of ${levelOne} and its partitioned indexes to ${tablespace}: buckets opened from now on are created there`,
          ]
        : []),
      ...(leaves.length > 0
        ? [
            `move ${countOf(leaves.length, 'leaf', 'leaves')} of key ${facts.keyValue} and their indexes to ${tablespace} (${formatBytes(bytes)}), one leaf per transaction`,
          ]
        : []),
    ],
    ddl: [...head, ...leaves.flatMap((l) => leafStatements(move, l))],
    locks,
    notes: [
      'PostgreSQL rewrites a table to change its tablespace, under ACCESS EXCLUSIVE, and has no online form of it: the bucket limit keeps each leaf, and so each lock, short. Run again after an interruption, the move continues with the leaves not moved yet.',
    ],
    tablespaces: move.usable,
  };
}

export function compactPlan(facts: KeyFacts, proposal: CompactionProposal): Planned {
  const { config, keyValue } = facts;
  const closed = proposal.targets.length + proposal.sources.length;
  if (proposal.sources.length === 0)
    return {
      steps: [],
      ddl: [],
      locks: [],
      notes: [
        `key ${keyValue} has nothing to compact: its ${countOf(closed, 'closed bucket')} cannot hold their rows in fewer leaves (the current bucket and those opened ahead of it are left alone)`,
      ],
      compaction: { ...summary(proposal) },
    };
  const root = qualified(config.schema, config.partitionedTable);
  const view = `${config.schema}.${config.table}`;
  const batch = COMPACT_BATCH_ROWS.toLocaleString('en-US');
  const rowsMoved = proposal.sources.reduce((sum, b) => sum + b.rows, 0);
  return {
    steps: [
      `wait for the transactions inserting through ${view} when the compaction starts to end (one may hold a ticket of a closed bucket), then count the rows of the closed buckets again`,
      ...(rowsMoved > 0
        ? [
            `move ${countOf(rowsMoved, 'row')} out of ${countOf(proposal.sources.length, 'sparse bucket')} into ${countOf(proposal.targets.length, 'bucket')}, none over its limit, at most ${COMPACT_BATCH_ROWS.toLocaleString('en-US')} rows per transaction`,
          ]
        : []),
      `drop the ${countOf(proposal.sources.length, 'emptied leaf', 'emptied leaves')}: key ${keyValue} goes from ${countOf(proposal.leavesBefore, 'leaf', 'leaves')} to ${proposal.leavesAfter}`,
    ],
    ddl: [
      ...plannedMoves(proposal).map(
        (m) =>
          `UPDATE ${root} SET ${ident(config.bucketColumn)} = ${m.target.bucketId} WHERE ${ident(config.keyColumn)} = '${keyValue.replace(/'/g, "''")}' AND ${ident(config.bucketColumn)} = ${m.source.bucketId} -- ${countOf(m.rows, 'row')}, at most ${batch} per transaction, each after LOCK TABLE ${m.source.leaf} IN EXCLUSIVE MODE`,
      ),
      `DROP TABLE ${proposal.sources.map((s) => s.leaf).join(', ')}`,
    ],
    locks: [
      {
        relation: 'each emptied leaf, one batch at a time',
        mode: 'EXCLUSIVE',
        held: `while a batch of at most ${COMPACT_BATCH_ROWS.toLocaleString('en-US')} of its rows moves (about 0.15 s a batch measured, up to 0.4 s for a writer of the key); reads go on; the application's UPDATE, DELETE and SELECT ... FOR UPDATE of its rows wait for the batch, then find the rows in their new leaf`,
      },
      {
        relation: 'each filled leaf',
        mode: 'ROW EXCLUSIVE',
        held: 'while a batch is written into it; reads and writes go on',
      },
      {
        relation: 'each filled leaf, at the end',
        mode: 'SHARE UPDATE EXCLUSIVE',
        held: 'while ANALYZE reads it, so that its statistics count the rows it holds now; reads and writes go on',
      },
      {
        relation: facts.levelOne!,
        mode: 'ACCESS EXCLUSIVE',
        held: "to drop the emptied leaves, at the end (milliseconds: they are empty); the key's reads and writes wait that long; requested under a short lock_timeout and retried",
      },
    ],
    notes: [
      "Rows move by an UPDATE of the bucket column: the table's row triggers fire as for any such UPDATE. Run again after an interruption, the compaction starts over from the key as it is; no row moved is lost.",
    ],
    compaction: summary(proposal),
  };
}

function summary(proposal: CompactionProposal): NonNullable<KeyPlan['compaction']> {
  return {
    leavesBefore: proposal.leavesBefore,
    leavesAfter: proposal.leavesAfter,
    rowsMoved: proposal.rowsMoved,
    emptied: proposal.sources.map((b) => b.leaf),
    filled: proposal.targets.filter(() => proposal.sources.length > 0).map((b) => b.leaf),
  };
}
