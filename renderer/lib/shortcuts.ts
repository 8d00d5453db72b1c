// Keyboard shortcuts for the screens: Ctrl+1..7 (Cmd on macOS) in the desktop
// app. Browsers keep Ctrl/Cmd+1..8 for switching tabs, so Alt+1..7 (Option on
// macOS) works as well, and is what the tooltips show in the browser bridge.
import { SCREENS, type Screen } from '../state/ui';

export const isMac = () =>
  typeof navigator !== 'undefined' && /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

export function shortcutLabel(screen: Screen, inBrowser = false, mac = isMac()): string {
  const n = SCREENS.indexOf(screen) + 1;
  if (inBrowser) return mac ? `⌥${n}` : `Alt+${n}`;
  return mac ? `⌘${n}` : `Ctrl+${n}`;
}

type ShortcutEvent = Pick<KeyboardEvent, 'key' | 'ctrlKey' | 'metaKey' | 'altKey' | 'shiftKey'> & { code?: string };

/** The screen a key press asks for, if it is one of the shortcuts. */
export function screenForShortcut(event: ShortcutEvent, mac = isMac()): Screen | null {
  if (event.shiftKey) return null;
  const primary = (mac ? event.metaKey && !event.ctrlKey : event.ctrlKey && !event.metaKey) && !event.altKey;
  const alternate = event.altKey && !event.ctrlKey && !event.metaKey;
  if (!primary && !alternate) return null;
  // Option+digit types a symbol on macOS: the physical key tells which digit it was.
  const digit = /^Digit(\d)$/.exec(event.code ?? '')?.[1] ?? event.key;
  const index = Number(digit) - 1;
  if (!Number.isInteger(index) || index < 0 || index >= SCREENS.length) return null;
  return SCREENS[index]!;
}
