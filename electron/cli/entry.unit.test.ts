// `partwise --help` starts about as fast as Node because the CLI's entry chunk
// loads neither the engine nor any dependency: the commands are a separate
// chunk, imported only for a command. Built here with the build's own options.
import { describe, expect, it } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { bundles, common } from '../../scripts/bundles.mjs';

describe('the CLI bundle', () => {
  it('loads only the command line parsing and the help at start; the commands on demand', async () => {
    const { name: _name, outfile: _outfile, sources: _sources, ...cli } = bundles.find((b) => b.name === 'cli')!;
    // write: false: nothing lands in outdir.
    const outdir = path.join(os.tmpdir(), 'partwise-cli-bundle');
    const { metafile } = await esbuild.build({ ...common, ...cli, outdir, write: false, metafile: true });
    const outputs = metafile.outputs;
    const entry = Object.keys(outputs).find((file) => outputs[file]!.entryPoint === 'electron/cli/main.ts')!;
    expect(entry).toMatch(/partwise\.mjs$/);
    // Everything the entry loads before it runs: its static imports, transitively.
    const loaded = new Set<string>();
    const visit = (file: string): void => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const i of outputs[file]!.imports) if (i.kind === 'import-statement' && !i.external) visit(i.path);
    };
    visit(entry);
    const sources = [...loaded].flatMap((file) => Object.keys(outputs[file]!.inputs));
    expect(sources.filter((s) => s.includes('node_modules/') || s.startsWith('electron/engine/'))).toEqual([]);
    expect(sources).not.toContain('electron/cli/commands.ts');
    // ... which the entry imports when a command runs.
    const dynamic = outputs[entry]!.imports.filter((i) => i.kind === 'dynamic-import').map((i) => i.path);
    expect(dynamic.flatMap((file) => Object.keys(outputs[file]!.inputs))).toContain('electron/cli/commands.ts');
  });
});
