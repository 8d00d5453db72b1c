import { describe, expect, it } from 'vitest';
import { screenForShortcut, shortcutLabel } from './shortcuts';

const key = (k: string, mods: Partial<Record<'ctrlKey' | 'metaKey' | 'altKey' | 'shiftKey', boolean>> = {}) => ({
  key: k,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  shiftKey: false,
  ...mods,
});

describe('screenForShortcut', () => {
  it('maps Ctrl+1..7 to the screens in navigation order', () => {
    expect(screenForShortcut(key('1', { ctrlKey: true }), false)).toBe('connections');
    expect(screenForShortcut(key('2', { ctrlKey: true }), false)).toBe('tables');
    expect(screenForShortcut(key('7', { ctrlKey: true }), false)).toBe('tracker');
  });
  it('uses Cmd on macOS', () => {
    expect(screenForShortcut(key('5', { metaKey: true }), true)).toBe('explorer');
    expect(screenForShortcut(key('5', { ctrlKey: true }), true)).toBeNull();
  });
  it('also takes Alt+1..7, which browsers leave to the page', () => {
    expect(screenForShortcut(key('3', { altKey: true }), false)).toBe('plan');
    // Option+3 types "£" on a Mac keyboard; the key code still says Digit3.
    expect(screenForShortcut({ ...key('£', { altKey: true }), code: 'Digit3' }, true)).toBe('plan');
    expect(screenForShortcut(key('3', { altKey: true, ctrlKey: true }), false)).toBeNull();
  });
  it('labels the shortcut for the shell', () => {
    expect(shortcutLabel('tables', false, false)).toBe('Ctrl+2');
    expect(shortcutLabel('tables', false, true)).toBe('⌘2');
    expect(shortcutLabel('tables', true, false)).toBe('Alt+2');
    expect(shortcutLabel('tables', true, true)).toBe('⌥2');
  });
  it('ignores other keys and modifiers', () => {
    expect(screenForShortcut(key('8', { ctrlKey: true }), false)).toBeNull();
    expect(screenForShortcut(key('0', { ctrlKey: true }), false)).toBeNull();
    expect(screenForShortcut(key('2'), false)).toBeNull();
    expect(screenForShortcut(key('2', { ctrlKey: true, shiftKey: true }), false)).toBeNull();
  });
});
