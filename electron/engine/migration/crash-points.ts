// Named points where the crash tests stop the process with kill -9. When the
// environment variable PARTWISE_CRASH_POINT names a point, the engine reports
// reaching it on stderr and then waits forever; it has no effect otherwise.
// This is how the tests prove that a run killed at any phase can be resumed
// or rolled back without losing a row.
export type CrashPoint =
  | 'prepare:after-capture'
  | 'copy:after-first-chunk'
  | 'indexes:before'
  | 'indexes:after-leaves'
  | 'indexes:registry-after-first-range'
  | 'catch_up:before'
  | 'catch_up:building-registries'
  | 'cutover:inside-transaction'
  | 'verify:before'
  | 'rollback:before-drop'
  // partwise key detach / drop (electron/engine/keys/)
  | 'key:after-begin'
  | 'key:after-detach'
  // partwise key move / compact
  | 'key:move-after-leaf'
  | 'key:compact-after-batch'
  // partwise key isolate / share
  | 'key:isolate-after-check'
  | 'key:isolate-after-switch'
  | 'key:share-after-switch';

export const CRASH_POINT_REACHED = 'PARTWISE_CRASH_POINT_REACHED';

export async function crashPoint(point: CrashPoint): Promise<void> {
  if (process.env.PARTWISE_CRASH_POINT !== point) return;
  process.stderr.write(`${CRASH_POINT_REACHED} ${point}\n`);
  await new Promise<never>(() => setInterval(() => undefined, 60_000));
}
