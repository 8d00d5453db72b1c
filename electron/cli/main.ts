// partwise: the migration engine from a terminal or a script.
//
// Connection: --url (a URL or "service=NAME"), PGSERVICE and pg_service.conf,
// libpq's environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD,
// PGSSLMODE, PGSSLROOTCERT...) and ~/.pgpass, as psql reads them; --ssh for a
// tunnel through a bastion (see connection.ts).
// Exit status: 0 on success; 1 with a one-line reason on failure; 2 for bad usage.
//
// This entry parses the command line and prints the help with nothing else
// loaded; the commands (the engine, pg, zod) are in commands.ts, imported only
// once a known command is given: the build splits it into its own chunk, so that
// `partwise --help` and bad usage start about as fast as Node itself.
import { parseCommandLine, UsageError } from './args.js';
import { PartwiseError } from '../db/errors.js';
import { USAGE } from './usage.js';

const COMMANDS = [
  'plan',
  'migrate',
  'status',
  'verify',
  'resume',
  'pause',
  'continue',
  'rollback',
  'finalize',
  'maintain',
  'refresh',
  'install',
  'key',
];

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv);
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const arity = command === 'key' ? 2 : 1;
  if (positionals.length > arity) throw new UsageError(`unexpected argument "${positionals[arity]}"`);
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command "${command}"`);
  const { runCommand } = await import('./commands.js');
  return await runCommand(command, positionals, values);
}

export async function run(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`partwise: ${error.message}\nRun "partwise --help" for usage.\n`);
      return 2;
    }
    const wrapped = PartwiseError.from(error);
    process.stderr.write(
      `partwise: ${wrapped.message.split('\n')[0]}${wrapped.hint ? ` (${wrapped.hint.split('\n')[0]})` : ''}\n`,
    );
    return 1;
  }
}
