// Actions on one key of a managed table (partwise key ..., the Explorer's key
// menu): what each plans to do, and what it did.
import { z } from 'zod';

export const KeyActionKind = z.enum([
  'detach',
  'attach',
  'drop',
  'readmit',
  'vacuum',
  'analyze',
  'limit',
  'export',
  'move',
  'compact',
  'isolate',
  'share',
]);
export type KeyActionKind = z.infer<typeof KeyActionKind>;

/**
 * See sql/migrations/0006_key_actions.sql; retired: dropped, its partitions gone.
 * moving and compacting: a move or compaction of the key is under way (or was
 * interrupted): read from the key-action journal, routing goes on meanwhile.
 */
export const KeyState = z.enum([
  'active',
  'detaching',
  'detached',
  'attaching',
  'dropping',
  'retired',
  'moving',
  'compacting',
]);
export type KeyState = z.infer<typeof KeyState>;

/** What a later row of a dropped key meets. */
export const RetiredKeyPolicy = z.enum(['refuse', 'recreate']);
export type RetiredKeyPolicy = z.infer<typeof RetiredKeyPolicy>;

export const ExportFormat = z.enum(['csv', 'binary']);
export type ExportFormat = z.infer<typeof ExportFormat>;

export const KeyActionOptions = z.object({
  /** drop: what a later row of the key meets. */
  onInsert: RetiredKeyPolicy.optional(),
  /** limit: the key's bucket limit, null for the table's again. */
  bucketLimit: z.number().int().positive().nullable().optional(),
  /** export */
  format: ExportFormat.optional(),
  /** move: the tablespace the key's leaves go to. */
  tablespace: z.string().min(1).max(63).optional(),
});
export type KeyActionOptions = z.infer<typeof KeyActionOptions>;

export const LockStep = z.object({
  relation: z.string(),
  mode: z.string(),
  /** For how long, in words (what it waits for, what it blocks). */
  held: z.string(),
});
export type LockStep = z.infer<typeof LockStep>;

export const KeyPlan = z.object({
  action: KeyActionKind,
  schema: z.string(),
  table: z.string(),
  keyColumn: z.string(),
  keyValue: z.string(),
  state: KeyState,
  /** The key's level-1 partition (a standalone table once detached). */
  levelOne: z.string(),
  leaves: z.array(z.string()),
  rows: z.number(),
  rowsExact: z.boolean(),
  bytes: z.number(),
  /** The key's own bucket limit, if it has one. */
  bucketLimit: z.number().nullable(),
  serverMajor: z.number().int(),
  /** What the action will do, in order; empty when there is nothing to do. */
  steps: z.array(z.string()),
  ddl: z.array(z.string()),
  locks: z.array(LockStep),
  notes: z.array(z.string()),
  /** move: the tablespaces the role may create in (where the key can go). */
  tablespaces: z.array(z.string()).optional(),
  /** compact: the key's leaves before and after, and the rows moved between them (counted when planned). */
  compaction: z
    .object({
      leavesBefore: z.number().int(),
      leavesAfter: z.number().int(),
      rowsMoved: z.number(),
      emptied: z.array(z.string()),
      filled: z.array(z.string()),
    })
    .optional(),
});
export type KeyPlan = z.infer<typeof KeyPlan>;

export const KeyActionResult = z.object({
  actionId: z.number().int(),
  action: KeyActionKind,
  schema: z.string(),
  table: z.string(),
  keyValue: z.string(),
  /** The key's state afterwards. */
  state: KeyState,
  /** false when the key was already where the action leads (nothing done). */
  changed: z.boolean(),
  message: z.string(),
  rows: z.number().nullable(),
  bytes: z.number().nullable(),
  durationMs: z.number(),
});
export type KeyActionResult = z.infer<typeof KeyActionResult>;

/**
 * One action on one key as its journal (partwise.key_action) records it, for
 * the Runs screen. `interrupted` also covers a row still marked running whose
 * process is gone (nobody holds the key's lock); the next action on the key
 * records it so.
 */
export const KeyActionEntry = z.object({
  actionId: z.number().int(),
  configId: z.number().int(),
  action: z.string(),
  schema: z.string(),
  table: z.string(),
  keyValue: z.string(),
  status: z.enum(['running', 'succeeded', 'failed', 'interrupted']),
  step: z.string(),
  startedBy: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  rows: z.number().nullable(),
  bytes: z.number().nullable(),
  error: z.string().nullable(),
});
export type KeyActionEntry = z.infer<typeof KeyActionEntry>;

/** Progress of a key action: the step under way and, for long ones, how far it is. */
export const KeyProgress = z.object({
  step: z.string(),
  done: z.number().optional(),
  total: z.number().nullable().optional(),
  unit: z.enum(['leaves', 'bytes', 'rows']).optional(),
});
export type KeyProgress = z.infer<typeof KeyProgress>;

/** Progress of `keys.run` as the main process pushes it: which key of how many, and how far it is. */
export const KeyProgressEvent = z.object({
  connectionId: z.string(),
  configId: z.number().int(),
  action: KeyActionKind,
  keyValue: z.string(),
  /** 1-based position of the key among those of the request, and their count. */
  position: z.number().int(),
  of: z.number().int(),
  progress: KeyProgress,
});
export type KeyProgressEvent = z.infer<typeof KeyProgressEvent>;
