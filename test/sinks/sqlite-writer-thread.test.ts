/** The SQLite writer thread through its shared ring: real thread, real database file. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { fromSqliteError } from '../../src/sinks/sink-errors.ts';
import { openSqliteDatabase } from '../../src/sinks/sqlite-open.ts';
import { SqliteWriterThread } from '../../src/sinks/sqlite-worker-client.ts';
import { record } from './fixtures.ts';

function freshDatabase(): string {
  const path = join(mkdtempSync(join(tmpdir(), 'tiq-writer-thread-')), 'w.db');
  openSqliteDatabase({ path, durability: 'fsync', createSchema: true }).close();
  return path;
}

const count = (path: string): number => {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM tiq_records').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('SQLite writer thread', () => {
  test('batches written without waiting for each other all commit, in order, with per-record outcomes', async () => {
    const path = freshDatabase();
    const thread = await SqliteWriterThread.start({ path, durability: 'fsync' });
    const first = record();
    const batches = Array.from({ length: 40 }, (_, i) => (i === 25 ? [record(), { ...first, recordId: 'resend-of-first' }] : [record(), record(), record()]));
    batches[0]!.unshift(first);
    const results = await Promise.all(batches.map((b) => thread.write(b)));
    expect(results.map((r) => [...r])).toEqual(batches.map((b, i) => (i === 25 ? [1, 0] : b.map(() => 1))));
    expect(count(path)).toBe(batches.flat().length - 1);
    await thread.close();
  });

  test('a batch the database refuses fails alone; the batches committed with it are stored', async () => {
    const path = freshDatabase();
    const thread = await SqliteWriterThread.start({ path, durability: 'process' });
    const good = Array.from({ length: 10 }, () => [record(), record()]);
    // Violates the table's CHECK (length(iv) = 12): SQLite refuses the INSERT.
    const bad = [record(), record({ iv: Buffer.alloc(11) })];
    const writes = [...good.slice(0, 5), bad, ...good.slice(5)].map((b) => thread.write(b).then((o) => [...o], (e: { code?: string }) => e.code));
    const outcomes = await Promise.all(writes);
    expect(outcomes[5]).toMatch(/^SQLITE_CONSTRAINT/);
    expect(outcomes.filter((o) => Array.isArray(o))).toEqual(good.map(() => [1, 1]));
    expect(count(path)).toBe(20);
    await thread.close();
  });

  test('more than the ring holds waits for room and still commits everything, in order', async () => {
    const path = freshDatabase();
    const thread = await SqliteWriterThread.start({ path, durability: 'process' });
    // 48 batches of 512 KiB: three times the ring, so most wait for earlier COMMITs to free space.
    const big = Array.from({ length: 48 }, (_, i) => [record({ ciphertext: Buffer.alloc(512 * 1024, i) })]);
    const order: number[] = [];
    await Promise.all(big.map((b, i) => thread.write(b).then(() => order.push(i))));
    expect(order).toEqual(big.map((_, i) => i));
    expect(count(path)).toBe(48);
    await thread.close();
  });

  test('a batch larger than a ring frame is refused whole (nothing written), so the caller can split it', async () => {
    const path = freshDatabase();
    const thread = await SqliteWriterThread.start({ path, durability: 'process' });
    const huge = Array.from({ length: 10 }, () => record({ ciphertext: Buffer.alloc(1024 * 1024) }));
    await expect(thread.write(huge)).rejects.toBeInstanceOf(RangeError);
    expect(count(path)).toBe(0);
    await expect(thread.write(huge.slice(0, 1))).resolves.toEqual(new Uint8Array([1]));
    await thread.close();
  });

  test('close() commits every batch already written before the thread stops', async () => {
    const path = freshDatabase();
    const thread = await SqliteWriterThread.start({ path, durability: 'fsync' });
    const writes = Array.from({ length: 20 }, () => thread.write([record(), record()]));
    const closed = thread.close();
    await expect(Promise.all(writes)).resolves.toHaveLength(20);
    await closed;
    expect(thread.alive).toBe(false);
    expect(count(path)).toBe(40);
    await expect(thread.write([record()])).rejects.toThrow();
  });

  test('a thread that dies rejects every batch not yet committed, as retryable for the sink, and takes no more', async () => {
    const path = freshDatabase();
    const thread = await SqliteWriterThread.start({ path, durability: 'fsync' });
    const writes = Array.from({ length: 20 }, () => thread.write([record(), record()]).then(() => 'committed', (e: unknown) => e));
    await (thread as unknown as { worker: Worker }).worker.terminate();
    const outcomes = await Promise.all(writes);
    const failed = outcomes.filter((o) => o !== 'committed');
    expect(failed.length).toBeGreaterThan(0);
    for (const err of failed) expect(fromSqliteError(err, 'default').code).toBe('TIQ_ERR_STORE_UNAVAILABLE');
    // Everything reported committed is in the file. A COMMIT whose report the thread's death cut off may be
    // there too: that batch was rejected, so it is not acknowledged, and its resend is stored once (a duplicate).
    expect(count(path)).toBeGreaterThanOrEqual(2 * outcomes.filter((o) => o === 'committed').length);
    expect(thread.alive).toBe(false);
    await expect(thread.write([record()])).rejects.toThrow();
  });
});
