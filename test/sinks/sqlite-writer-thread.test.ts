/** The SQLite writer thread through its shared ring: real thread, real database file. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { BatchingWriter } from '../../src/sinks/batching-writer.ts';
import { fromSqliteError } from '../../src/sinks/sink-errors.ts';
import { SqliteSink } from '../../src/sinks/sqlite-sink.ts';
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

describe('the SQLite sink over its writer thread, through the batching writer', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  /** Every writer thread the sink starts, so a test can end one the way a crash of the thread would. */
  function startedThreads(): SqliteWriterThread[] {
    const started: SqliteWriterThread[] = [];
    const start = SqliteWriterThread.start.bind(SqliteWriterThread);
    vi.spyOn(SqliteWriterThread, 'start').mockImplementation(async (options) => {
      const thread = await start(options);
      started.push(thread);
      return thread;
    });
    return started;
  }

  async function openSink(path: string): Promise<{ sink: SqliteSink; writer: BatchingWriter }> {
    const sink = new SqliteSink('default', { path, durability: 'fsync' });
    await sink.start();
    const writer = new BatchingWriter(sink, { maxBatchRecords: 64, maxBatchDelayMs: 0, maxPendingRecords: 10_000, retryInitialMs: 5, retryMaxMs: 20, pipelined: true });
    return { sink, writer };
  }

  test('a writer thread that dies is replaced by the next batch, and every write still resolves, stored exactly once', async () => {
    const threads = startedThreads();
    const path = freshDatabase();
    const { sink, writer } = await openSink(path);
    await Promise.all(Array.from({ length: 50 }, () => writer.write(record())));
    expect(threads).toHaveLength(1);

    // 200 in flight when the thread ends: those not committed come back retryable and are written again.
    const during = Array.from({ length: 200 }, () => writer.write(record()));
    await (threads[0] as unknown as { worker: Worker }).worker.terminate();
    const outcomes = await Promise.all(during);
    for (const o of outcomes) expect(['inserted', 'duplicate']).toContain(o);
    // Whether or not the death cut a batch off, the next one finds the thread dead and starts another.
    await expect(Promise.all(Array.from({ length: 30 }, () => writer.write(record())))).resolves.toHaveLength(30);
    expect(threads).toHaveLength(2);
    expect(threads[0]!.alive).toBe(false);
    expect(threads[1]!.alive).toBe(true);
    expect(count(path)).toBe(280);

    await writer.close();
    await sink.close();
    expect(threads[1]!.alive).toBe(false);
  });

  test('a batch larger than the ring is refused whole by the thread and committed record by record', async () => {
    const threads = startedThreads();
    const path = freshDatabase();
    const { sink, writer } = await openSink(path);
    // Ten 1 MiB records queued in one turn: one 10 MiB batch, over the ring's 8 MiB frame limit.
    const huge = Array.from({ length: 10 }, () => record({ ciphertext: Buffer.alloc(1024 * 1024, 7) }));
    const outcomes = await Promise.all(huge.map((r) => writer.write(r)));
    expect(outcomes).toEqual(huge.map(() => 'inserted'));
    expect(count(path)).toBe(10);
    expect(threads).toHaveLength(1);
    expect(threads[0]!.alive).toBe(true);
    await writer.close();
    await sink.close();
  });
});
