// The engine's public face: what the CLI, the app's services and the tests use.
export { planMigration } from './plan.js';
export { formatBytes } from '../../shared/text.js';
export {
  migrate,
  resume,
  rollback,
  finalize,
  verifyRun,
  type EngineOptions,
  type RunOutcome,
} from './migration/runner.js';
export { pauseRun } from './migration/pause.js';
export { maintainTable, refreshRouting, findManagedTable } from './maintain.js';
export { Journal } from './journal.js';
export { DEFAULT_SCHEMA } from '../install/install.js';
