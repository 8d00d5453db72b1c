// The commands of `partwise` (see main.ts, the entry that parses the command
// line and imports this module once a known command is given).
import readline from 'node:readline/promises';
import type pg from 'pg';
import { classifyConnectError, connectPool, connectTimeoutMs, tunnelFor } from '../db/connect.js';
import { PartwiseError } from '../db/errors.js';
import { relationExists } from '../db/sql.js';
import { defaultKnownHostsFile, TunnelError } from '../db/ssh-tunnel.js';
import { cliConnection } from './connection.js';
import type { ConnectionTarget } from '../db/connect.js';
import { blockers, connectionsForRun, DEFAULT_WORKERS, MAX_WORKERS, type MigrationTarget } from '../../shared/plan.js';
import { parseTableName } from '../../shared/identifiers.js';
import { parseSize, Throttle } from '../../shared/throttle.js';
import type { RunEvent } from '../../shared/progress.js';
import { DEFAULT_SCHEMA, install, validateSchemaName } from '../install/install.js';
import {
  finalize,
  findManagedTable,
  Journal,
  maintainTable,
  migrate,
  pauseRun,
  planMigration,
  refreshRouting,
  resume,
  rollback,
  verifyRun,
  type EngineOptions,
  type RunOutcome,
} from '../engine/index.js';
import { Reporter } from '../engine/reporter.js';
import { accessProblem, partwiseAccess } from '../engine/partwise-access.js';
import { formatPlan } from './plan-text.js';
import { keyCommand, KeyUsageError, parseKeyCommand, type KeyCommand } from './key-command.js';
import { formatKeyHistory } from './key-text.js';
import { keyActionHistory } from '../engine/keys/history.js';
import { timingLines } from './timings.js';
import { createRenderer } from './render.js';
import { parseUniqueness, targetFromArgs, targetsFromFile } from './targets.js';
import { integerOption, UsageError, type Values } from './args.js';

function runOption(values: Values): number {
  if (values.run === undefined) throw new UsageError('--run N is required (see "partwise status")');
  return integerOption(values.run, 'run', 0, 1, Number.MAX_SAFE_INTEGER);
}

function targets(values: Values): MigrationTarget[] {
  if (values.config && values.table) throw new UsageError('use either --config or --table, not both');
  if (values.config && values.unique)
    throw new UsageError('--unique goes with --table; in a --config file, give each target a "uniqueness"');
  const listed = values.config
    ? targetsFromFile(values.config)
    : [
        targetFromArgs(
          values.table,
          values.key,
          values['bucket-limit'],
          parseUniqueness(values.unique ?? [], '--unique'),
        ),
      ];
  const shareBelow = shareBelowOption(values['share-below']);
  // One threshold from the command line for every target, or each target's
  // own from the file: both at once would leave one of them silently unused.
  const ownThreshold = listed.find((t) => t.shareBelow !== undefined);
  if (shareBelow !== undefined && ownThreshold)
    throw new UsageError(
      `--share-below sets every target's threshold, and ${values.config} gives ${ownThreshold.schema}.${ownThreshold.table} its own "shareBelow": use one or the other`,
    );
  return listed.map((t) => ({
    ...t,
    ...(values['accept-keyless'] ? { acceptKeylessQueries: true } : {}),
    ...(shareBelow !== undefined ? { shareBelow } : {}),
  }));
}

/** --share-below ROWS: a whole number of rows, 1 or more. */
function shareBelowOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(
      `--share-below must be a whole number of rows, 1 or more (keys with fewer rows share the pool of small keys), got "${value}"`,
    );
  }
  return Number(value);
}

function keyCommandOf(action: string | undefined, values: Values): KeyCommand {
  try {
    return parseKeyCommand(action, values);
  } catch (error) {
    throw error instanceof KeyUsageError ? new UsageError(error.message) : error;
  }
}

