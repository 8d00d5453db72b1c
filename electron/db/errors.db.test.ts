// What a person reads when the server ends a statement: a screen's query cut
// off by its statement timeout says why, from a real server's error.
import { describe, expect, it } from 'vitest';
import { PartwiseError } from './errors.js';
import { useTestDatabase } from '../testing/database.js';

const db = useTestDatabase('errors');

describe('errors from the server', () => {
  it('explains a statement timeout, naming the lock wait it usually is', async () => {
    await db.query('CREATE TABLE held (id int)');
    const locker = await db.connect();
    const waiter = await db.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE held IN ACCESS EXCLUSIVE MODE');
      await waiter.query(`SET statement_timeout = '200ms'`);
      const error = PartwiseError.from(await waiter.query('SELECT count(*) FROM held').catch((e: unknown) => e));
      expect(error).toMatchObject({ kind: 'cancelled', sqlstate: '57014' });
      expect(error.message).toBe('canceling statement due to statement timeout');
      expect(error.hint).toMatch(
        /^The query ran longer than statement_timeout allows: .* waits for a lock another session holds/,
      );
    } finally {
      await locker.end();
      await waiter.end();
    }
  });
});
