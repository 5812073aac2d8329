/**
 * A token bucket that may run into bounded debt. `reserve` charges the cost
 * at once and says how long the caller must wait before its tokens would
 * have existed; the broker delays the message by that much (the `slow`
 * policy), so a burst of messages in one socket read is paced at the rate
 * instead of all passing or all failing. A reservation that would wait
 * longer than `maxWaitMs` is refused and charges nothing.
 */
export class TokenBucket {
  private tokens: number;
  private updatedMs: number;

  constructor(private rate: number, private capacity: number, nowMs: number) {
    if (!(rate > 0) || !(capacity > 0)) throw new RangeError('token bucket: perSecond and burst must be positive');
    this.tokens = capacity;
    this.updatedMs = nowMs;
  }

  get perSecond(): number {
    return this.rate;
  }

  get burst(): number {
    return this.capacity;
  }

  /** New rate and burst from now on; tokens earned so far are kept, up to the new burst (debt stays debt). */
  retune(perSecond: number, burst: number, nowMs: number): void {
    if (!(perSecond > 0) || !(burst > 0)) throw new RangeError('token bucket: perSecond and burst must be positive');
    this.refill(nowMs);
    this.rate = perSecond;
    this.capacity = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  private refill(nowMs: number): void {
    if (nowMs > this.updatedMs) {
      this.tokens = Math.min(this.capacity, this.tokens + ((nowMs - this.updatedMs) * this.rate) / 1000);
      this.updatedMs = nowMs;
    }
  }

  /** Milliseconds to wait before `cost` tokens are available, or -1 when that is beyond maxWaitMs. */
  reserve(cost: number, nowMs: number, maxWaitMs: number): number {
    this.refill(nowMs);
    const after = this.tokens - cost;
    const waitMs = after >= 0 ? 0 : Math.ceil((-after * 1000) / this.rate);
    if (waitMs > maxWaitMs) return -1;
    this.tokens = after;
    return waitMs;
  }

  /** Gives back a reservation that was not used (another limit refused the message). */
  refund(cost: number): void {
    this.tokens = Math.min(this.capacity, this.tokens + cost);
  }

  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }
}