async function confirm(question: string, values: Values): Promise<void> {
  if (values.yes) return;
  if (!process.stdin.isTTY) throw new UsageError(`${question} Add --yes to run without a terminal.`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${question} [y/N] `);
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new PartwiseError('cancelled', 'Nothing done.');
}

/** --max-rate, --max-standby-lag and --slot, checked as the app's start command checks them. */
function throttleOptions(values: Values, command: string): Throttle {
  const given = (['max-rate', 'max-standby-lag', 'slot'] as const).filter((name) => values[name] !== undefined);
  if (given.length === 0) return {};
  if (command !== 'migrate' && command !== 'resume') {
    throw new UsageError(`--${given[0]} applies to migrate and resume only`);
  }
  const rate = values['max-rate'];
  if (rate !== undefined && !/^\d+(\.\d+)?$/.test(rate)) {
    throw new UsageError(`--max-rate must be megabytes per second, such as 50 or 2.5, got "${rate}"`);
  }
  const lag = values['max-standby-lag'];
  const lagBytes = lag === undefined ? undefined : parseSize(lag);
  if (lagBytes === null) throw new UsageError(`--max-standby-lag must be a size such as 8MB or 1GB, got "${lag}"`);
  const parsed = Throttle.safeParse({
    maxRateMBps: rate === undefined ? undefined : Number(rate),
    maxStandbyLagBytes: lagBytes,
    slot: values.slot,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const flag = { maxRateMBps: '--max-rate', maxStandbyLagBytes: '--max-standby-lag', slot: '--slot' }[
      String(issue.path[0]) as keyof Throttle
    ];
    const why =
      issue.path[0] === 'slot' && values['max-standby-lag'] === undefined
        ? 'needs --max-standby-lag (the bound to hold its lag under)'
        : issue.path[0] === 'slot'
          ? 'must be a slot name: lower-case letters, digits and underscores'
          : issue.path[0] === 'maxStandbyLagBytes'
            ? 'must be from 64kB to 1PB'
            : 'must be more than 0 and at most 100000';
    throw new UsageError(`${flag} ${why}, got "${values[flag!.slice(2) as 'slot']}"`);
  }
  return parsed.data;
}

function engineOptions(values: Values, onEvent: (event: RunEvent) => void, signal: AbortSignal): EngineOptions {
  return {
    installSchema: validateSchemaName(values.schema ?? DEFAULT_SCHEMA),
    workers: integerOption(values.workers, 'workers', DEFAULT_WORKERS, 1, MAX_WORKERS),
    throttle: throttleOptions(values, 'migrate'),
    lock: { lockTimeoutMs: integerOption(values['lock-timeout'], 'lock-timeout', 1000, 10, 600_000) },
    onEvent,
    signal,
  };
}

async function withRun(
  values: Values,
  pool: pg.Pool,
  work: (opts: EngineOptions) => Promise<RunOutcome>,
): Promise<number> {
  const renderer = createRenderer(values.json ? 'json' : process.stdout.isTTY ? 'tty' : 'plain');
  const controller = new AbortController();
  const onSignal = (): void => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\nCancelling (rolls back; press Ctrl+C again to quit at once)...\n');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await work(engineOptions(values, (e) => renderer.event(e), controller.signal));
    renderer.done();
    if (values.json) {
      const { runId, status, message } = outcome;
      process.stdout.write(`${JSON.stringify({ outcome: { runId, status, message } })}\n`);
    }
    const ok =
      outcome.status === 'succeeded' ||
      outcome.status === 'finalized' ||
      (outcome.status === 'rolled_back' && !outcome.error);
    // The one-line reason, last, where scripts look for it.
    if (!ok && !values.json) process.stderr.write(`partwise: ${outcome.message.split('\n')[0]}\n`);
    return ok ? 0 : 1;
  } finally {
    renderer.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Runs a known command whose arguments main.ts has parsed. */
export async function runCommand(command: string, positionals: string[], values: Values): Promise<number> {
  const installSchema = validateSchemaName(values.schema ?? DEFAULT_SCHEMA);
  const workers = integerOption(values.workers, 'workers', DEFAULT_WORKERS, 1, MAX_WORKERS);
  throttleOptions(values, command);
  // Validate what can be validated before connecting.
  const planned = command === 'plan' || command === 'migrate' ? targets(values) : [];
  const keyHistory = command === 'key' && positionals[1] === 'history';
  const keyAction = command === 'key' && !keyHistory ? keyCommandOf(positionals[1], values) : null;
  const connection = cliConnection({
    url: values.url,
    ssh: values.ssh,
    sshKey: values['ssh-key'],
    sshHostKey: values['ssh-host-key'],
  });
  const tunnel = tunnelFor(
    connection.target,
    connection.sshSecret,
    values['ssh-known-hosts'] ?? defaultKnownHostsFile(),
  );
  let pool: pg.Pool;
  try {
    pool = await connectPool(
      connection.target,
      connection.password,
      { tunnel, sslPassword: connection.sslPassword },
      { max: connectionsForRun(workers) },
    );
  } catch (error) {
    await tunnel?.close();
    throw connectionError(error, connection.target);
  }
  try {
    // Say what the role lacks and who can grant it, before a statement fails
    // with "permission denied for table migration_target". (The plan reports
    // it as a blocker, among the others.)
    const need =
      command === 'status' || keyHistory
        ? 'read'
        : command === 'plan' || command === 'migrate' || command === 'install'
          ? null
          : 'run';
    const problem = need ? accessProblem(await partwiseAccess(pool, installSchema), need) : null;
    if (problem) throw new PartwiseError('privilege', problem.message, { hint: problem.fix });
    switch (command) {
      case 'plan': {
        const client = await pool.connect();
        try {
          const plans = [];
          for (const target of planned)
            plans.push(
              await planMigration(client, target, {
                counting: values.exact ? 'exact' : 'auto',
                installSchema,
                ddlKeyLimit: values.ddl ? 100_000 : 25,
              }),
            );
          process.stdout.write(
            values.json
              ? `${JSON.stringify(plans, null, 2)}\n`
              : `${plans.map((p) => formatPlan(p, { ddl: values.ddl ?? false })).join('\n\n')}\n`,
          );
          return plans.some((p) => blockers(p).length > 0) ? 1 : 0;
        } finally {
          client.release();
        }
      }
      case 'migrate': {
        const client = await pool.connect();
        let plans;
        try {
          plans = [];
          for (const target of planned)
            plans.push(
              await planMigration(client, target, { counting: values.exact ? 'exact' : 'auto', installSchema }),
            );
        } finally {
          client.release();
        }
        const blocked = plans.filter((p) => blockers(p).length > 0);
        if (blocked.length > 0) {
          if (!values.json) process.stderr.write(`${blocked.map((p) => formatPlan(p, { ddl: false })).join('\n\n')}\n`);
          const first = blocked[0]!;
          throw new PartwiseError(
            'blocked',
            `${first.target.schema}.${first.target.table} cannot be migrated: ${blockers(first)[0]!.message}`,
            { hint: blockers(first)[0]!.fix },
          );
        }
        if (!values.json && !values.yes)
          process.stderr.write(`${plans.map((p) => formatPlan(p, { ddl: false })).join('\n\n')}\n\n`);
        await confirm(`Migrate ${planned.map((t) => `${t.schema}.${t.table}`).join(', ')}?`, values);
        return await withRun(values, pool, (opts) => migrate(pool, planned, opts));
      }
      case 'resume': {
        const runId = runOption(values);
        await confirm(`Resume run ${runId}?`, values);
        return await withRun(values, pool, (opts) => resume(pool, runId, opts));
      }
      case 'rollback': {
        const runId = runOption(values);
        await confirm(
          `Roll back run ${runId}? Its tables return to their original form, with every row written since.`,
          values,
        );
        return await withRun(values, pool, (opts) => rollback(pool, runId, opts));
      }
      case 'finalize': {
        const runId = runOption(values);
        await confirm(
          `Finalize run ${runId}? Its backup tables are dropped and it can no longer be rolled back.`,
          values,
        );
        return await withRun(values, pool, (opts) => finalize(pool, runId, opts));
      }
      case 'pause':
      case 'continue': {
        const runId = runOption(values);
        await pauseRun(pool, runId, command === 'pause', { installSchema });
        const message =
          command === 'pause'
            ? `Run ${runId} is held: its copy and index work waits (holding no snapshot) until "partwise continue --run ${runId}"`
            : `Run ${runId} goes on`;
        process.stdout.write(
          values.json ? `${JSON.stringify({ runId, paused: command === 'pause' })}\n` : `${message}\n`,
        );
        return 0;
      }
      case 'verify': {
        const runId = runOption(values);
        return await withRun(values, pool, (opts) => verifyRun(pool, runId, opts));
      }
      case 'status':
        return await status(pool, installSchema, values);
      case 'key':
        if (keyHistory) return await keyHistoryCommand(pool, installSchema, values);
        return await keyCommand(
          pool,
          installSchema,
          keyAction!,
          values,
          (question) => confirm(question, values),
          integerOption(values['lock-timeout'], 'lock-timeout', 1000, 10, 600_000),
        );
      case 'install':
        return await installSql(pool, installSchema, values);
      case 'maintain':
      case 'refresh': {
        if (!values.table) throw new UsageError(`--table is required for ${command}`);
        const table = parseTableName(values.table);
        const config = await findManagedTable(pool, installSchema, table);
        if (command === 'refresh') {
          await refreshRouting(pool, installSchema, config.configId);
          process.stdout.write(
            values.json
              ? `${JSON.stringify({ refreshed: `${config.schema}.${config.table}` })}\n`
              : `Routing view of ${config.schema}.${config.table} rebuilt from ${config.partitionedTable}.\n`,
          );
          return 0;
        }
        const ahead = values.ahead === undefined ? 0.8 : Number(values.ahead);
        if (!Number.isFinite(ahead) || ahead < 0 || ahead > 1)
          throw new UsageError(`--ahead must be a number from 0 to 1, got "${values.ahead}"`);
        const renderer = createRenderer(values.json ? 'json' : process.stdout.isTTY ? 'tty' : 'plain');
        const report = await maintainTable(pool, config.configId, {
          installSchema,
          ahead,
          reporter: new Reporter(0, (e) => renderer.event(e), null),
        });
        renderer.done();
        if (values.json) process.stdout.write(`${JSON.stringify(report)}\n`);
        else {
          process.stdout.write(
            `Checked ${report.keysChecked} keys of ${config.schema}.${config.table}: ${report.findings.length} findings\n`,
          );
          for (const f of report.findings)
            process.stdout.write(
              `  ${f.kind.padEnd(15)} ${f.keyValue === null ? 'pool' : `key ${f.keyValue}`}${f.bucketId !== null ? ` bucket ${f.bucketId}` : ''}: ${f.detail}\n`,
            );
        }
        return report.findings.some((f) => f.kind === 'over_full' || f.kind === 'missing_leaf') ? 1 : 0;
      }
    }
    return 2;
  } catch (error) {
    throw connectionError(error, connection.target);
  } finally {
    await pool.end().catch(() => undefined);
    await tunnel?.close();
  }
}

/**
 * A failure of the tunnel or of a TLS check, in the words the app uses (which
 * check, which bastion); anything else as it is.
 */
function connectionError(error: unknown, target: ConnectionTarget): unknown {
  if (error instanceof TunnelError && error.hostKey) {
    return new PartwiseError('connection', error.message, {
      hint: `once checked, pass --ssh-host-key ${error.hostKey.fingerprint}, or add the key to ~/.ssh/known_hosts`,
    });
  }
  if (error instanceof TunnelError) return new PartwiseError('connection', error.message, { cause: error });
  const classified = classifyConnectError(error, target, connectTimeoutMs(target));
  return classified.failure === 'ssl' ? new PartwiseError('connection', classified.message, { cause: error }) : error;
}

async function status(pool: pg.Pool, installSchema: string, values: Values): Promise<number> {
  const runs = (await relationExists(pool, installSchema, 'migration_run'))
    ? await new Journal(installSchema).listRuns(pool)
    : [];
  const shown = values.run ? runs.filter((r) => r.runId === runOption(values)) : runs;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
    return 0;
  }
  if (shown.length === 0) {
    process.stdout.write(values.run ? `No run ${values.run}.\n` : 'No migration runs in this database.\n');
    return values.run ? 1 : 0;
  }
  for (const run of shown) {
    const next = run.canResume
      ? '  -> partwise resume/rollback --run ' + run.runId
      : run.rollingBack && run.canRollback
        ? '  -> partwise rollback --run ' + run.runId + ' (continues the rollback)'
        : run.canFinalize
          ? '  -> partwise finalize (or rollback) --run ' + run.runId
          : '';
    const status = run.rollingBack && run.status !== 'rolled_back' ? `${run.status} in rollback` : run.status;
    process.stdout.write(
      `run ${run.runId}  ${status.padEnd(11)} started ${run.startedAt.replace('T', ' ').slice(0, 19)}${next}\n`,
    );
    for (const t of run.targets) {
      const rows =
        t.rowsTotal !== null
          ? ` ${t.rowsCopied.toLocaleString('en-US')}/${t.rowsTotal.toLocaleString('en-US')} rows`
          : '';
      process.stdout.write(
        `    ${t.schema}.${t.table} by ${t.keyColumn} (limit ${t.bucketLimit}): ${t.status}, phase ${t.phase}${rows}${t.error ? ` - ${t.error}` : ''}\n`,
      );
    }
    if (values.run) for (const line of timingLines(run)) process.stdout.write(`${line}\n`);
  }
  return 0;
}

/** `partwise key history [--table T]`: the newest actions on keys, of every managed table or of one. */
async function keyHistoryCommand(pool: pg.Pool, installSchema: string, values: Values): Promise<number> {
  let entries = await keyActionHistory(pool, installSchema);
  if (values.table) {
    const config = await findManagedTable(pool, installSchema, parseTableName(values.table));
    entries = entries.filter((e) => e.configId === config.configId);
  }
  process.stdout.write(values.json ? `${JSON.stringify(entries, null, 2)}\n` : `${formatKeyHistory(entries)}\n`);
  return 0;
}

async function installSql(pool: pg.Pool, schema: string, values: { json?: boolean }): Promise<number> {
  const client = await pool.connect();
  try {
    const result = await install(client, schema);
    if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      const from = result.previousVersion ? `over ${result.previousVersion}` : 'new';
      const applied = result.appliedMigrations.length > 0 ? `; applied ${result.appliedMigrations.join(', ')}` : '';
      const functions = result.functionsReplaced ? '; functions re-created' : '; already current';
      process.stdout.write(
        `Partwise ${result.version} installed in schema ${schema} (${from}${applied}${functions})\n`,
      );
    }
    return 0;
  } finally {
    client.release();
  }
}
