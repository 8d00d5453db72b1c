// Screenshot harness: installs the fake API as `window.partwise` before the app
// loads (bundled to an IIFE and injected with Playwright's addInitScript), so
// every screen can be seen populated while the engine services are not wired.
// `?fake=blocked` makes the engine commands fail as an unwired build does.
// A started run replays a migration's events on timers.
import type { Phase, RunEvent } from '../../shared/progress';
import { asPreload, createFakeApi, notAvailable, type Handlers } from './fake-api';

const mode = new URLSearchParams(window.location.search).get('fake');

const blocked: Handlers = {};
if (mode === 'blocked') {
  for (const command of [
    'tables.list',
    'tables.detail',
    'plan.create',
    'runs.list',
    'managed.list',
    'explorer.tree',
    'explorer.sizes',
    'tracker.list',
  ] as const) {
    (blocked as Record<string, () => never>)[command] = () => {
      throw notAvailable(command.split('.')[0]!);
    };
  }
}

const api = createFakeApi(blocked);

function replay(runId: number) {
  const table = 'public.custom_module_data';
  const at = () => new Date().toISOString();
  const events: RunEvent[] = [];
  const phase = (name: Phase, message: string) =>
    events.push({ runId, table, at: '', type: 'phase', phase: name, message });
  phase('prepare', 'Checking the table, its indexes and privileges');
  events.push({
    runId,
    table,
    at: '',
    type: 'log',
    level: 'debug',
    message: 'lock_timeout = 5s, statement_timeout = 0',
  });
  phase('provision', 'Creating 12,000 level-1 partitions and 31,870 leaves');
  events.push({
    runId,
    table,
    at: '',
    type: 'progress',
    phase: 'provision',
    done: 31_870,
    total: 31_870,
    unit: 'partitions',
    perSecond: 4200,
    etaSeconds: 0,
  });
  phase('copy', 'Copying rows key by key');
  for (let i = 1; i <= 40; i++) {
    events.push({
      runId,
      table,
      at: '',
      type: 'progress',
      phase: 'copy',
      done: i * 4300,
      total: 298_952,
      unit: 'rows',
      perSecond: 41_000 + (i % 5) * 900,
      etaSeconds: (298_952 - i * 4300) / 42_000,
      currentKey: String(1000 + i * 137),
    });
    if (i % 6 === 0)
      events.push({ runId, table, at: '', type: 'log', level: 'info', message: `Copied keys up to ${1000 + i * 137}` });
    if (i === 20)
      events.push({ runId, table, at: '', type: 'log', level: 'warn', message: 'Key 3740 has 4,210 rows: 5 buckets' });
  }
  let index = 0;
  const timer = setInterval(() => {
    const event = events[index++];
    if (!event) {
      clearInterval(timer);
      return;
    }
    api.emit('run.event', { ...event, at: at() });
  }, 60);
}

const start = api.handlers['runs.start']!;
api.handlers['runs.start'] = (input) => {
  const result = start(input) as { runId: number };
  setTimeout(() => replay(result.runId), 50);
  return result;
};

window.partwise = asPreload(api);
