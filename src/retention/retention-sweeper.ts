/**
 * Runs retention in the gateway: once at start a reconcile (config may have
 * changed while it was down), then every intervalMs a refresh (rules and
 * holds another process changed) and a sweep. Runs never overlap.
 */
import type { RetentionLogger, RetentionService, SweepReport } from './retention-service.ts';

export interface RetentionSweeperOptions {
  readonly intervalMs: number;
  readonly logger?: RetentionLogger;
}

export class RetentionSweeper {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Whether the stored flags and tags follow the config: until a reconcile succeeds, a sweep could delete what a config hold keeps. */
  #reconciled = false;

  constructor(private readonly service: RetentionService, private readonly options: RetentionSweeperOptions) {}

  /** Resolves when the initial reconcile is done; the gateway need not wait for it. */
  start(): Promise<void> {
    clearInterval(this.#timer);
    const reconciled = this.enqueue(() => this.reconcile()).then(() => {}, () => {});
    this.#timer = setInterval(() => this.enqueue(() => this.tick()), this.options.intervalMs);
    // Retention must not keep the process alive on its own.
    this.#timer.unref();
    return reconciled;
  }

  private async tick(): Promise<SweepReport> {
    // A failed reconcile (storage down at start or at a reload) is retried before any sweep.
    if (this.#reconciled) await this.service.refresh();
    else await this.reconcile();
    return this.service.sweep();
  }

  private async reconcile(): Promise<{ retagged: number; flagged: number }> {
    this.#reconciled = false;
    const result = await this.service.reconcile();
    this.#reconciled = true;
    return result;
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#running.then(() => (this.#closed ? Promise.reject(new Error('sweeper closed')) : job()));
    this.#running = run.catch((err: unknown) => {
      if (!this.#closed) this.options.logger?.warn({ code: (err as { code?: string }).code ?? 'unknown' }, 'retention run failed; will retry next interval');
    });
    return run;
  }

  /** Re-tag and re-flag everything now (after any run in progress): device groups or retention config changed. */
  reconcileNow(): Promise<{ retagged: number; flagged: number }> {
    return this.enqueue(() => this.reconcile());
  }

  /** Runs a job in the sweeper's queue (after any run in progress, never overlapping one). */
  run<T>(job: () => Promise<T>): Promise<T> {
    return this.enqueue(job);
  }

  /** Refresh and sweep now (after any run in progress). */
  sweepNow(): Promise<SweepReport> {
    return this.enqueue(() => this.tick());
  }

  /**
   * No more periodic runs until start() (another cluster node leads the
   * sweeps now). A run in progress finishes its current batch; queued
   * change applications still run: they are idempotent.
   */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#closed = true;
    await this.#running;
  }
}
