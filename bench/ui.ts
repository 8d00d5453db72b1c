// `npm run bench -- ui [--keys=10000] [--runs=3]`: time to first render of the
// Explorer's partition tree and of the Sizes charts for a managed table with
// 10,000 level-1 partitions, in Chromium through the browser bridge (the
// renderer of `npm run build`).
//
// The table is built for real: a partitioned table configured with Partwise,
// its level-1 and bucket partitions made by the same bulk SQL functions a
// migration uses, rows loaded into them and the tracker told about them.
//
// Each figure is measured in the page, from the click on the navigation
// button to the first tree rows (or chart bars) painted: what the user waits
// for, data included. Goal: under 1 s for the tree and for the charts. The
// time the backend took (WebSocket request to response, for every command on
// the way) and the rest (render = total - backend) are reported apart. The
// Explorer's sizes, which fill in after the tree, are timed too, without goal.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { chromium, type Page } from 'playwright-core';
import { THROWAWAY_SETTINGS } from '../electron/embedded/cluster.js';
import { rendererIsBuilt } from '../electron/renderer-files/static-files.js';
import { install } from '../electron/install/install.js';
import { startTestBridge } from '../e2e/support/bridge.js';
import { chromiumExecutable, missingChromiumReason } from '../e2e/support/chromium.js';
import { RENDERER_DIR } from '../e2e/support/paths.js';
import { benchCluster, table } from './_cluster.js';

function option(name: string, fallback: number): number {
  const found = process.argv.find((arg) => arg.startsWith(`--${name}=`));
  const value = found ? Number(found.slice(name.length + 3)) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive whole number`);
  return value;
}

const KEYS = option('keys', 10_000);
const RUNS = option('runs', 3);
const GOAL_MS = 1_000;
const BUCKET_LIMIT = 100;
/** Connections that build the tree at once; level-1 partitions lock the parent, so only buckets and rows spread. */
const BUILDERS = 3;
const BATCH = 200;

/** Rows of key k: 1 to 180 for most keys (a third get a second bucket), 1,500 (15 buckets) for every 1,000th. */
const ROWS_SQL = `CASE WHEN k % 1000 = 0 THEN 1500 ELSE 1 + (k * 7919) % 180 END`;
const rowsOf = (k: number) => (k % 1000 === 0 ? 1500 : 1 + ((k * 7919) % 180));

const elapsed = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
const log = (line: string) => process.stdout.write(`${line}\n`);

if (!rendererIsBuilt(RENDERER_DIR)) {
  log(`The renderer is not built (${RENDERER_DIR} has no index.html): run \`npm run build\` first.`);
  process.exit(2);
}
const noBrowser = missingChromiumReason();
if (noBrowser) {
  log(noBrowser);
  process.exit(2);
}

async function inBatches(
  keys: number[],
  connections: pg.Client[],
  work: (client: pg.Client, batch: number[]) => Promise<void>,
  label: string,
): Promise<void> {
  const started = performance.now();
  let next = 0;
  let done = 0;
  let reported = 0;
  await Promise.all(
    connections.map(async (client) => {
      while (next < keys.length) {
        const batch = keys.slice(next, next + BATCH);
        next += BATCH;
        await work(client, batch);
        done += batch.length;
        if (done - reported >= 2_000 || done === keys.length) {
          reported = done;
          log(
            `  ${label}: ${done.toLocaleString('en-US')} / ${keys.length.toLocaleString('en-US')} keys (${elapsed(started)})`,
          );
        }
      }
    }),
  );
}

interface Built {
  configId: number;
  leaves: number;
  rows: number;
}

