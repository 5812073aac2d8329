/**
 * The tallied metrics expose exactly what prom-client's own Counter and
 * Histogram would for the same increments and observations.
 */
import fc from 'fast-check';
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { TalliedCounter, TalliedHistogram } from '../../src/broker/tallies.ts';

const BUCKETS = [0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];

describe('tallied metrics', () => {
  it('a two-label counter renders as prom-client\'s, and keeps counting after a scrape', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('sensor', 'location', 'x'), fc.constantFrom('stored', 'dropped')), { maxLength: 60 }), async (incs) => {
      const ours = new Registry();
      const theirs = new Registry();
      const tallied = new TalliedCounter({ name: 'm_total', help: 'h', labelNames: ['stream', 'outcome'], registry: ours });
      const reference = new Counter({ name: 'm_total', help: 'h', labelNames: ['stream', 'outcome'], registers: [theirs] });
      const half = Math.floor(incs.length / 2);
      for (const [s, o] of incs.slice(0, half)) { tallied.inc(s, o); reference.inc({ stream: s, outcome: o }); }
      expect(await ours.metrics()).toBe(await theirs.metrics());
      for (const [s, o] of incs.slice(half)) { tallied.inc(s, o); reference.inc({ stream: s, outcome: o }); }
      expect(await ours.metrics()).toBe(await theirs.metrics());
    }), { numRuns: 50 });
  });

  it('a one-label counter and a histogram render as prom-client\'s', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.double({ min: 0, max: 10, noNaN: true })), { maxLength: 80 }), async (obs) => {
      const ours = new Registry();
      const theirs = new Registry();
      const c = new TalliedCounter({ name: 'd_total', help: 'deliveries', labelNames: ['tenant'], registry: ours });
      const h = new TalliedHistogram<'stream'>({ name: 'p_seconds', help: 'pipeline', buckets: BUCKETS, registry: ours });
      const rc = new Counter({ name: 'd_total', help: 'deliveries', labelNames: ['tenant'], registers: [theirs] });
      const rh = new Histogram({ name: 'p_seconds', help: 'pipeline', labelNames: ['stream'], buckets: BUCKETS, registers: [theirs] });
      for (const [label, v] of obs) {
        c.inc(label); rc.inc({ tenant: label });
        h.observe('stream', label, v); rh.observe({ stream: label }, v);
      }
      expect(await ours.metrics()).toBe(await theirs.metrics());
    }), { numRuns: 50 });
  });
});
