/**
 * Group commit for key writes. A burst of new devices (a fleet powering on,
 * a gateway restarted in front of devices it has never seen) needs one
 * device KEK and one data key each, and each is a durable write: one fsync'd
 * transaction per device would hold the event loop, and so every other
 * device's PUBACKs, for the whole burst. Writes asked for in the same turn
 * of the event loop go out together, in one call, at the next setImmediate
 * (or as soon as `maxBatch` are waiting); each caller gets its own result,
 * or the batch's error.
 */
export type BatchFlush<I, O> = (items: readonly I[]) => readonly O[] | Promise<readonly O[]>;

interface Waiting<I, O> {
  readonly item: I;
  readonly resolve: (out: O) => void;
  readonly reject: (err: unknown) => void;
}

export class TickBatch<I, O> {
  #waiting: Waiting<I, O>[] = [];
  #scheduled: NodeJS.Immediate | undefined;

  constructor(private readonly flush: BatchFlush<I, O>, private readonly maxBatch = 512) {}

  add(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      if (this.#waiting.length >= this.maxBatch) this.#run();
      else this.#scheduled ??= setImmediate(() => this.#run());
    });
  }

  #run(): void {
    if (this.#scheduled) clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    const batch = this.#waiting;
    this.#waiting = [];
    if (batch.length === 0) return;
    const settle = (outs: readonly O[]): void => {
      if (outs.length !== batch.length) return fail(new Error(`batch write returned ${outs.length} results for ${batch.length} items`));
      batch.forEach((w, i) => w.resolve(outs[i]!));
    };
    const fail = (err: unknown): void => batch.forEach((w) => w.reject(err));
    try {
      const outs = this.flush(batch.map((w) => w.item));
      if (outs instanceof Promise) outs.then(settle, fail);
      else settle(outs);
    } catch (err) {
      fail(err);
    }
  }
}
