// All command handlers, composed from their groups. The connection group (which
// owns profiles, secrets, pools and the sandbox) is made by the shell that runs
// the backend (Electron main or the browser bridge), because where secrets live
// depends on it; everything else only needs pools and an event sink.
import type { CommandHandlers, HandlerGroup, ServiceContext } from './context.js';
import { catalogHandlers } from './catalog-handlers.js';
import { planHandlers } from './plan-handlers.js';
import { runHandlers } from './run-handlers.js';
import { explorerHandlers } from './explorer-handlers.js';
import { workloadHandlers } from './workload-handlers.js';
import { keysHandlers } from './keys-handlers.js';

export type ConnectionCommands =
  | 'app.info'
  | 'connections.list'
  | 'connections.save'
  | 'connections.delete'
  | 'connections.test'
  | 'connections.ping'
  | 'connections.services'
  | 'connections.importServices'
  | 'sandbox.start';

export type ConnectionHandlers = HandlerGroup<ConnectionCommands>;

export function createHandlers(context: ServiceContext, connections: ConnectionHandlers): CommandHandlers {
  return {
    ...connections,
    ...catalogHandlers(context),
    ...planHandlers(context),
    ...runHandlers(context),
    ...explorerHandlers(context),
    ...workloadHandlers(context),
    ...keysHandlers(context),
  };
}
