// What a recorded run allows, decided from the journal's facts alone.
import { describe, expect, it } from 'vitest';
import { runActions } from './run-rules.js';

const swapped = { phase: 'done', status: 'done', cutoverAt: '2026-01-01T00:00:00.000Z' } as const;
const copying = { phase: 'copy', status: 'running', cutoverAt: null } as const;
const rollingBack = { phase: 'rollback', status: 'failed', cutoverAt: '2026-01-01T00:00:00.000Z' } as const;

describe('what a run allows', () => {
  it('a running run nobody holds is interrupted: resume or roll back', () => {
    expect(runActions('running', [copying], false)).toEqual({
      status: 'interrupted',
      canResume: true,
      canRollback: true,
      canFinalize: false,
      rollingBack: false,
    });
    expect(runActions('running', [copying], true)).toMatchObject({ status: 'running', canResume: false });
  });

  it('a succeeded run with a swapped table can be finalized or rolled back', () => {
    expect(runActions('succeeded', [swapped], false)).toEqual({
      status: 'succeeded',
      canResume: false,
      canRollback: true,
      canFinalize: true,
      rollingBack: false,
    });
  });

  it('a rollback stopped part way is continued, never resumed, even where older versions left the run succeeded', () => {
    for (const recorded of ['running', 'succeeded'] as const) {
      expect(runActions(recorded, [rollingBack], false)).toEqual({
        status: 'interrupted',
        canResume: false,
        canRollback: true,
        canFinalize: false,
        rollingBack: true,
      });
    }
  });

  it('a finalized or rolled back run allows nothing', () => {
    for (const recorded of ['finalized', 'rolled_back'] as const) {
      expect(runActions(recorded, [{ ...swapped, status: recorded }], false)).toMatchObject({
        canResume: false,
        canRollback: false,
        canFinalize: false,
        rollingBack: false,
      });
    }
  });
});
