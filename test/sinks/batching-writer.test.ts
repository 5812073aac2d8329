import { describe, expect, test } from 'vitest';
import { BatchingWriter, type BatchingWriterOptions } from '../../src/sinks/batching-writer.ts';
import { controlledSink, settled, sleep } from './controlled-sink.ts';
import { record } from './fixtures.ts';

const base: BatchingWriterOptions = { maxBatchRecords: 256, maxBatchDelayMs: 5, maxPendingRecords: 10_000, retryInitialMs: 5, retryMaxMs: 20 };

describe('BatchingWriter', () => {
  test('a full batch (N records) is committed at once, in one transaction', async () => {
    const c = await controlledSink();
    const writer = new BatchingWriter(c.sink, { ...base, maxBatchRecords: 4, maxBatchDelayMs: 60_000 });
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => writer.write(record())));
    expect(outcomes).toEqual(Array(8).fill('inserted'));
    expect(c.committedBatches).toEqual([4, 4]);
  });

  test('a partial batch is committed after maxBatchDelayMs, not before', async () => {
    const c = await controlledSink();
    const writer = new BatchingWriter(c.sink, { ...base, maxBatchDelayMs: 80 });
    const writes = [writer.write(record()), writer.write(record()), writer.write(record())];
    const state = settled(Promise.all(writes));
    await sleep(20);
    expect(state.done).toBe(false);
    expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(0);
    await Promise.all(writes);
    expect(c.committedBatches).toEqual([3]);
  });

  test('with no delay (the default), one event-loop turn makes one batch, and what arrives during a commit makes the next', async () => {
    const c = await controlledSink();
    let open!: () => void;
    c.gate = new Promise<void>((resolve) => { open = resolve; });
    const writer = new BatchingWriter(c.sink, { ...base, maxBatchDelayMs: 0 });
    const first = [writer.write(record()), writer.write(record()), writer.write(record())];
    await sleep(10); // the first batch is committing, held at the gate
    const second = Array.from({ length: 5 }, () => writer.write(record()));
    c.gate = undefined;
    open();
    await Promise.all([...first, ...second]);
    expect(c.committedBatches).toEqual([3, 5]);
  });

  test('write() resolves only after the commit, when the record is readable', async () => {
    const c = await controlledSink();
    let open!: () => void;
    c.gate = new Promise<void>((resolve) => { open = resolve; });
    const writer = new BatchingWriter(c.sink, base);
    const r = record();
    const seenAtResolve = writer.write(r).then(() => c.inner.countRecords({ tenantId: 'acme' }));
    const state = settled(seenAtResolve);
    await sleep(30);
    expect(state.done).toBe(false);
    expect(writer.state.pending).toBe(1);
    c.gate = undefined;
    open();
    expect(await seenAtResolve).toBe(1);
    expect(writer.state.pending).toBe(0);
  });

  test('outage: nothing resolves, memory stays bounded, backpressure is reported; recovery stores each record once', async () => {
    const c = await controlledSink();
    c.down = true;
    const signals: boolean[] = [];
    const writer = new BatchingWriter(c.sink, { ...base, maxBatchRecords: 4, maxPendingRecords: 10, onBackpressure: (on) => signals.push(on) });
    const records = Array.from({ length: 25 }, () => record());
    const writes = records.map((r) => writer.write(r));
    const state = settled(Promise.allSettled(writes));
    await sleep(100);
    expect(state.done).toBe(false);
    expect(writer.state).toMatchObject({ pending: 10, waiting: 15, healthy: false, backpressured: true, lastError: { code: 'TIQ_ERR_STORE_UNAVAILABLE' } });
    expect(writer.state.consecutiveFailures).toBeGreaterThan(1);
    expect(signals).toEqual([true]);
    expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(0);
    c.down = false;
    expect(await Promise.all(writes)).toEqual(Array(25).fill('inserted'));
    expect(writer.state).toMatchObject({ pending: 0, healthy: true, backpressured: false, consecutiveFailures: 0 });
    expect(signals).toEqual([true, false]);
    const stored = await c.inner.queryRecords({ tenantId: 'acme', limit: 100 });
    expect(stored.map((s) => s.recordId).sort()).toEqual(records.map((r) => r.recordId).sort());
  });

  test('a redelivered record resolves as a duplicate and is stored once', async () => {
    const c = await controlledSink();
    const writer = new BatchingWriter(c.sink, base);
    const r = record({ sequence: 424242 });
    expect(await writer.write(r)).toBe('inserted');
    expect(await writer.write({ ...r, recordId: crypto.randomUUID() })).toBe('duplicate');
    expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(1);
  });

  test('a record the sink refuses is rejected alone; its batch neighbours are stored', async () => {
    const c = await controlledSink();
    const writer = new BatchingWriter(c.sink, { ...base, maxBatchDelayMs: 20 });
    const good = [record(), record()];
    const results = await Promise.allSettled([writer.write(good[0]!), writer.write(record({ iv: Buffer.alloc(5) })), writer.write(good[1]!)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'TIQ_ERR_INTERNAL' });
    expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(2);
  });

  test('close() commits what it accepted; when the sink stays down it rejects (not acknowledged) after the timeout', async () => {
    const c = await controlledSink();
    const writer = new BatchingWriter(c.sink, base);
    const ok = writer.write(record());
    await writer.close(1000);
    expect(await ok).toBe('inserted');
    await expect(writer.write(record())).rejects.toMatchObject({ code: 'TIQ_ERR_SHUTTING_DOWN' });

    c.down = true;
    const stuck = new BatchingWriter(c.sink, base);
    const pending = stuck.write(record());
    await stuck.close(50);
    await expect(pending).rejects.toMatchObject({ code: 'TIQ_ERR_SHUTTING_DOWN' });
    expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(1);
  });
});
