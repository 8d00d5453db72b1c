// What every command handler gets: database pools by connection profile id,
// and a way to push events to whoever is listening (an Electron window or a
// browser bridge client). Handlers are plain functions: the same ones are
// bound to Electron IPC and to the bridge's WebSocket.
import type pg from 'pg';
import type { CommandName, CommandOutput, EventName, EventPayload, commands } from '../../shared/contract.js';
import type { z } from 'zod';

export interface PoolProvider {
  /**
   * The screens' pool of a saved connection profile, created on first use;
   * its statements stop after a timeout. Rejects with a PartwiseError for an
   * unknown id.
   */
  pool(connectionId: string): Promise<pg.Pool>;
  /** For work a user asked for and watches (maintenance, exact counts): no statement timeout. */
  workPool(connectionId: string): Promise<pg.Pool>;
  /** A pool of its own for one run with this many workers; the caller ends it when the run has ended. */
  runPool(connectionId: string, workers: number): Promise<RunPool>;
}

export interface RunPool {
  pool: pg.Pool;
  end(): Promise<void>;
}

export interface ServiceContext {
  pools: PoolProvider;
  emit<E extends EventName>(event: E, payload: EventPayload<E>): void;
  /** Registers work to finish before pools close when the app quits. */
  onShutdown(name: string, step: () => Promise<void>): void;
  /** Schema of Partwise's own objects in every database (default partwise). */
  installSchema: string;
  /** The desktop shell's save dialog (absent in the browser bridge): a chosen path, or null when cancelled. */
  chooseSavePath?: (suggestedName: string) => Promise<string | null>;
}

/** The validated input of a command, as its zod schema outputs it. */
export type HandlerInput<C extends CommandName> = z.output<(typeof commands)[C]['input']>;

export type CommandHandler<C extends CommandName> = (input: HandlerInput<C>) => Promise<CommandOutput<C>>;

export type CommandHandlers = { [C in CommandName]: CommandHandler<C> };

/** A group of handlers, e.g. everything about connections; all groups together must cover the contract. */
export type HandlerGroup<C extends CommandName> = { [K in C]: CommandHandler<K> };
