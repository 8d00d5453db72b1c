// The runner's list of phases and the phases the journal, the progress bar and
// the screens know are the same, in the same order.
import { describe, expect, it } from 'vitest';
import { MIGRATION_PHASES } from '../../../shared/progress.js';
import { MIGRATION_STEPS } from './phases.js';

describe('the migration phases', () => {
  it('run in the order shared/progress.ts declares, each once, before done', () => {
    const run = MIGRATION_STEPS.flatMap((step) => (step.handsOverTo ? [step.phase, step.handsOverTo] : [step.phase]));
    expect([...run, 'done']).toEqual([...MIGRATION_PHASES]);
  });
});
