/**
 * Group commit in front of one sink: records are collected up to
 * maxBatchRecords or maxBatchDelayMs, written in one transaction, and each
 * write() resolves only after that transaction committed. The caller sends
 * the PUBACK on resolution, so nothing is acknowledged that is not stored.
 *
 * When the sink fails, the batch is retried with exponential backoff and the
 * promises stay pending. At most maxPendingRecords wait for a commit; further
 * writes wait for room (`backpressured`), so the integrator pauses reading
 * from publishers rather than growing memory.
 */
import { TiqError, toTiqError } from '../errors.ts';
import type { SealedRecord } from '../records/message.ts';
import { assertStorableRecord } from './record-row.ts';
import type { BatchingConfig } from '../config/sinks-config.ts';
import type { RecordOutcome, StorageSink } from './storage-sink.ts';

export type WriteOutcome = RecordOutcome;

export interface WriterState {
  /** Records accepted and not yet committed (queued plus in flight). */
  readonly pending: number;
  /** write() calls waiting for room. */
  readonly waiting: number;
  readonly healthy: boolean;
  readonly backpressured: boolean;
  readonly consecutiveFailures: number;
  readonly lastError: { readonly code: string; readonly atMs: number } | undefined;
  readonly committedBatches: number;
}

/** pino-compatible subset; fields only, never payloads. */
export interface WriterLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
}

export interface BatchingWriterOptions extends Omit<BatchingConfig, 'maxPendingRecords'> {
  readonly maxPendingRecords: number;
  readonly logger?: WriterLogger;
  /** Called when backpressure starts (true) or ends (false): pause or resume reading from publishers. */
  readonly onBackpressure?: (active: boolean) => void;
  /** Called after each committed batch with its size and how long the commit took (for metrics). */
  readonly onCommit?: (records: number, seconds: number) => void;
  /**
   * The sink commits batches in the order given and may be handed the next
   * one before the last resolved (StorageSink.pipelinedWrites): a batch then
   * leaves every turn of the event loop instead of after the previous COMMIT,
   * so the sink is never idle while records wait for it.
   */
  readonly pipelined?: boolean;
}

interface Entry {
  readonly record: SealedRecord;
  readonly resolve: (outcome: WriteOutcome) => void;
  readonly reject: (err: TiqError) => void;
}

export class BatchingWriter {
  readonly #queue: Entry[] = [];
  readonly #roomWaiters: (() => void)[] = [];
  /** Records whose write waits for room (not queued yet): still pending for oldestPendingReceivedAtMs. */
  readonly #waitingRecords = new Set<SealedRecord>();
  /** Records handed to the sink and not settled yet, over every batch in flight. */
  #inFlight = 0;
  readonly #inFlightBatches = new Set<readonly Entry[]>();
  readonly #commits = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #closing = false;
  #aborted = false;
  readonly #wakeRetry = new Set<() => void>();
  #backpressured = false;
  #healthy = true;
  #failures = 0;
  #lastError: WriterState['lastError'];
  #committed = 0;

