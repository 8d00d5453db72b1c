// Everything a shell (the Electron main process or the browser bridge) runs
// behind its transport: the connection group, every other handler group, one
// dispatcher, and an event fan-out. The shell binds `dispatch` to its
// transport and `subscribe` to its windows or sockets.
import { writingCommands, type EventName, type EventPayload } from '../../shared/contract.js';
import type { ConnectionProfile } from '../../shared/connection.js';
import { PartwiseError } from '../db/errors.js';
import type { ServiceContext } from '../services/context.js';
import type { ConnectionTarget } from '../db/connect.js';
import type { CommandHandlers } from '../services/context.js';
import { createDispatcher, type Dispatch } from '../services/dispatch.js';
import { createHandlers } from '../services/handlers.js';
import { DEFAULT_SCHEMA } from '../install/install.js';
import { connectionFailure } from '../connections/connection-errors.js';
import {
  createConnectionHandlers,
  type ConnectionHandlerOptions,
  type ConnectionService,
} from '../connections/connection-handlers.js';

export type EventListener = (event: EventName, payload: unknown) => void;

export interface Backend {
  dispatch: Dispatch;
  /** Receives every event a handler emits; returns the unsubscribe function. */
  subscribe(listener: EventListener): () => void;
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void;
  connections: ConnectionService;
  /**
   * Runs the shutdown steps handlers registered (ServiceContext.onShutdown;
   * the run handlers bring running migrations to a resumable point), then
   * ends pools and stops the Sandbox.
   */
  close(): Promise<void>;
}

export interface BackendOptions extends ConnectionHandlerOptions {
  /** Unexpected errors (kind `internal`) of any command, and failures of shutdown steps. */
  onError?: (error: unknown) => void;
  /** The shell's save dialog, where it has one (Electron's; a browser page cannot give a path on this machine). */
  chooseSavePath?: ServiceContext['chooseSavePath'];
}

export function createBackend(options: BackendOptions): Backend {
  const listeners = new Set<EventListener>();
  const shutdownSteps: Array<{ name: string; step: () => Promise<void> }> = [];
  const connections = createConnectionHandlers(options);

  const emit = <E extends EventName>(event: E, payload: EventPayload<E>): void => {
    for (const listener of listeners) {
      try {
        listener(event, payload);
      } catch (error) {
        options.onError?.(error); // one broken window or socket must not starve the others
      }
    }
  };

  const context: ServiceContext = {
    pools: connections.pools,
    emit,
    onShutdown: (name, step) => shutdownSteps.push({ name, step }),
    installSchema: DEFAULT_SCHEMA,
    chooseSavePath: options.chooseSavePath,
  };
  const handlers = withPlainConnectionErrors(
    withReadOnlyProfiles(createHandlers(context, connections.handlers), connections.profile),
    connections.target,
  );
  const dispatch = createDispatcher(handlers, options.onError);
  let closing: Promise<void> | undefined;

  return {
    dispatch,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    emit,
    connections,
    close() {
      closing ??= (async () => {
        for (const { name, step } of shutdownSteps) {
          try {
            await step();
          } catch (error) {
            options.onError?.(new Error(`Shutdown step "${name}" failed: ${String(error)}`, { cause: error }));
          }
        }
        listeners.clear();
        await connections.close();
      })();
      return closing;
    },
  };
}

/**
 * Every command that works on a connection fails in plain words, naming the
 * server, when the failure is reaching it or logging in (see connection-errors).
 */
function withPlainConnectionErrors(
  handlers: CommandHandlers,
  targetOf: (connectionId: string) => Promise<ConnectionTarget | undefined>,
): CommandHandlers {
  const wrapped: Record<string, (input: unknown) => Promise<unknown>> = {};
  for (const [command, handler] of Object.entries(handlers) as Array<[string, (input: unknown) => Promise<unknown>]>) {
    wrapped[command] = async (input) => {
      try {
        return await handler(input);
      } catch (error) {
        const connectionId = (input as { connectionId?: unknown } | undefined)?.connectionId;
        if (typeof connectionId !== 'string') throw error;
        const target = await targetOf(connectionId).catch(() => undefined);
        throw (target && connectionFailure(error, target)) ?? error;
      }
    };
  }
  return wrapped as CommandHandlers;
}

/**
 * A read-only profile refuses every command that writes, here in the main
 * process whatever the renderer shows (its sessions also run with
 * default_transaction_read_only, so the server refuses what slips through).
 */
function withReadOnlyProfiles(
  handlers: CommandHandlers,
  profileOf: (connectionId: string) => Promise<ConnectionProfile | undefined>,
): CommandHandlers {
  const wrapped = { ...handlers } as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  for (const command of writingCommands) {
    const handler = handlers[command] as (input: unknown) => Promise<unknown>;
    wrapped[command] = async (input) => {
      const { connectionId } = input as { connectionId: string };
      const profile = await profileOf(connectionId);
      if (profile?.readOnly) {
        throw new PartwiseError(
          'blocked',
          `The connection "${profile.name}" is read-only: ${command} writes to the database and is refused.`,
          {
            hint: 'Edit the connection and turn off Read-only to allow changes.',
          },
        );
      }
      return handler(input);
    };
  }
  return wrapped as CommandHandlers;
}
