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

  describe('pipelined (a sink that commits batches in the order given, like the SQLite writer thread)', () => {
    test('a batch leaves every turn while earlier ones commit; each resolves after its own commit', async () => {
      const c = await controlledSink();
      let open!: () => void;
      c.gate = new Promise<void>((resolve) => { open = resolve; });
      const calls: number[] = [];
      const sink = Object.assign(Object.create(c.sink) as typeof c.sink, {
        writeBatch: (records: Parameters<typeof c.sink.writeBatch>[0]) => { calls.push(records.length); return c.sink.writeBatch(records); },
      });
      const writer = new BatchingWriter(sink, { ...base, maxBatchDelayMs: 0, pipelined: true });
      const first = [writer.write(record({ receivedAtMs: 1_000 })), writer.write(record({ receivedAtMs: 2_000 }))];
      await sleep(10);
      const second = Array.from({ length: 4 }, () => writer.write(record({ receivedAtMs: 3_000 })));
      await sleep(10);
      // Both batches are with the sink before the first commit returned (unpipelined, the second would wait).
      expect(calls).toEqual([2, 4]);
      expect(writer.state.pending).toBe(6);
      expect(writer.oldestPendingReceivedAtMs()).toBe(1_000);
      const flushed = settled(writer.flush());
      await sleep(10);
      expect(flushed.done).toBe(false);
      c.gate = undefined;
      open();
      expect(await Promise.all([...first, ...second])).toEqual(Array(6).fill('inserted'));
      await writer.flush();
      expect(writer.state.pending).toBe(0);
      expect(writer.oldestPendingReceivedAtMs()).toBeUndefined();
      expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(6);
    });

    test('an outage holds every batch in flight, each retried until the sink is back; nothing is lost or stored twice', async () => {
      const c = await controlledSink();
      c.down = true;
      const writer = new BatchingWriter(c.sink, { ...base, maxBatchDelayMs: 0, pipelined: true });
      const writes: Promise<unknown>[] = [];
      for (let turn = 0; turn < 5; turn++) {
        writes.push(writer.write(record()), writer.write(record()));
        await sleep(5);
      }
      const all = settled(Promise.all(writes));
      await sleep(40);
      expect(all.done).toBe(false);
      expect(writer.state.healthy).toBe(false);
      expect(writer.state.pending).toBe(10);
      c.down = false;
      expect(await Promise.all(writes)).toEqual(Array(10).fill('inserted'));
      expect(writer.state.healthy).toBe(true);
      expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(10);
    });

    test('close() waits for every batch in flight, and aborts all of them together when the sink stays down', async () => {
      const c = await controlledSink();
      const writer = new BatchingWriter(c.sink, { ...base, maxBatchDelayMs: 0, pipelined: true });
      const stored = [writer.write(record()), writer.write(record())];
      await writer.close();
      expect(await Promise.all(stored)).toEqual(['inserted', 'inserted']);
      const stuck = new BatchingWriter(c.sink, { ...base, maxBatchDelayMs: 0, pipelined: true });
      c.down = true;
      const held: Promise<unknown>[] = [];
      for (let turn = 0; turn < 3; turn++) {
        held.push(stuck.write(record()));
        await sleep(5);
      }
      await stuck.close(50);
      for (const p of held) await expect(p).rejects.toMatchObject({ code: 'TIQ_ERR_SHUTTING_DOWN' });
      expect(await c.inner.countRecords({ tenantId: 'acme' })).toBe(2);
    });
  });
});
