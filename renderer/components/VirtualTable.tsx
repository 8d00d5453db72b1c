// A sortable, keyboard-driven table that renders only the rows in view, for
// lists that run to tens of thousands of rows (tables of a big database,
// tracker rows). Header and body share one scroll container so that they
// scroll sideways together; the header sticks to the top.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef, useState, type CSSProperties, type KeyboardEvent, type ReactNode } from 'react';
import { Icon } from './Icon';
import './VirtualTable.css';

export interface Column<T> {
  id: string;
  header: string;
  /** A CSS grid track, e.g. `minmax(160px, 2fr)` or `110px`. */
  width: string;
  align?: 'left' | 'right';
  render(row: T): ReactNode;
  /** Makes the column sortable. */
  sortValue?(row: T): string | number;
  /** Orders two sort values when the default (numbers as numbers, text naturally) is not the right order. */
  compare?(a: string | number, b: string | number): number;
  headerTitle?: string;
}

export type SortDirection = 'asc' | 'desc';
export interface SortState {
  column: string;
  direction: SortDirection;
}

/**
 * Rows in sort order; a row with a parent (see `parentKey`) follows its
 * parent, in input order, whatever the sort, so that parts stay with their whole.
 */
export function sortRows<T>(
  rows: readonly T[],
  columns: readonly Column<T>[],
  sort: SortState | null,
  rowKey?: (row: T) => string,
  parentKey?: (row: T) => string | null,
): readonly T[] {
  if (!parentKey || !rowKey) return sortFlat(rows, columns, sort);
  const present = new Set(rows.map(rowKey));
  const children = new Map<string, T[]>();
  const top: T[] = [];
  for (const row of rows) {
    const parent = parentKey(row);
    if (parent !== null && present.has(parent)) children.set(parent, [...(children.get(parent) ?? []), row]);
    else top.push(row);
  }
  if (children.size === 0) return sortFlat(rows, columns, sort);
  return sortFlat(top, columns, sort).flatMap((row) => [row, ...(children.get(rowKey(row)) ?? [])]);
}

function sortFlat<T>(rows: readonly T[], columns: readonly Column<T>[], sort: SortState | null): readonly T[] {
  if (!sort) return rows;
  const column = columns.find((candidate) => candidate.id === sort.column);
  if (!column?.sortValue) return rows;
  const value = column.sortValue;
  const factor = sort.direction === 'asc' ? 1 : -1;
  const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
  // Decorate once: sortValue may do work, and Array.sort calls the comparator n log n times.
  const decorated = rows.map((row, index) => ({ row, index, key: value(row) }));
  decorated.sort((a, b) => {
    const order = column.compare
      ? column.compare(a.key, b.key)
      : typeof a.key === 'number' && typeof b.key === 'number'
        ? a.key - b.key
        : collator.compare(String(a.key), String(b.key));
    return order !== 0 ? order * factor : a.index - b.index;
  });
  return decorated.map((entry) => entry.row);
}

export interface VirtualTableProps<T> {
  rows: readonly T[];
  columns: readonly Column<T>[];
  rowKey(row: T): string;
  label: string;
  rowHeight?: number;
  initialSort?: SortState | null;
  selectedKey?: string | null;
  onActivate?(row: T): void;
  testId: string;
  rowTestId: string;
  /** Extra data-* attributes on each row, for tests (e.g. the key value). */
  rowData?(row: T): Record<string, string>;
  rowClassName?(row: T): string | undefined;
  /** Minimum width in px before the table scrolls sideways. */
  minWidth?: number;
  /** Rows that belong to another row (by its rowKey) and follow it in every order. */
  parentKey?(row: T): string | null;
  /** Grow with the rows up to this height (a CSS length) instead of filling the space given. */
  fitContent?: string;
}

