import { describe, expect, it } from 'vitest';
import { APP_START_URL, isAllowedExternal, isAppUrl, isTrustedSender } from './trust.js';

describe('isTrustedSender', () => {
  const window = 7;
  const good = { webContentsId: window, frameUrl: 'app://partwise/index.html', isMainFrame: true };

  it('accepts the main frame of the Partwise window on app://partwise', () => {
    expect(isTrustedSender(good, window)).toBe(true);
    expect(isTrustedSender({ ...good, frameUrl: 'app://partwise/tables?x=1#y' }, window)).toBe(true);
  });

  it('refuses other windows, sub-frames, foreign pages and destroyed frames', () => {
    expect(isTrustedSender({ ...good, webContentsId: 8 }, window)).toBe(false);
    expect(isTrustedSender(good, undefined)).toBe(false);
    expect(isTrustedSender({ ...good, isMainFrame: false }, window)).toBe(false);
    expect(isTrustedSender({ ...good, frameUrl: undefined }, window)).toBe(false);
    for (const frameUrl of [
      'https://evil.example/',
      'file:///etc/passwd',
      'app://other/index.html',
      'app://partwise.evil/index.html',
      'app://user:pw@partwise/index.html',
      'http://partwise/index.html',
      'about:blank',
      'devtools://devtools/bundled/inspector.html',
      'not a url',
    ]) {
      expect(isTrustedSender({ ...good, frameUrl }, window), frameUrl).toBe(false);
    }
  });
});

describe('navigation and external links', () => {
  it('allows navigation within app://partwise only', () => {
    expect(isAppUrl(APP_START_URL)).toBe(true);
    expect(isAppUrl('app://partwise/')).toBe(true);
    expect(isAppUrl('https://partwise/')).toBe(false);
    expect(isAppUrl('javascript:alert(1)')).toBe(false);
    expect(isAppUrl(undefined)).toBe(false);
  });

  it('opens external links only from the https allowlist, which is empty', () => {
    expect(isAllowedExternal('https://www.postgresql.org/docs/')).toBe(false);
    expect(isAllowedExternal('https://www.postgresql.org/docs/', ['https://www.postgresql.org'])).toBe(true);
    expect(isAllowedExternal('http://www.postgresql.org/docs/', ['http://www.postgresql.org'])).toBe(false);
    expect(isAllowedExternal('file:///bin/sh', ['file://'])).toBe(false);
  });
});
