// Two row sources (tables, views, parenthesized subqueries with an alias)
// that must hold the same rows: what the application committed (a ledger)
// against where the rows ended up.
import { expect } from 'vitest';
import type { Queries } from './database.js';

export async function expectSameRows(db: Queries, left: string, right: string, columns: string): Promise<void> {
  const missing = await db.query(`SELECT ${columns} FROM ${left} EXCEPT SELECT ${columns} FROM ${right} LIMIT 5`);
  const extra = await db.query(`SELECT ${columns} FROM ${right} EXCEPT SELECT ${columns} FROM ${left} LIMIT 5`);
  expect({ missing, extra }).toEqual({ missing: [], extra: [] });
}