export function VirtualTable<T>({
  rows,
  columns,
  rowKey,
  label,
  rowHeight = 30,
  initialSort = null,
  selectedKey = null,
  onActivate,
  testId,
  rowTestId,
  rowData,
  rowClassName,
  minWidth = 600,
  parentKey,
  fitContent,
}: VirtualTableProps<T>) {
  const [sort, setSort] = useState<SortState | null>(initialSort);
  const [active, setActive] = useState(0);
  const scrollRef = useRef<HTMLDivElement>(null);
  // rowKey matters only with parentKey: callers may pass a new function each render.
  const groupKey = parentKey ? rowKey : undefined;
  const sorted = useMemo(
    () => sortRows(rows, columns, sort, groupKey, parentKey),
    [rows, columns, sort, groupKey, parentKey],
  );
  const template = columns.map((column) => column.width).join(' ');
  const headerHeight = rowHeight + 2;

  // No React Compiler in this build; the virtualizer's functions are used during render only.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: sorted.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: 12,
    scrollMargin: headerHeight,
    scrollPaddingStart: headerHeight,
  });

  const activeIndex = Math.min(active, Math.max(sorted.length - 1, 0));
  const idPrefix = `${testId}-row-`;

  const toggleSort = (column: Column<T>) => {
    if (!column.sortValue) return;
    setSort((current) =>
      current?.column === column.id
        ? { column: column.id, direction: current.direction === 'asc' ? 'desc' : 'asc' }
        : { column: column.id, direction: column.align === 'right' ? 'desc' : 'asc' },
    );
  };

  const move = (index: number) => {
    const next = Math.min(Math.max(index, 0), sorted.length - 1);
    setActive(next);
    virtualizer.scrollToIndex(next, { align: 'auto' });
  };

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    if (sorted.length === 0) return;
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 300) / rowHeight) - 1);
    const target = rowForKey(event.key, activeIndex, page, sorted.length);
    if (target !== undefined) {
      event.preventDefault();
      move(target);
    } else if (event.key === 'Enter' && onActivate) {
      event.preventDefault();
      onActivate(sorted[activeIndex]!);
    }
  };

  return (
    <div
      className="vtable"
      ref={scrollRef}
      role="grid"
      aria-label={label}
      aria-rowcount={sorted.length + 1}
      aria-activedescendant={sorted.length > 0 ? `${idPrefix}${activeIndex}` : undefined}
      tabIndex={0}
      onKeyDown={onKeyDown}
      data-testid={testId}
      data-row-count={sorted.length}
      style={
        fitContent ? { height: `min(${headerHeight + sorted.length * rowHeight + 2}px, ${fitContent})` } : undefined
      }
    >
      <HeaderRow
        columns={columns}
        sort={sort}
        onSort={toggleSort}
        testId={testId}
        style={{ gridTemplateColumns: template, minWidth, height: headerHeight }}
      />
      <div className="vtable-body" style={{ height: virtualizer.getTotalSize(), minWidth }}>
        {virtualizer.getVirtualItems().map((item) => {
          const row = sorted[item.index]!;
          const key = rowKey(row);
          const classes = ['vtable-row'];
          if (item.index === activeIndex) classes.push('active');
          if (key === selectedKey) classes.push('selected');
          const extra = rowClassName?.(row);
          if (extra) classes.push(extra);
          return (
            <div
              key={key}
              id={`${idPrefix}${item.index}`}
              role="row"
              aria-rowindex={item.index + 2}
              aria-selected={key === selectedKey}
              className={classes.join(' ')}
              style={{
                gridTemplateColumns: template,
                height: rowHeight,
                transform: `translateY(${item.start - headerHeight}px)`,
              }}
              onClick={() => {
                setActive(item.index);
                onActivate?.(row);
              }}
              data-testid={rowTestId}
              {...dataAttributes(rowData?.(row))}
            >
              {columns.map((column) => (
                <div key={column.id} role="gridcell" className={cellClass(column)}>
                  {column.render(row)}
                </div>
              ))}
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** The row a navigation key moves to from `active` (`page` rows per page), or undefined for other keys. */
function rowForKey(key: string, active: number, page: number, count: number): number | undefined {
  const moves: Record<string, number> = {
    ArrowDown: active + 1,
    ArrowUp: active - 1,
    PageDown: active + page,
    PageUp: active - page,
    Home: 0,
    End: count - 1,
  };
  return key in moves ? moves[key] : undefined;
}

const cellClass = (column: Column<unknown>): string => (column.align === 'right' ? 'vtable-cell right' : 'vtable-cell');

function dataAttributes(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([name, value]) => [`data-${name}`, value]));
}

/** The sticky header: column titles, the sortable ones as buttons that show the current order. */
function HeaderRow<T>({
  columns,
  sort,
  onSort,
  testId,
  style,
}: {
  columns: readonly Column<T>[];
  sort: SortState | null;
  onSort(column: Column<T>): void;
  testId: string;
  style: CSSProperties;
}) {
  return (
    <div className="vtable-head" role="row" aria-rowindex={1} style={style}>
      {columns.map((column) => {
        const sorting = sort?.column === column.id ? sort.direction : null;
        return (
          <div
            key={column.id}
            role="columnheader"
            className={cellClass(column)}
            aria-sort={sorting === 'asc' ? 'ascending' : sorting === 'desc' ? 'descending' : undefined}
            title={column.headerTitle}
          >
            {column.sortValue ? (
              <button
                type="button"
                className="sort-button"
                onClick={() => onSort(column)}
                data-testid={`${testId}-sort-${column.id}`}
              >
                {column.header}
                {sorting && <Icon name="chevronDown" size={12} className={sorting === 'asc' ? 'flip' : undefined} />}
              </button>
            ) : (
              column.header
            )}
          </div>
        );
      })}
    </div>
  );
}
