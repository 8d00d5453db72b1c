import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy } from '../renderer-files/content-security-policy.js';
import { defaultDataDir } from './data-dir.js';

describe('defaultDataDir', () => {
  it('follows PARTWISE_DATA_DIR first', () => {
    expect(defaultDataDir({ PARTWISE_DATA_DIR: '/srv/pw' }, 'linux', '/home/a')).toBe(path.resolve('/srv/pw'));
  });

  it('uses the folder Electron would use for userData', () => {
    expect(defaultDataDir({}, 'linux', '/home/a')).toBe('/home/a/.config/partwise');
    expect(defaultDataDir({ XDG_CONFIG_HOME: '/x/cfg' }, 'linux', '/home/a')).toBe('/x/cfg/partwise');
    expect(defaultDataDir({}, 'darwin', '/Users/a')).toBe('/Users/a/Library/Application Support/partwise');
    expect(defaultDataDir({ APPDATA: '/c/Users/a/AppData/Roaming' }, 'win32', '/c/Users/a')).toBe(
      path.join('/c/Users/a/AppData/Roaming', 'partwise'),
    );
  });
});

describe('contentSecurityPolicy', () => {
  it('allows nothing inline and no framing', () => {
    const csp = contentSecurityPolicy();
    expect(csp).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
  });
});
