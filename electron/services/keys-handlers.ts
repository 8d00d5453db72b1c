// Actions on keys of a managed table, from the Explorer: the plan first, then
// the action, key after key (electron/engine/keys/). An export writes to a
// file the main process opens: an absolute path whose folder exists.
import fs from 'node:fs';
import path from 'node:path';
import type { KeyActionResult } from '../../shared/keys.js';
import { PartwiseError } from '../db/errors.js';
import { managedTable } from '../engine/explorer.js';
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

export function keysHandlers(context: ServiceContext): HandlerGroup<'keys.plan' | 'keys.run'> {
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
      for (const value of keyValues) {
        const file = action === 'export' ? exportFile(out, keyValues.length) : undefined;
        try {
          results.push(
            await runKeyAction(pool, { schema: table.schema, name: table.table }, value, action, options, {
              installSchema,
              output: file,
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
  };
}
