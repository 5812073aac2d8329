/**
 * Bounds the publishes of one client that run through the pipeline at once.
 * aedes dispatches a whole socket read concurrently and reads on only when
 * every packet of it has called back, so holding the extra ones here also
 * stops reading from that socket: a client cannot start more work than
 * `maxRunning` pipelines, and cannot queue more than `maxWaiting` behind them.
 */
export interface GatedWork {
  run(): void;
}

export class PublishGate {
  private running = 0;
  private readonly waiting: GatedWork[] = [];

  constructor(private readonly maxRunning: number, private readonly maxWaiting: number) {}

  /** Runs `work` now or when a slot frees; false (and nothing queued) when the queue is full. */
  enter(work: GatedWork): boolean {
    if (this.running < this.maxRunning) {
      this.running++;
      work.run();
      return true;
    }
    if (this.waiting.length >= this.maxWaiting) return false;
    this.waiting.push(work);
    return true;
  }

  /** Frees a slot; the next waiting work takes it over (on a fresh stack). */
  leave(): void {
    const next = this.waiting.shift();
    if (next) setImmediate(runWork, next);
    else this.running--;
  }

  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}

function runWork(work: GatedWork): void {
  work.run();
}
