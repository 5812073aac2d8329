/**
 * The writer's oldest pending record, which holds a replay's horizon back:
 * records queued, in a commit held by the sink, retried while it is down, or
 * waiting for room all count until they are committed.
 */
import { describe, expect, test } from 'vitest';
import { BatchingWriter } from '../../src/sinks/batching-writer.ts';
import { controlledSink, sleep } from './controlled-sink.ts';
import { record, T0 } from './fixtures.ts';

const base = { maxBatchRecords: 2, maxBatchDelayMs: 0, maxPendingRecords: 3, retryInitialMs: 10, retryMaxMs: 20 };

describe('BatchingWriter.oldestPendingReceivedAtMs', () => {
  test('covers queued, in-flight, retried and waiting records until they commit', async () => {
    const c = await controlledSink();
    const writer = new BatchingWriter(c.sink, base);
    expect(writer.oldestPendingReceivedAtMs()).toBeUndefined();
    c.down = true;
    // Received out of order: the oldest is among those still waiting for room.
    const writes = [T0 + 5, T0 + 6, T0 + 7, T0 + 1, T0 + 3].map((ms, i) => writer.write(record({ receivedAtMs: ms, sequence: 500 + i })));
    await sleep(30);
    // Two in the retried batch, one queued, two waiting for room: all pending.
    expect(writer.state.pending).toBe(3);
    expect(writer.oldestPendingReceivedAtMs()).toBe(T0 + 1);
    let open: () => void = () => undefined;
    c.gate = new Promise<void>((r) => { open = r; });
    c.down = false;
    await sleep(30);
    // The batch being committed (T0+5, T0+6) still counts; the waiting ones have moved to the queue.
    expect(writer.oldestPendingReceivedAtMs()).toBe(T0 + 1);
    c.gate = undefined;
    open();
    await Promise.all(writes);
    expect(writer.oldestPendingReceivedAtMs()).toBeUndefined();
    await writer.close();
    await c.inner.close();
  });
});