async function buildManagedTable(url: string): Promise<Built> {
  const clients = await Promise.all(
    Array.from({ length: BUILDERS }, async () => {
      const client = new pg.Client(url);
      await client.connect();
      return client;
    }),
  );
  const [main] = clients as [pg.Client];
  try {
    await install(main, 'partwise');
    await main.query(
      `CREATE TABLE public.events_partitioned (
         id bigint NOT NULL, tenant_id bigint NOT NULL, payload text,
         created_at timestamptz NOT NULL DEFAULT now(), bucket_id int NOT NULL DEFAULT 0
       ) PARTITION BY LIST (tenant_id)`,
    );
    await main.query(`ALTER TABLE public.events_partitioned ADD PRIMARY KEY (id, tenant_id, bucket_id)`);
    const { rows } = await main.query<{ config_id: number }>(
      `SELECT (partwise.configure_table('public', 'events', 'events_partitioned', 'tenant_id', $1)).config_id`,
      [BUCKET_LIMIT],
    );
    const configId = rows[0]!.config_id;
    await main.query('SELECT partwise.install_routing($1)', [configId]);

    const keys = Array.from({ length: KEYS }, (_, i) => i + 1);
    const levelOnes = new Map<number, string>();
    // Each level-1 partition takes a lock on the partitioned table: one connection makes them.
    await inBatches(
      keys,
      [main],
      async (client, batch) => {
        const made = await client.query<{ key_value: string; level_one: string }>(
          'SELECT key_value, level_one FROM partwise.create_level_one_partitions($1, $2)',
          [configId, batch.map(String)],
        );
        for (const row of made.rows) levelOnes.set(Number(row.key_value), row.level_one);
      },
      'level-1 partitions',
    );
    const bucketsOf = (k: number) => Math.max(1, Math.ceil(rowsOf(k) / BUCKET_LIMIT));
    await inBatches(
      keys,
      clients,
      async (client, batch) => {
        await client.query('SELECT partwise.create_bucket_partitions($1, $2, $3)', [
          configId,
          batch.map((k) => levelOnes.get(k)!),
          batch.map(bucketsOf),
        ]);
      },
      'bucket partitions',
    );
    // Rows numbered 1..n per key, bucket (n - 1) / limit, as a migration's copy numbers them.
    await inBatches(
      keys,
      clients,
      async (client, batch) => {
        await client.query(
          `INSERT INTO public.events_partitioned (id, tenant_id, payload, bucket_id)
           SELECT k * 10000 + g, k, md5(g::text), (g - 1) / ${BUCKET_LIMIT}
             FROM unnest($1::bigint[]) AS k, generate_series(1, ${ROWS_SQL}) AS g`,
          [batch],
        );
        // Statistics, so that the tree shows estimated rows; a batch's partitions only (few locks at once).
        const names = batch.map((k) => `public.${pg.escapeIdentifier(levelOnes.get(k)!)}`);
        await client.query(`ANALYZE ${names.join(', ')}`);
      },
      'rows and statistics',
    );
    await main.query('SELECT partwise.register_loaded_keys($1, $2, $3, $4)', [
      configId,
      keys.map(String),
      keys.map((k) => levelOnes.get(k)!),
      keys.map(rowsOf),
    ]);
    const leaves = keys.reduce((sum, k) => sum + bucketsOf(k), 0);
    return { configId, leaves, rows: keys.reduce((sum, k) => sum + rowsOf(k), 0) };
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

/**
 * Installed before the app: timestamps of every WebSocket request and its
 * response (by message id), and a wait for the first element matching a
 * selector that resolves after the frame holding it was painted.
 */
const INSTRUMENTATION = `(() => {
  const bench = { sent: {}, received: {} };
  window.__bench = bench;
  const Native = window.WebSocket;
  const send = Native.prototype.send;
  Native.prototype.send = function (data) {
    try {
      const message = JSON.parse(data);
      bench.sent[message.id] = { command: message.command, at: performance.now() };
    } catch {}
    return send.call(this, data);
  };
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      // Registered before the app's own listener: the time of arrival, before the app parses anything.
      this.addEventListener('message', (event) => {
        const text = String(event.data);
        const id = /"id":(\\d+)/.exec(text.slice(0, 80));
        if (id) bench.received[id[1]] = { at: performance.now(), bytes: text.length };
      });
    }
  };
  // Resolves once every request sent has its answer and nothing new was sent for quietMs.
  bench.settled = (quietMs) =>
    new Promise((resolve) => {
      let seen = -1;
      let quietSince = performance.now();
      const check = () => {
        const ids = Object.keys(bench.sent);
        if (ids.length !== seen || ids.some((id) => !bench.received[id])) {
          seen = ids.length;
          quietSince = performance.now();
        }
        if (performance.now() - quietSince > quietMs) resolve();
        else setTimeout(check, 50);
      };
      check();
    });
  bench.painted = (selector, timeoutMs) =>
    new Promise((resolve, reject) => {
      const afterPaint = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.now()), 0));
      if (document.querySelector(selector)) return afterPaint();
      const timer = setTimeout(() => {
        observer.disconnect();
        reject(new Error('nothing matched ' + selector + ' within ' + timeoutMs + ' ms'));
      }, timeoutMs);
      const observer = new MutationObserver(() => {
        if (!document.querySelector(selector)) return;
        observer.disconnect();
        clearTimeout(timer);
        afterPaint();
      });
      observer.observe(document.body, { childList: true, subtree: true, attributes: true });
    });
})();`;

interface Measurement {
  totalMs: number;
  backendMs: number;
  renderMs: number;
  commands: string[];
  payloadBytes: number;
}

/** What INSTRUMENTATION keeps in the page, by WebSocket message id. */
interface PageBench {
  sent: Record<string, { command: string; at: number }>;
  received: Record<string, { at: number; bytes: number }>;
  painted(selector: string, timeoutMs: number): Promise<number>;
  settled(quietMs: number): Promise<void>;
}

async function measure(page: Page, nav: string, selector: string, dataCommand: string): Promise<Measurement> {
  await page.reload();
  await page.getByTestId('app-ready').waitFor();
  await page.getByTestId('screen-connections').waitFor();
  const result = await page.evaluate(
    async ({ nav, selector }) => {
      const bench = (window as unknown as { __bench: PageBench }).__bench;
      bench.sent = {};
      bench.received = {};
      const button = document.querySelector<HTMLButtonElement>(`[data-testid="${nav}"]`)!;
      const clicked = performance.now();
      const painted = bench.painted(selector, 120_000);
      button.click();
      const paintedAt: number = await painted;
      // The next run starts on an idle backend: every request sent (also those
      // made after the paint, such as the Explorer's sizes) is answered first.
      await bench.settled(500);
      return { clicked, paintedAt, sent: bench.sent, received: bench.received };
    },
    { nav, selector },
  );
  let backendMs = 0;
  let payloadBytes = 0;
  const commands: string[] = [];
  for (const [id, sent] of Object.entries(result.sent)) {
    const received = result.received[id];
    // Only the requests answered before the first paint were on its way.
    if (!received || received.at > result.paintedAt) continue;
    backendMs += received.at - sent.at;
    commands.push(`${sent.command} ${Math.round(received.at - sent.at)} ms`);
    if (sent.command === dataCommand) payloadBytes = received.bytes;
  }
  if (!commands.some((c) => c.startsWith(dataCommand)))
    throw new Error(`${dataCommand} was not answered before ${selector} appeared`);
  const totalMs = result.paintedAt - result.clicked;
  return { totalMs, backendMs, renderMs: totalMs - backendMs, commands, payloadBytes };
}

const payloadSize = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(2)} MB` : `${(bytes / 1024).toFixed(1)} KB`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (value: number) => `${Math.round(value).toLocaleString('en-US')} ms`;

const started = performance.now();
log(`UI benchmark: ${KEYS.toLocaleString('en-US')} level-1 partitions, ${RUNS} measured runs per screen.`);
const bench = await benchCluster({ ...THROWAWAY_SETTINGS });
const testBridge = await startTestBridge();
const browser = await chromium.launch({
  executablePath: chromiumExecutable(),
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--disable-dev-shm-usage',
  ],
});
try {
  log(`PostgreSQL ${bench.version} started; building the table (${elapsed(started)}).`);
  const url = await bench.newDatabase('ui_bench');
  const built = await buildManagedTable(url);
  log(
    `Built: ${KEYS.toLocaleString('en-US')} level-1 partitions, ${built.leaves.toLocaleString('en-US')} leaves, ` +
      `${built.rows.toLocaleString('en-US')} rows (${elapsed(started)}).`,
  );

  const params = bench.cluster.params;
  const saved = await testBridge.bridge.backend.dispatch('connections.save', {
    name: 'UI benchmark',
    host: params.host,
    port: params.port,
    database: 'ui_bench',
    user: params.user,
    password: params.password,
    sslMode: 'disable',
  });
  if (!saved.ok) throw new Error(`saving the connection failed: ${saved.error.message}`);
  const connectionId = (saved.result as { id: string }).id;

  const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
  // Every load starts on Connections with the benchmark's connection active (the UI store's persisted form).
  await context.addInitScript(({ key, value }) => localStorage.setItem(key, value), {
    key: 'partwise.ui',
    value: JSON.stringify({
      state: { screen: 'connections', connectionId, managedTable: {}, theme: 'light' },
      version: 1,
    }),
  });
  await context.addInitScript(INSTRUMENTATION);
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(testBridge.bridge.url);

  const screens = [
    {
      name: 'Explorer',
      nav: 'nav-explorer',
      selector: '[data-testid="tree-row"]',
      command: 'explorer.tree',
      goal: true,
    },
    {
      name: 'Explorer sizes',
      nav: 'nav-explorer',
      selector: '[data-testid="tree-total-size"] strong',
      command: 'explorer.leafSizes',
      goal: false,
    },
    {
      name: 'Sizes',
      nav: 'nav-sizes',
      selector: '[data-testid="chart-largest"] .recharts-bar-rectangle',
      command: 'explorer.sizes',
      goal: true,
    },
  ];
  const rows: string[][] = [];
  const verdicts: string[] = [];
  for (const screen of screens) {
    // One unmeasured load first: the server's caches and the browser's code cache warm up.
    await measure(page, screen.nav, screen.selector, screen.command);
    const runs: Measurement[] = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await measure(page, screen.nav, screen.selector, screen.command);
      runs.push(run);
      log(
        `  ${screen.name} run ${i + 1}: ${ms(run.totalMs)} from click to first paint ` +
          `(backend ${ms(run.backendMs)}: ${run.commands.join(', ')}; render ${ms(run.renderMs)})`,
      );
    }
    if (screen.name === 'Explorer') {
      const totals = await page.getByTestId('tree-totals').textContent();
      if (!totals?.includes(`${KEYS.toLocaleString('en-US')} level-1 partitions`)) {
        throw new Error(`the Explorer does not show ${KEYS} level-1 partitions: ${totals}`);
      }
    }
    const render = median(runs.map((r) => r.renderMs));
    const total = median(runs.map((r) => r.totalMs));
    const met = total < GOAL_MS;
    if (screen.goal) {
      verdicts.push(
        `${screen.name}: ${met ? 'goal met' : 'GOAL MISSED'} (click to paint ${ms(total)}, goal under ${ms(GOAL_MS)})`,
      );
    }
    rows.push([
      screen.name,
      screen.command,
      payloadSize(runs[0]!.payloadBytes),
      ms(median(runs.map((r) => r.backendMs))),
      ms(render),
      ms(Math.max(...runs.map((r) => r.renderMs))),
      ms(total),
      ms(Math.max(...runs.map((r) => r.totalMs))),
      screen.goal ? (met ? 'met' : 'MISSED') : 'no goal',
    ]);
  }
  if (pageErrors.length > 0) throw new Error(`the page threw: ${pageErrors.join('; ')}`);

  log('');
  log(
    `Time to first render, ${KEYS.toLocaleString('en-US')} level-1 partitions (${built.leaves.toLocaleString('en-US')} leaves), ` +
      `PostgreSQL ${bench.version}, Chromium ${browser.version()}; median of ${RUNS} runs`,
  );
  log(
    table(
      [
        'screen',
        'data command',
        'answer',
        'backend',
        'render',
        'render (worst)',
        'click to paint',
        'worst',
        `< ${ms(GOAL_MS)}`,
      ],
      rows,
    ),
  );
  log('');
  log('backend: WebSocket request to response of every command before the first paint (managed.list, then the data).');
  log('render: the rest of click to paint (parsing, React, layout, charts, paint).');
  log('Explorer sizes: click to the total size shown, after the tree (bytes measured per leaf, in batches).');
  for (const verdict of verdicts) log(verdict);
  log(`Total time ${elapsed(started)}.`);
} finally {
  await browser.close();
  await testBridge.close();
  await bench.stop();
}
