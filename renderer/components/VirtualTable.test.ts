import { describe, expect, it } from 'vitest';
import { sortRows, type Column } from './VirtualTable';

interface Row {
  name: string;
  size: number;
}
const columns: Column<Row>[] = [
  { id: 'name', header: 'Name', width: '1fr', render: (r) => r.name, sortValue: (r) => r.name },
  { id: 'size', header: 'Size', width: '1fr', render: (r) => r.size, sortValue: (r) => r.size },
  { id: 'plain', header: 'Plain', width: '1fr', render: () => '' },
];
const rows: Row[] = [
  { name: 'part_10', size: 5 },
  { name: 'part_9', size: 50 },
  { name: 'Part_2', size: 5 },
];

describe('sortRows', () => {
  it('sorts numbers numerically, both ways, keeping ties in input order', () => {
    expect(sortRows(rows, columns, { column: 'size', direction: 'desc' }).map((r) => r.name)).toEqual([
      'part_9',
      'part_10',
      'Part_2',
    ]);
    expect(sortRows(rows, columns, { column: 'size', direction: 'asc' }).map((r) => r.name)).toEqual([
      'part_10',
      'Part_2',
      'part_9',
    ]);
  });
  it('sorts text naturally and without regard to case', () => {
    expect(sortRows(rows, columns, { column: 'name', direction: 'asc' }).map((r) => r.name)).toEqual([
      'Part_2',
      'part_9',
      'part_10',
    ]);
  });
  it('leaves rows alone without a sortable column', () => {
    expect(sortRows(rows, columns, null)).toBe(rows);
    expect(sortRows(rows, columns, { column: 'plain', direction: 'asc' })).toBe(rows);
  });
  it('keeps rows with a parent right after it, in input order, whatever the sort', () => {
    type Part = Row & { parent: string | null };
    const family: Part[] = [
      { name: 'orders_backup', size: 40, parent: 'orders' },
      { name: 'small', size: 1, parent: null },
      { name: 'orders_partitioned', size: 60, parent: 'orders' },
      { name: 'orders', size: 60, parent: null },
      { name: 'big', size: 100, parent: null },
      { name: 'orphan', size: 70, parent: 'gone' },
    ];
    const order = (direction: 'asc' | 'desc') =>
      sortRows<Part>(
        family,
        columns,
        { column: 'size', direction },
        (r) => r.name,
        (r) => r.parent,
      ).map((r) => r.name);
    expect(order('desc')).toEqual(['big', 'orphan', 'orders', 'orders_backup', 'orders_partitioned', 'small']);
    expect(order('asc')).toEqual(['small', 'orders', 'orders_backup', 'orders_partitioned', 'orphan', 'big']);
  });
});
