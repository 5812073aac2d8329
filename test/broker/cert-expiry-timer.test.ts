/**
 * The expiry timer of one session, on a simulated clock: a certificate valid
 * for months is waited for in steps no longer than setTimeout's maximum
 * (Node turns a longer delay into 1 ms), fires once just past notAfter, and
 * never fires for a connection that closed.
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, watchExpiry } from '../../src/broker/cert-expiry.ts';

const DAY = 86_400_000;

describe('session expiry timer', () => {
  beforeEach(() => { vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') }); });
  afterEach(() => { vi.useRealTimers(); });

  it('waits months in steps no longer than 2^31-1 ms and fires once, just past notAfter', () => {
    const delays: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    const spy = vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms: number) => {
      delays.push(ms);
      return realSetTimeout(fn, ms);
    }) as typeof setTimeout);
    const notAfter = Date.now() + 90 * DAY;
    const onExpired = vi.fn();
    watchExpiry(new EventEmitter(), notAfter, () => Date.now(), onExpired);
    expect(delays).toEqual([MAX_TIMER_MS]);
    vi.advanceTimersByTime(89 * DAY);
    expect(onExpired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(DAY);
    expect(onExpired).not.toHaveBeenCalled(); // valid through notAfter (RFC 5280 §4.1.2.5)
    vi.advanceTimersByTime(1);
    expect(onExpired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(DAY);
    expect(onExpired).toHaveBeenCalledTimes(1);
    expect(Math.max(...delays)).toBeLessThanOrEqual(MAX_TIMER_MS);
    expect(delays.length).toBeLessThan(10);
    spy.mockRestore();
  });

  it('does not fire once the connection has closed', () => {
    const conn = new EventEmitter();
    const onExpired = vi.fn();
    watchExpiry(conn, Date.now() + 5000, () => Date.now(), onExpired);
    conn.emit('close');
    vi.advanceTimersByTime(10_000);
    expect(onExpired).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });
});
