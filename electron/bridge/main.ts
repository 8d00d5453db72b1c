// `npm run web`: the backend of the desktop app behind a local web server, for
// machines without the Electron binary, headless hosts and the end-to-end
// tests. Runs until SIGINT, SIGTERM or SIGHUP, then closes pools and stops the Sandbox.
import { PARTWISE_VERSION } from '../version.js';
import { defaultDataDir } from './data-dir.js';
import { startBridge } from './server.js';

function portFromEnv(value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`PARTWISE_PORT must be a port number from 1 to 65535, not ${JSON.stringify(value)}.`);
  }
  return port;
}

async function main(): Promise<void> {
  const dataDir = defaultDataDir();
  const port = portFromEnv(process.env.PARTWISE_PORT);
  const bridge = await startBridge({
    dataDir,
    port,
    onLog: (line) => console.log(`[sandbox] ${line}`),
    onError: (error) => console.error('[partwise]', error instanceof Error ? (error.stack ?? error.message) : error),
  });
  console.log(`Partwise ${PARTWISE_VERSION} (browser bridge). Data directory: ${dataDir}`);
  console.log(
    'Passwords entered in the browser are kept in memory for this run only; ~/.pgpass and PGPASSWORD also work.',
  );
  console.log(`Partwise is running at ${bridge.url}`);
  console.log('Press Ctrl+C to stop.');

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.log(`${signal} again: exiting without waiting.`);
      process.exit(1);
    }
    stopping = true;
    console.log(`${signal}: stopping (closing connections, stopping the Sandbox)...`);
    bridge.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('Partwise did not stop cleanly:', error);
        process.exit(1);
      },
    );
  };
  // SIGHUP: the terminal closed. PostgreSQL takes SIGHUP as "reload", so without this the Sandbox would outlive us.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
}

main().catch((error: unknown) => {
  console.error(`Partwise could not start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
