// Actions on keys of a managed table, from the Explorer: the plan first, then
// the action, key after key (electron/engine/keys/), its progress pushed as
// `keys.progress` events. An export writes to a file the main process opens:
// an absolute path whose folder exists, typed or chosen in the desktop app's
// save dialog.
import fs from 'node:fs';
import path from 'node:path';
import type { KeyActionKind, KeyActionResult, KeyProgress } from '../../shared/keys.js';
import { PartwiseError } from '../db/errors.js';
import { managedTable } from '../engine/explorer.js';
import { keyActionHistory } from '../engine/keys/history.js';
import { planKeyActionFor, runKeyAction } from '../engine/keys/run.js';
import type { HandlerGroup, ServiceContext } from './context.js';

function exportFile(out: string | undefined, keys: number): fs.WriteStream {
  if (keys !== 1) throw new PartwiseError('invalid_input', 'export one key at a time');
  if (!out || !path.isAbsolute(out)) throw new PartwiseError('invalid_input', 'an export needs an absolute file path');
  try {
    fs.accessSync(path.dirname(out), fs.constants.W_OK);
  } catch (error) {
    throw new PartwiseError('invalid_input', `cannot write ${out}: ${(error as Error).message}`);
  }
  return fs.createWriteStream(out);
}

/** Progress is pushed at most this often: an export reports every megabyte, far more than a screen shows. */
const PROGRESS_EVERY_MS = 200;

/** A key's progress as events: its first and last report always, those between at most every PROGRESS_EVERY_MS. */
function progressEvents(
  context: ServiceContext,
  request: { connectionId: string; configId: number; action: KeyActionKind; keyValue: string },
  position: number,
  of: number,
): (progress: KeyProgress) => void {
  let last = 0;
  return (progress) => {
    const now = Date.now();
    const final = progress.total !== undefined && progress.total !== null && progress.done === progress.total;
    if (!final && last !== 0 && now - last < PROGRESS_EVERY_MS) return;
    last = now;
    context.emit('keys.progress', { ...request, position, of, progress });
  };
}

export function keysHandlers(
  context: ServiceContext,
): HandlerGroup<'keys.plan' | 'keys.run' | 'keys.history' | 'files.chooseSavePath'> {
  const installSchema = context.installSchema;
  return {
    'keys.plan': async ({ connectionId, configId, action, keyValues, options }) => {
      const pool = await context.pools.pool(connectionId);
      const table = await managedTable(pool, installSchema, configId);
      const plans = [];
      for (const value of keyValues)
        plans.push(
          await planKeyActionFor(
            pool,
            installSchema,
            { schema: table.schema, name: table.table },
            value,
            action,
            options,
          ),
        );
      return plans;
    },
    'keys.run': async ({ connectionId, configId, action, keyValues, options, out }) => {
      // Work the user asked for and watches: a detach waits for the table's
      // transactions, an export streams a whole key; no statement timeout.
      const pool = await context.pools.workPool(connectionId);
      const table = await managedTable(pool, installSchema, configId);
      if (out !== undefined && action !== 'export')
        throw new PartwiseError('invalid_input', 'a file goes with export only');
      const results: KeyActionResult[] = [];
      for (const [index, value] of keyValues.entries()) {
        const file = action === 'export' ? exportFile(out, keyValues.length) : undefined;
        const onProgress = progressEvents(
          context,
          { connectionId, configId, action, keyValue: value },
          index + 1,
          keyValues.length,
        );
        onProgress({ step: `${action} key ${value}` });
        try {
          results.push(
            await runKeyAction(pool, { schema: table.schema, name: table.table }, value, action, options, {
              installSchema,
              output: file,
              onProgress,
            }),
          );
        } catch (error) {
          file?.destroy();
          throw error;
        }
        if (file && !file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()));
      }
      return results;
    },
    'keys.history': async ({ connectionId }) => keyActionHistory(await context.pools.pool(connectionId), installSchema),
    'files.chooseSavePath': async ({ suggestedName }) => {
      if (!context.chooseSavePath)
        throw new PartwiseError(
          'invalid_input',
          'This window has no save dialog (it runs in a browser, through the local bridge): type the full path of the file.',
        );
      // Only a file name: a suggestion must not steer the dialog to another folder.
      return { path: await context.chooseSavePath(path.basename(suggestedName)) };
    },
  };
}
