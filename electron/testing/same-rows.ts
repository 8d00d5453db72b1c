// Two row sources (tables, views, parenthesized subqueries with an alias)
// that must hold the same rows: what the application committed (a ledger)
// against where the rows ended up.
import { expect } from 'vitest';
import type { Queries } from './database.js';

export async function expectSameRows(db: Queries, left: string, right: string, columns: string): Promise<void> {
  // The first few of each, in order: enough to see what went wrong, the same ones every time.
  const missing = await db.query(
    `SELECT ${columns} FROM ${left} EXCEPT SELECT ${columns} FROM ${right} ORDER BY 1 LIMIT 5`,
  );
  const extra = await db.query(
    `SELECT ${columns} FROM ${right} EXCEPT SELECT ${columns} FROM ${left} ORDER BY 1 LIMIT 5`,
  );
  expect({ missing, extra }).toEqual({ missing: [], extra: [] });
}
