// vitest setup file of the `db` project: a test that fails between starting
// the CLI at a crash point and killing it (runCliUntil, then killHard) would
// leave the child waiting there after the run, its sessions holding locks
// that the file's next tests then wait for. Killed after each test instead.
import { afterEach } from 'vitest';
import { killLeftChildren } from './cli.js';

afterEach(() => {
  const left = killLeftChildren();
  if (left > 0) console.warn(`killed ${left} partwise process(es) the test left waiting at a crash point`);
});
