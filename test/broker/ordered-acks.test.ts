/** The hot path's ordering and admission pieces, without sockets. */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { OrderedCompletions, type Completion } from '../../src/broker/ordered-acks.ts';
import { PublishGate } from '../../src/broker/publish-gate.ts';

describe('OrderedCompletions (PUBACK order, [MQTT-4.6.0-2])', () => {
  test('whatever order the outcomes arrive in, they fire in the order the places were taken', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }))), ([n, settleOrder]) => {
      const order = new OrderedCompletions();
      const fired: number[] = [];
      const places: Completion[] = Array.from({ length: n }, (_, i) => ({ settled: false, fire: () => fired.push(i) }));
      for (const p of places) order.enqueue(p);
      for (const i of settleOrder) {
        order.settle(places[i]!);
        // Nothing fires past the first place still waiting.
        const firstWaiting = places.findIndex((p) => !p.settled);
        expect(fired).toEqual([...Array(firstWaiting === -1 ? n : firstWaiting).keys()]);
      }
      expect(order.pending).toBe(0);
    }), { numRuns: 200 });
  });

  test('reserve() and ticket places share one line', () => {
    const order = new OrderedCompletions();
    const fired: string[] = [];
    const ticket: Completion = { settled: false, fire: () => fired.push('ticket') };
    const first = order.reserve();
    order.enqueue(ticket);
    const third = order.reserve();
    third(() => fired.push('third'));
    order.settle(ticket);
    expect(fired).toEqual([]);
    first(() => fired.push('first'));
    expect(fired).toEqual(['first', 'ticket', 'third']);
  });
});

describe('PublishGate (pending publishes per client)', () => {
  test('runs up to maxRunning at once, queues up to maxWaiting, refuses the rest, and hands a freed slot to the next in line', async () => {
    const gate = new PublishGate(2, 1);
    const ran: string[] = [];
    const work = (name: string) => ({ run: () => { ran.push(name); } });
    expect(gate.enter(work('a'))).toBe(true);
    expect(gate.enter(work('b'))).toBe(true);
    expect(gate.enter(work('c'))).toBe(true);
    expect(gate.enter(work('d'))).toBe(false);
    expect(ran).toEqual(['a', 'b']);
    expect(gate.load).toEqual({ running: 2, waiting: 1 });
    gate.leave();
    // The waiting work starts on a fresh stack, not inside leave().
    expect(ran).toEqual(['a', 'b']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toEqual(['a', 'b', 'c']);
    expect(gate.load).toEqual({ running: 2, waiting: 0 });
    gate.leave();
    gate.leave();
    expect(gate.load).toEqual({ running: 0, waiting: 0 });
  });
});
