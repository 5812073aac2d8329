/**
 * One PostgreSQL transaction on a pooled connection: `begin` (with whatever
 * it sets), the work, COMMIT; ROLLBACK on any failure (its own error is
 * ignored: the connection is released either way and the pool discards a
 * broken one).
 */
import type pg from 'pg';

export async function inTransaction<T>(pool: pg.Pool, work: (c: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query(begin);
    const out = await work(c);
    await c.query('COMMIT');
    return out;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
