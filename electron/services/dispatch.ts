// The single entry point for commands from the renderer, whatever the
// transport: it rejects unknown commands, validates the payload against the
// contract (so a malformed request gets a clear error, never a crash), runs
// the handler, validates what it returns, and wraps errors for the UI.
import { commands, type CommandName, type ResponseEnvelope } from '../../shared/contract.js';
import { PartwiseError } from '../db/errors.js';
import type { CommandHandlers } from './context.js';

export type Dispatch = (command: unknown, payload: unknown) => Promise<ResponseEnvelope>;

function isCommandName(value: unknown): value is CommandName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(commands, value);
}

export function createDispatcher(handlers: CommandHandlers, onError?: (error: unknown) => void): Dispatch {
  return async (command, payload) => {
    try {
      if (!isCommandName(command)) {
        throw new PartwiseError('invalid_input', `Unknown command ${JSON.stringify(String(command)).slice(0, 80)}`);
      }
      const schema = commands[command];
      const parsed = schema.input.safeParse(payload ?? {});
      if (!parsed.success) {
        const problems = parsed.error.issues
          .slice(0, 5)
          .map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`)
          .join('; ');
        throw new PartwiseError('invalid_input', `Invalid input for ${command}: ${problems}`);
      }
      const handler = handlers[command] as (input: unknown) => Promise<unknown>;
      const result = schema.output.parse(await handler(parsed.data));
      return { ok: true, result };
    } catch (error) {
      const wrapped = PartwiseError.from(error);
      if (wrapped.kind === 'internal') onError?.(error);
      return { ok: false, error: wrapped.toInfo() };
    }
  };
}
