/**
 * Folds repeated audit events into one entry per source and interval, so a
 * flood (failed authentication, a client retrying the same refused call)
 * can neither fill the disk nor slow the gateway: the first event of a key
 * in an interval is written at once, the rest are counted, and when the
 * interval ends one summary entry records how many there were
 * (`repeated=N`). Every event still counts in a metric (`onEvent`).
 */
import type { AuditEntry, AuditInput } from './audit-entry.ts';

export interface AggregationOptions {
  /** Length of one interval; default one minute. */
  readonly intervalMs?: number;
  /** Distinct keys tracked at once; beyond it events share one overflow key. */
  readonly maxKeys?: number;
}

interface Window { readonly input: AuditInput; readonly start: number; repeated: number }

const OVERFLOW_KEY = '(overflow)';

export class AuditAggregator {
  /** Called for every event recorded, written or folded (the counter metric). */
  onEvent: ((input: AuditInput) => void) | undefined;
  private readonly windows = new Map<string, Window>();
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly commit: (input: AuditInput) => Promise<AuditEntry>, options: AggregationOptions = {}, private readonly now: () => number = Date.now) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 1000;
  }

  /** Records one event under `key` (e.g. source address and verb); resolves once any entry it caused is on disk. */
  async record(key: string, input: AuditInput): Promise<void> {
    this.onEvent?.(input);
    const k = this.windows.has(key) || this.windows.size < this.maxKeys ? key : OVERFLOW_KEY;
    const w = this.windows.get(k);
    const t = this.now();
    if (w && t - w.start < this.intervalMs) {
      w.repeated++;
      return;
    }
    if (w) await this.summarize(k, w);
    this.windows.set(k, { input: k === OVERFLOW_KEY ? { ...input, actor: 'various', target: '-' } : input, start: t, repeated: 0 });
    this.timer ??= setInterval(() => void this.sweep().catch(() => undefined), this.intervalMs).unref();
    await this.commit(input);
  }

  /** Writes the summary of every interval that has ended (and of all of them when `all`). */
  async sweep(all = false): Promise<void> {
    const t = this.now();
    const done: Promise<void>[] = [];
    for (const [k, w] of this.windows) if (all || t - w.start >= this.intervalMs) done.push(this.summarize(k, w));
    await Promise.all(done);
    if (this.windows.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Flushes every pending summary and stops the timer (gateway shutdown). */
  async close(): Promise<void> {
    await this.sweep(true);
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async summarize(key: string, w: Window): Promise<void> {
    this.windows.delete(key);
    if (w.repeated === 0) return;
    const detail = [w.input.detail, `repeated=${w.repeated}`, `since=${new Date(w.start).toISOString()}`].filter(Boolean).join(' ');
    await this.commit({ ...w.input, detail });
  }
}

/** Counts events per key in fixed windows: `hit` says whether the key is still within `limit` in its window. */
export class WindowCounter {
  private readonly counts = new Map<string, { start: number; n: number }>();

  constructor(private readonly limit: number, private readonly windowMs: number, private readonly now: () => number = Date.now) {}

  hit(key: string): boolean {
    const t = this.now();
    let c = this.counts.get(key);
    if (!c || t - c.start >= this.windowMs) {
      if (this.counts.size >= 10_000) this.prune(t);
      c = { start: t, n: 0 };
      this.counts.set(key, c);
    }
    c.n++;
    return c.n <= this.limit;
  }

  private prune(t: number): void {
    for (const [k, c] of this.counts) if (t - c.start >= this.windowMs) this.counts.delete(k);
  }
}
