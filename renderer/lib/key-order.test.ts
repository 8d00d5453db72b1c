import { describe, expect, it } from 'vitest';
import { allIntegers, compareIntegerText, keyComparator, sortByKey } from './key-order';

describe('key order', () => {
  it('sorts integer keys as numbers, negative, zero and beyond 2^53 included', () => {
    const keys = ['1000', '2', '-5', '10', '0', '-40', '9007199254740993', '9007199254740992', '1999'];
    expect([...keys].sort(compareIntegerText)).toEqual([
      '-40',
      '-5',
      '0',
      '2',
      '10',
      '1000',
      '1999',
      '9007199254740992',
      '9007199254740993',
    ]);
  });

  it('treats leading zeros and -0 as the same number', () => {
    expect(compareIntegerText('007', '7')).toBe(0);
    expect(compareIntegerText('-0', '0')).toBe(0);
  });

  it('falls back to text order as soon as one key is not an integer', () => {
    expect(allIntegers(['1', '2', '3'])).toBe(true);
    expect(allIntegers(['1', '2.5'])).toBe(false);
    const compare = keyComparator(['10', '9', 'a9', 'a10', 'B']);
    expect(['10', '9', 'a9', 'a10', 'B'].sort(compare)).toEqual(['10', '9', 'B', 'a10', 'a9']);
  });

  it('orders items by key without touching the input', () => {
    const items = [{ key: '1000' }, { key: '2' }, { key: '1001' }, { key: '1' }];
    expect(sortByKey(items, (item) => item.key).map((item) => item.key)).toEqual(['1', '2', '1000', '1001']);
    expect(items[0]!.key).toBe('1000');
  });
});
