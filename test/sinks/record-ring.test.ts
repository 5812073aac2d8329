import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createRingMemory, RingConsumer, RingProducer } from '../../src/sinks/record-ring.ts';

const payload = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (seed * 31 + i) & 0xff));
const write = (p: RingProducer, bytes: Buffer): boolean => p.tryWrite(bytes.length, (into) => bytes.copy(into));

describe('record ring (shared memory between the SQLite sink and its writer thread)', () => {
  test('frames come out whole and in the order written, across the end of the ring', () => {
    const memory = createRingMemory(256);
    const producer = new RingProducer(memory);
    const consumer = new RingConsumer(memory);
    const seen: string[] = [];
    for (let round = 0; round < 20; round++) {
      const frames = [payload(37, round), payload(50, round + 100)];
      for (const f of frames) expect(write(producer, f)).toBe(true);
      for (const f of consumer.takeAll()) seen.push(Buffer.from(f).toString('hex'));
      consumer.release();
      expect(seen.slice(-2)).toEqual(frames.map((f) => f.toString('hex')));
    }
  });

  test('a full ring refuses a frame until the consumer releases what it took', () => {
    const memory = createRingMemory(128);
    const producer = new RingProducer(memory);
    const consumer = new RingConsumer(memory);
    expect(write(producer, payload(50, 1))).toBe(true);
    expect(write(producer, payload(50, 2))).toBe(true);
    expect(write(producer, payload(20, 3))).toBe(false);
    expect(consumer.takeAll()).toHaveLength(2);
    // Taken but not released (the COMMIT has not returned): the payload is still in use.
    expect(write(producer, payload(20, 3))).toBe(false);
    consumer.release();
    expect(write(producer, payload(20, 3))).toBe(true);
    expect(Buffer.from(consumer.takeAll()[0]!)).toEqual(payload(20, 3));
  });

  test('a frame larger than half the ring is refused outright, and a fill that throws writes nothing', () => {
    const memory = createRingMemory(128);
    const producer = new RingProducer(memory);
    const consumer = new RingConsumer(memory);
    expect(() => producer.tryWrite(producer.maxPayloadBytes + 1, () => 0)).toThrow(RangeError);
    expect(() => producer.tryWrite(16, () => { throw new Error('encoding failed'); })).toThrow('encoding failed');
    expect(() => producer.tryWrite(16, () => 17)).toThrow(RangeError);
    expect(write(producer, payload(9, 4))).toBe(true);
    expect(consumer.takeAll().map((f) => Buffer.from(f))).toEqual([payload(9, 4)]);
  });

  test('after close, the consumer still gets every frame, then an empty list', () => {
    const memory = createRingMemory(256);
    const producer = new RingProducer(memory);
    const consumer = new RingConsumer(memory);
    write(producer, payload(10, 5));
    producer.close();
    expect(consumer.takeAll()).toHaveLength(1);
    consumer.release();
    expect(consumer.takeAll()).toEqual([]);
  });

  test('any interleaving of writes, takes and releases delivers exactly the accepted frames, in order', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.integer({ min: 0, max: 120 }).map((n) => ({ op: 'write' as const, n })), fc.constant({ op: 'take' as const, n: 0 })), { maxLength: 200 }),
      (ops) => {
        const memory = createRingMemory(256);
        const producer = new RingProducer(memory);
        const consumer = new RingConsumer(memory);
        const accepted: string[] = [];
        const received: string[] = [];
        const drain = (): void => {
          if (accepted.length === received.length) return;
          for (const f of consumer.takeAll()) received.push(Buffer.from(f).toString('hex'));
          consumer.release();
        };
        ops.forEach((o, i) => {
          if (o.op === 'take') return drain();
          const bytes = payload(o.n, i);
          if (write(producer, bytes)) accepted.push(bytes.toString('hex'));
          else {
            // Refused only when full: once drained, the same frame fits.
            drain();
            expect(write(producer, bytes)).toBe(true);
            accepted.push(bytes.toString('hex'));
          }
        });
        drain();
        expect(received).toEqual(accepted);
      },
    ), { numRuns: 300 });
  });
});
