// The layering check fails on a deliberate violation: the lint configuration
// of eslint.config.js, run on sources that import across layers.
import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: path.dirname(new URL(import.meta.url).pathname) });

// Loading the configuration, its plugins and the TypeScript parser is set-up,
// done once here (by linting an empty file), not part of the first test's time.
beforeAll(async () => {
  await eslint.lintText('', { filePath: 'electron/engine/probe.ts' });
}, 60_000);

async function layerProblems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return result!.messages.filter((m) => m.ruleId === 'partwise/layers').map((m) => m.message);
}

describe('the layers of eslint.config.js', () => {
  it('fails an import of a layer above: the engine may not import the services', async () => {
    expect(
      await layerProblems(
        'electron/engine/probe.ts',
        "import { createHandlers } from '../services/handlers.js';\nexport const probe = createHandlers;\n",
      ),
    ).toEqual([expect.stringContaining('electron/engine may not import electron/services')]);
  });

  it('lets a layer import the layers it names', async () => {
    expect(
      await layerProblems(
        'electron/engine/migration/probe.ts',
        "import { ident } from '../../db/sql.js';\nimport { install } from '../../install/install.js';\nexport const probe = [ident, install];\n",
      ),
    ).toEqual([]);
  });

  it('lets connections take the services’ handler types, not their code', async () => {
    expect(
      await layerProblems(
        'electron/connections/probe.ts',
        "import type { PoolProvider } from '../services/context.js';\nexport type Probe = PoolProvider;\n",
      ),
    ).toEqual([]);
    expect(
      await layerProblems(
        'electron/connections/probe.ts',
        "import { createDispatcher } from '../services/dispatch.js';\nexport const probe = createDispatcher;\n",
      ),
    ).toEqual([expect.stringContaining('may import only types from electron/services')]);
  });

  it('keeps the renderer to shared/ and the shells’ helpers out of the bridge', async () => {
    expect(
      await layerProblems(
        'renderer/probe.ts',
        "import { ident } from '../electron/db/sql.js';\nexport const probe = ident;\n",
      ),
    ).toEqual([expect.stringContaining('renderer may not import electron/db')]);
    expect(
      await layerProblems(
        'electron/main/probe.ts',
        "import { startBridge } from '../bridge/server.js';\nexport const probe = startBridge;\n",
      ),
    ).toEqual([expect.stringContaining('electron/main may not import electron/bridge')]);
  });

  it('leaves tests free to reach any layer', async () => {
    expect(
      await layerProblems(
        'electron/engine/probe.unit.test.ts',
        "import { createHandlers } from '../services/handlers.js';\nexport const probe = createHandlers;\n",
      ),
    ).toEqual([]);
  });
});
