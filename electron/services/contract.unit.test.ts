// Every command of the contract has a handler, and every handler answers a
// command of the contract: nothing reachable that is not validated, nothing
// declared that nobody serves.
import { describe, expect, it } from 'vitest';
import { commands } from '../../shared/contract.js';
import { createHandlers, type ConnectionHandlers } from './handlers.js';
import type { ServiceContext } from './context.js';

describe('the contract and the handlers', () => {
  it('match one to one', () => {
    const context: ServiceContext = {
      pools: {
        pool: () => Promise.reject(new Error('no database in this test')),
        workPool: () => Promise.reject(new Error('no database in this test')),
        runPool: () => Promise.reject(new Error('no database in this test')),
      },
      emit: () => undefined,
      onShutdown: () => undefined,
      installSchema: 'partwise',
    };
    const fakeConnections = new Proxy({} as ConnectionHandlers, {
      get: () => async () => ({}),
      ownKeys: () => [],
      has: () => true,
    });
    const connectionNames: (keyof ConnectionHandlers)[] = [
      'app.info',
      'connections.list',
      'connections.save',
      'connections.delete',
      'connections.test',
      'connections.ping',
      'connections.services',
      'connections.importServices',
      'sandbox.start',
    ];
    const connections = Object.fromEntries(
      connectionNames.map((name) => [name, fakeConnections[name]]),
    ) as ConnectionHandlers;
    const handlers = createHandlers(context, connections);
    expect(Object.keys(handlers).sort()).toEqual(Object.keys(commands).sort());
    for (const handler of Object.values(handlers)) expect(typeof handler).toBe('function');
  });
});
