// The theme in force: the user's choice, or the system's when they chose "system".
import { useEffect, useSyncExternalStore } from 'react';
import type { ThemePreference } from '../state/ui';

const QUERY = '(prefers-color-scheme: dark)';

function subscribe(onChange: () => void): () => void {
  if (typeof window.matchMedia !== 'function') return () => undefined;
  const media = window.matchMedia(QUERY);
  media.addEventListener('change', onChange);
  return () => media.removeEventListener('change', onChange);
}

const systemPrefersDark = () => typeof window.matchMedia === 'function' && window.matchMedia(QUERY).matches;

export type ResolvedTheme = 'light' | 'dark';

export function resolveTheme(preference: ThemePreference, prefersDark: boolean): ResolvedTheme {
  if (preference === 'system') return prefersDark ? 'dark' : 'light';
  return preference;
}

export function useResolvedTheme(preference: ThemePreference): ResolvedTheme {
  const prefersDark = useSyncExternalStore(subscribe, systemPrefersDark, () => false);
  return resolveTheme(preference, prefersDark);
}

/** Puts the theme on <html> (the stylesheet's variables switch on data-theme). */
export function useApplyTheme(theme: ResolvedTheme): void {
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    document.documentElement.style.colorScheme = theme;
  }, [theme]);
}

export const nextThemePreference: Record<ThemePreference, ThemePreference> = {
  system: 'light',
  light: 'dark',
  dark: 'system',
};
