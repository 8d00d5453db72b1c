// An error crosses from the engine to the renderer with one of the kinds of
// errors.ts: the envelope refuses any other, so a kind the screens do not know
// cannot reach them.
import { describe, expect, it } from 'vitest';
import { ResponseEnvelope } from './contract.js';
import { errorKinds } from './errors.js';

describe('the error envelope', () => {
  it('carries every declared kind', () => {
    for (const kind of errorKinds) {
      expect(ResponseEnvelope.safeParse({ ok: false, error: { kind, message: 'm' } }).success).toBe(true);
    }
  });

  it('refuses a kind that is not declared', () => {
    expect(ResponseEnvelope.safeParse({ ok: false, error: { kind: 'oops', message: 'm' } }).success).toBe(false);
  });
});