  constructor(readonly sink: StorageSink, private readonly options: BatchingWriterOptions) {
    // Fail fast: a zero or missing bound would spin or grow without limit.
    for (const key of ['maxBatchRecords', 'maxPendingRecords', 'retryInitialMs', 'retryMaxMs'] as const) {
      if (!Number.isInteger(options[key]) || options[key] < 1) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`storage.batching.${key}: a positive integer`] });
    }
    if (!Number.isInteger(options.maxBatchDelayMs) || options.maxBatchDelayMs < 0) {
      throw new TiqError('TIQ_ERR_CONFIG', { problems: ['storage.batching.maxBatchDelayMs: a non-negative integer'] });
    }
  }

  get state(): WriterState {
    return {
      pending: this.#queue.length + this.#inFlight, waiting: this.#roomWaiters.length, healthy: this.#healthy,
      backpressured: this.#backpressured, consecutiveFailures: this.#failures, lastError: this.#lastError,
      committedBatches: this.#committed,
    };
  }

  /**
   * The earliest receivedAtMs of the records accepted and not yet committed or
   * refused (queued, in flight, waiting for room), or undefined when none is.
   * Replay reads only below it: such a record may still land before a cursor.
   */
  oldestPendingReceivedAtMs(): number | undefined {
    let oldest: number | undefined;
    const see = (ms: number) => { if (oldest === undefined || ms < oldest) oldest = ms; };
    for (const e of this.#queue) see(e.record.receivedAtMs);
    for (const batch of this.#inFlightBatches) for (const e of batch) see(e.record.receivedAtMs);
    for (const r of this.#waitingRecords) see(r.receivedAtMs);
    return oldest;
  }

  /**
   * Resolves once the record is committed ('inserted') or known to be stored already ('duplicate').
   * Not async: with room in the queue this is one promise per record, no more (it runs per message).
   */
  write(record: SealedRecord): Promise<WriteOutcome> {
    if (this.#closing) return Promise.reject(new TiqError('TIQ_ERR_SHUTTING_DOWN', { sink: this.sink.name }));
    try {
      assertStorableRecord(record);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#queue.length + this.#inFlight >= this.options.maxPendingRecords) return this.writeWhenRoom(record);
    return this.enqueue(record);
  }

  private async writeWhenRoom(record: SealedRecord): Promise<WriteOutcome> {
    this.#waitingRecords.add(record);
    try {
      while (this.#queue.length + this.#inFlight >= this.options.maxPendingRecords) {
        this.setBackpressure(true);
        await new Promise<void>((resolve) => this.#roomWaiters.push(resolve));
        if (this.#closing) throw new TiqError('TIQ_ERR_SHUTTING_DOWN', { sink: this.sink.name });
      }
    } finally {
      this.#waitingRecords.delete(record);
    }
    return this.enqueue(record);
  }

  private enqueue(record: SealedRecord): Promise<WriteOutcome> {
    return new Promise<WriteOutcome>((resolve, reject) => {
      this.#queue.push({ record, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Group commit. With maxBatchDelayMs 0 (the default) a batch starts once the
   * current turn of the event loop is over, so every record of the socket
   * reads in that turn joins it, and records that arrive while it commits form
   * the next one: batches grow with load, and an idle gateway adds no delay.
   * A positive value waits that long for companions instead.
   */
  private schedule(): void {
    // One batch at a time unless pipelined: the running commit starts the next when it ends.
    if (!this.options.pipelined && this.#inFlightBatches.size > 0) return;
    if (this.#queue.length >= this.options.maxBatchRecords) {
      this.startDrain();
    } else if (this.#timer || this.#immediate) {
      // a batch is already due
    } else if (this.options.maxBatchDelayMs === 0) {
      this.#immediate = setImmediate(() => this.startDrain());
    } else {
      this.#timer = setTimeout(() => this.startDrain(), this.options.maxBatchDelayMs);
    }
  }

  private startDrain(): void {
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    if (!this.options.pipelined && this.#inFlightBatches.size > 0) return;
    while (this.#queue.length > 0) {
      this.launch(this.#queue.splice(0, this.options.maxBatchRecords));
      if (!this.options.pipelined) return;
    }
  }

  /**
   * Hands one batch to the sink. Unpipelined, batches commit one after
   * another, so resolutions keep arrival order ([MQTT-4.6.0-2]); records that
   * queued during a commit have waited long enough, and the next batch goes at
   * once. Pipelined, the sink keeps the order.
   */
  private launch(batch: Entry[]): void {
    this.#inFlight += batch.length;
    this.#inFlightBatches.add(batch);
    const done: Promise<void> = this.commit(batch).finally(() => {
      this.#inFlightBatches.delete(batch);
      this.#commits.delete(done);
      this.#inFlight -= batch.length;
      this.releaseRoom();
      if (this.#queue.length > 0) {
        if (this.options.pipelined) this.schedule();
        else this.startDrain();
      }
    });
    this.#commits.add(done);
  }

  private async commit(batch: Entry[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.#aborted) return this.rejectAll(batch, new TiqError('TIQ_ERR_SHUTTING_DOWN', { sink: this.sink.name }));
      try {
        const started = performance.now();
        const result = await this.sink.writeBatch(batch.map((e) => e.record));
        this.options.onCommit?.(batch.length, (performance.now() - started) / 1000);
        this.markHealthy();
        batch.forEach((e, i) => e.resolve(result.outcomes[i] ?? 'inserted'));
        return;
      } catch (err) {
        const error = toTiqError(err, 'TIQ_ERR_STORE_UNAVAILABLE');
        if (error.code !== 'TIQ_ERR_STORE_UNAVAILABLE') return this.isolate(batch, error);
        this.markUnhealthy(error);
        await this.backoff(attempt);
      }
    }
  }

  /** A record the sink refuses must not block the others: write them one by one. */
  private async isolate(batch: Entry[], error: TiqError): Promise<void> {
    if (batch.length === 1) {
      this.options.logger?.warn({ sink: this.sink.name, code: error.code, detail: error.detail }, 'record refused by sink');
      return batch[0]?.reject(error);
    }
    for (const entry of batch) await this.commit([entry]);
  }

  private backoff(attempt: number): Promise<void> {
    const delay = Math.min(this.options.retryMaxMs, this.options.retryInitialMs * 2 ** Math.min(attempt, 20));
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#wakeRetry.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, delay);
      this.#wakeRetry.add(wake);
    });
  }

  private rejectAll(batch: Entry[], err: TiqError): void {
    for (const e of batch) e.reject(err);
  }

  private markHealthy(): void {
    this.#committed++;
    if (!this.#healthy) this.options.logger?.info({ sink: this.sink.name, failures: this.#failures }, 'storage sink recovered');
    this.#healthy = true;
    this.#failures = 0;
  }

  private markUnhealthy(error: TiqError): void {
    this.#failures++;
    this.#lastError = { code: error.code, atMs: Date.now() };
    if (this.#healthy) {
      this.options.logger?.warn({ sink: this.sink.name, code: error.code, pending: this.state.pending }, 'storage sink unavailable; holding acknowledgements');
    }
    this.#healthy = false;
  }

  private releaseRoom(): void {
    let room = this.options.maxPendingRecords - this.#queue.length - this.#inFlight;
    while (room-- > 0 && this.#roomWaiters.length > 0) this.#roomWaiters.shift()?.();
    if (this.#roomWaiters.length === 0) this.setBackpressure(false);
  }

  private setBackpressure(active: boolean): void {
    if (this.#backpressured === active) return;
    this.#backpressured = active;
    this.options.logger?.[active ? 'warn' : 'info']({ sink: this.sink.name, pending: this.state.pending }, active ? 'storage backpressure on' : 'storage backpressure off');
    this.options.onBackpressure?.(active);
  }

  /** Commits everything accepted so far. */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#commits.size > 0) {
      this.startDrain();
      await Promise.all(this.#commits);
    }
  }

  /**
   * Stops accepting writes and commits what was accepted; after timeoutMs the
   * rest is rejected with TIQ_ERR_SHUTTING_DOWN (not acknowledged: devices resend).
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.#closing = true;
    for (const wake of this.#roomWaiters.splice(0)) wake();
    const timer = setTimeout(() => {
      this.#aborted = true;
      for (const wake of [...this.#wakeRetry]) wake();
    }, timeoutMs);
    try {
      await this.flush();
    } finally {
      clearTimeout(timer);
    }
  }
}
