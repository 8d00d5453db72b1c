import { beforeEach, describe, expect, it } from 'vitest';
import { addTarget, useTargets } from './targets';

const target = (table: string, keyColumn = 'customer_id', bucketLimit = 1000) => ({
  schema: 'public',
  table,
  keyColumn,
  bucketLimit,
});

describe('run target queue', () => {
  beforeEach(() => useTargets.setState({ byConnection: {} }));

  it('adds tables in order and replaces a table added again', () => {
    let queue = addTarget([], target('orders'));
    queue = addTarget(queue, target('invoices'));
    queue = addTarget(queue, target('orders', 'module_id', 500));
    expect(queue).toEqual([target('orders', 'module_id', 500), target('invoices')]);
  });

  it('keeps one queue per connection and removes by table', () => {
    const { add, remove, clear } = useTargets.getState();
    add('a', target('orders'));
    add('a', target('invoices'));
    add('b', target('events'));
    remove('a', 'public', 'orders');
    expect(useTargets.getState().byConnection.a).toEqual([target('invoices')]);
    expect(useTargets.getState().byConnection.b).toEqual([target('events')]);
    clear('b');
    expect(useTargets.getState().byConnection.b).toEqual([]);
  });
});
