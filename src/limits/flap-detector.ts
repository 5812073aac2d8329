/**
 * Flapping detection: an identity that connects more than `maxConnects`
 * times within `windowMs` is refused for a back-off that doubles on every
 * repeat offence (up to `maxBackoffMs`) and is forgotten after a quiet
 * period. Attempts during a back-off are refused without counting, so the
 * back-off ends on time. Memory is bounded: at most `maxTracked` identities,
 * the least recently seen forgotten first.
 */
export interface FlapSettings {
  readonly maxConnects: number;
  readonly windowMs: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxTracked: number;
}

interface Track {
  /** Connect times inside the window, oldest first (at most maxConnects + 1). */
  times: number[];
  offences: number;
  blockedUntilMs: number;
  lastSeenMs: number;
}

export type FlapVerdict = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number; readonly offences: number };

export class FlapDetector {
  private readonly tracks = new Map<string, Track>();

  constructor(private readonly s: FlapSettings) {}

  attempt(key: string, nowMs: number): FlapVerdict {
    const t = this.track(key, nowMs);
    if (nowMs < t.blockedUntilMs) return { ok: false, retryAfterMs: t.blockedUntilMs - nowMs, offences: t.offences };
    // An identity quiet for a whole back-off at its current level starts over.
    if (t.offences > 0 && nowMs - t.lastSeenMs > Math.max(this.backoff(t.offences), this.s.windowMs)) t.offences = 0;
    t.lastSeenMs = nowMs;
    t.times.push(nowMs);
    while (t.times.length > 0 && t.times[0]! <= nowMs - this.s.windowMs) t.times.shift();
    if (t.times.length <= this.s.maxConnects) return { ok: true };
    t.offences++;
    t.times = [];
    const backoff = this.backoff(t.offences);
    t.blockedUntilMs = nowMs + backoff;
    return { ok: false, retryAfterMs: backoff, offences: t.offences };
  }

  get tracked(): number {
    return this.tracks.size;
  }

  private backoff(offences: number): number {
    return Math.min(this.s.maxBackoffMs, this.s.backoffMs * 2 ** Math.min(offences - 1, 30));
  }

  private track(key: string, nowMs: number): Track {
    let t = this.tracks.get(key);
    if (t) {
      this.tracks.delete(key); // re-insert: Map order is recency order
    } else {
      t = { times: [], offences: 0, blockedUntilMs: 0, lastSeenMs: nowMs };
      if (this.tracks.size >= this.s.maxTracked) {
        const oldest = this.tracks.keys().next();
        if (!oldest.done) this.tracks.delete(oldest.value);
      }
    }
    this.tracks.set(key, t);
    return t;
  }
}
