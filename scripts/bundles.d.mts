// Types of scripts/bundles.mjs for the TypeScript that imports it (a test).
import type { BuildOptions } from 'esbuild';

export const common: BuildOptions;
export const bundles: (BuildOptions & { name: string; outfile: string; sources?: string })[];
