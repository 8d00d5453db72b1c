// Which of two Partwise versions is newer decides whether an install may
// upgrade a schema or must leave it alone.
import { describe, expect, it } from 'vitest';
import { compareVersions } from './install.js';

describe('comparing versions', () => {
  it('orders each part numerically, not as text', () => {
    expect(compareVersions('0.10.0', '0.9.1')).toBe(1);
    expect(compareVersions('0.9.1', '0.10.0')).toBe(-1);
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
    expect(compareVersions('1.2.0-beta.1', '1.2.0')).toBe(0);
  });
});
