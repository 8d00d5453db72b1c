// The fill colours tell the levels apart at a glance, in both themes (a full
// bucket, the normal state, must not look like one at 80% or more), and the
// charts use the stylesheet's colours.
import { describe, expect, it } from 'vitest';
import { chartTheme } from './chart-theme';
import type { FillLevel } from './fill';

/** CIE76 colour difference of two #rrggbb colours (via sRGB -> XYZ -> Lab, D65). */
function deltaE(a: string, b: string): number {
  const lab = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }) as [number, number, number];
    const xyz = [
      (r * 0.4124 + g * 0.3576 + bl * 0.1805) / 0.95047,
      r * 0.2126 + g * 0.7152 + bl * 0.0722,
      (r * 0.0193 + g * 0.1192 + bl * 0.9505) / 1.08883,
    ].map((v) => (v > 0.008856 ? Math.cbrt(v) : 7.787 * v + 16 / 116)) as [number, number, number];
    return [116 * xyz[1] - 16, 500 * (xyz[0] - xyz[1]), 200 * (xyz[1] - xyz[2])];
  };
  const [l1, a1, b1] = lab(a);
  const [l2, a2, b2] = lab(b);
  return Math.hypot(l1! - l2!, a1! - a2!, b1! - b2!);
}

const LEVELS: FillLevel[] = ['empty', 'low', 'mid', 'high', 'full', 'over'];

describe('fill colours', () => {
  for (const theme of ['light', 'dark'] as const) {
    it(`are clearly distinct from each other in the ${theme} theme`, () => {
      const fill = chartTheme(theme).fill;
      for (let i = 0; i < LEVELS.length; i++) {
        for (let j = i + 1; j < LEVELS.length; j++) {
          const [a, b] = [LEVELS[i]!, LEVELS[j]!];
          expect(deltaE(fill[a], fill[b]), `${a} ${fill[a]} vs ${b} ${fill[b]}`).toBeGreaterThan(25);
        }
      }
    });
  }

  it('are the stylesheet colours', async () => {
    // The test runs in Node, the renderer's types know no Node (and Vitest empties imported CSS).
    const fs = (await import(/* @vite-ignore */ ['node', 'fs'].join(':'))) as {
      readFileSync(path: URL, encoding: 'utf8'): string;
    };
    const css = fs.readFileSync(new URL('../styles.css', import.meta.url), 'utf8');
    const block = (selector: string) => css.slice(css.indexOf(selector), css.indexOf('}', css.indexOf(selector)));
    for (const [theme, selector] of [
      ['light', ":root[data-theme='light'] {"],
      ['dark', ":root[data-theme='dark'] {"],
    ] as const) {
      const text = block(selector);
      for (const level of LEVELS) {
        const match = new RegExp(`--fill-${level}:\\s*(#[0-9a-f]{6})`).exec(text);
        expect(match?.[1], `${theme} --fill-${level}`).toBe(chartTheme(theme).fill[level]);
      }
    }
  });
});
