// Colours for the charts in either theme. SVG charts take colours as values,
// so they live here rather than in the stylesheet; they match its variables.
import type { FillLevel } from './fill';
import type { ResolvedTheme } from './theme';

export interface ChartTheme {
  text: string;
  muted: string;
  grid: string;
  surface: string;
  border: string;
  bar: string;
  cursor: string;
  parts: { table: string; index: string; toast: string };
  fill: Record<FillLevel, string>;
}

const light: ChartTheme = {
  text: '#1f2733',
  muted: '#5b6576',
  grid: '#e2e6ec',
  surface: '#ffffff',
  border: '#d3d9e1',
  bar: '#2f6fde',
  cursor: 'rgba(47, 111, 222, 0.08)',
  parts: { table: '#2f6fde', index: '#8a55d8', toast: '#0f9b8e' },
  fill: {
    empty: '#c4cbd6',
    low: '#8fb4f2',
    mid: '#2f6fde',
    high: '#b87400',
    full: '#5d6b80',
    over: '#d1343a',
  },
};

const dark: ChartTheme = {
  text: '#e2e6ee',
  muted: '#9aa4b5',
  grid: '#2c333e',
  surface: '#1b2029',
  border: '#343c48',
  bar: '#5b93f5',
  cursor: 'rgba(91, 147, 245, 0.12)',
  parts: { table: '#5b93f5', index: '#a77cf0', toast: '#2cc4b4' },
  fill: {
    empty: '#465061',
    low: '#30569a',
    mid: '#6ea0f7',
    high: '#e8a93a',
    full: '#97a3b6',
    over: '#f0585d',
  },
};

export function chartTheme(theme: ResolvedTheme): ChartTheme {
  return theme === 'dark' ? dark : light;
}
