// The browser bridge's WebSocket protocol: the same contract as Electron IPC,
// carried as JSON messages. The bridge listens on 127.0.0.1 only, checks the
// Origin and Host headers, and accepts a socket only with the per-launch token
// (query parameter `token` of the WebSocket URL, taken from the page URL's
// `#token=` fragment, which browsers never send to servers or in Referer).
import { z } from 'zod';
import { ResponseEnvelope } from './contract.js';

export const BRIDGE_WS_PATH = '/api';

export const ClientMessage = z.object({
  id: z.number().int().nonnegative(),
  command: z.string().max(100),
  input: z.unknown(),
});
export type ClientMessage = z.infer<typeof ClientMessage>;

export const ServerMessage = z.union([
  z.object({ kind: z.literal('response'), id: z.number().int(), response: ResponseEnvelope }),
  z.object({ kind: z.literal('event'), event: z.string(), payload: z.unknown() }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
