import { describe, expect, it } from 'vitest';
import { displayTableName, parseTableName } from './identifiers.js';

describe('parseTableName', () => {
  it('reads plain, qualified and quoted names', () => {
    expect(parseTableName('orders')).toEqual({ schema: 'public', name: 'orders' });
    expect(parseTableName('Sales.Orders')).toEqual({ schema: 'sales', name: 'orders' });
    expect(parseTableName('"My Schema"."My Table"')).toEqual({ schema: 'My Schema', name: 'My Table' });
    expect(parseTableName('"a""b".c')).toEqual({ schema: 'a"b', name: 'c' });
    expect(parseTableName('"x.y"')).toEqual({ schema: 'public', name: 'x.y' });
  });

  it('refuses malformed names with a reason', () => {
    expect(() => parseTableName('')).toThrow('table name is empty');
    expect(() => parseTableName('a.b.c')).toThrow('too many dots');
    expect(() => parseTableName('"open')).toThrow('unterminated quoted identifier');
    expect(() => parseTableName('my table')).toThrow('is not a valid unquoted identifier');
    expect(() => parseTableName('orders;drop')).toThrow('is not a valid unquoted identifier');
    expect(() => parseTableName('a.')).toThrow('ends with a dot');
  });

  it('displays names quoted only when needed', () => {
    expect(displayTableName({ schema: 'public', name: 'orders' })).toBe('public.orders');
    expect(displayTableName({ schema: 'My Schema', name: 'a"b' })).toBe('"My Schema"."a""b"');
  });
});
