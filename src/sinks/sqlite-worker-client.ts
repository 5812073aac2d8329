/**
 * The main thread's handle on the SQLite writer thread (sqlite-worker.ts).
 * write() packs one batch into the shared ring (record-ring.ts) and resolves
 * with per-record outcomes once the thread's COMMIT returned; it rejects with the driver's error
 * (rebuilt with its class and code) so the sink classifies it as before.
 * If the thread dies, every pending write rejects and the next write
 * starts a new thread: the batching writer's retry takes it from there.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SealedRecord } from '../records/message.ts';
import { createRingMemory, RingProducer } from './record-ring.ts';
import { encodeRecordBatchInto, recordBatchBound } from './sqlite-batch-codec.ts';
import { fromWorkerError, type FromWorker, type SqliteWorkerData, type WorkerError } from './sqlite-worker-protocol.ts';

interface PendingWrite {
  readonly resolve: (outcomes: Uint8Array) => void;
  readonly reject: (err: Error) => void;
}

interface HeldWrite extends PendingWrite {
  readonly records: readonly SealedRecord[];
  readonly bound: number;
}

/**
 * Shared memory between the sink and its thread. Frames are at most half of
 * it (8 MiB); a batch that would not fit is refused whole (RangeError), so the
 * batching writer commits its records one by one. Untouched pages cost no
 * memory: what a gateway uses is the batches in flight.
 */
const RING_BYTES = 16 * 1024 * 1024;

const SOURCE_EXTENSION = import.meta.url.endsWith('.ts') ? '.ts' : '.js';

/**
 * The compiled gateway (dist/, .js) starts the thread on its entry file
 * directly. Run from TypeScript sources (tests, development), the thread
 * needs tsx's loader before it can import the .ts entry: hooks registered
 * in this thread do not reach a new one on Node 20, so a small eval'd
 * script registers them first.
 */
const TS_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
(async () => {
  (await import(workerData.bootstrap.tsxApi)).register();
  await import(workerData.bootstrap.entry);
})();
`;

function newWorker(data: SqliteWorkerData): Worker {
  return startModuleWorker(new URL(`./sqlite-worker${SOURCE_EXTENSION}`, import.meta.url), data);
}

/** The file extension of this build's modules: `.ts` from sources, `.js` from dist/. */
export const MODULE_EXTENSION = SOURCE_EXTENSION;

/** Starts a worker thread on a module of this build (another SQLite thread: the backup's snapshots). */
export function startModuleWorker(entry: URL, data: object): Worker {
  if (SOURCE_EXTENSION === '.js') return new Worker(entry, { workerData: data });
  // The ESM build of tsx's API (its CommonJS build cannot register from an eval'd thread).
  const require = createRequire(import.meta.url);
  const manifest = require('tsx/package.json') as { exports: Record<string, { import: { default: string } }> };
  const api = manifest.exports['./esm/api']?.import.default ?? './dist/esm/api/index.mjs';
  const tsxApi = pathToFileURL(join(dirname(require.resolve('tsx/package.json')), api)).href;
  return new Worker(TS_BOOTSTRAP, { eval: true, workerData: { ...data, bootstrap: { entry: entry.href, tsxApi } } });
}

export class SqliteWriterThread {
  /** Written to the ring, waiting for their COMMIT, oldest first. */
  readonly #pending: PendingWrite[] = [];
  #pendingHead = 0;
  /** Waiting for room in the ring (the thread is behind by RING_BYTES), oldest first. */
  readonly #held: HeldWrite[] = [];
  #closed: (() => void) | undefined;
  #exited = false;

  private constructor(private readonly worker: Worker, private readonly ring: RingProducer) {
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    worker.on('error', (err) => this.#failAll(err));
    worker.on('exit', () => {
      this.#exited = true;
      this.#failAll(new Error('SQLite writer thread exited'));
      this.#closed?.();
    });
    // The thread must not keep the process alive on its own; pending writes ref it (see write()).
    worker.unref();
  }

  /** Starts a thread on an existing database (schema created); rejects with the driver's error if it cannot open it. */
  static start(options: Omit<SqliteWorkerData, 'ring'>): Promise<SqliteWriterThread> {
    const ring = createRingMemory(RING_BYTES);
    const worker = newWorker({ path: options.path, durability: options.durability, ring });
    return new Promise((resolve, reject) => {
      const onFirst = (m: FromWorker): void => {
        worker.off('error', onError);
        if (m.kind === 'ready') resolve(new SqliteWriterThread(worker, new RingProducer(ring)));
        else reject(m.kind === 'failed' ? fromWorkerError(m.error) : new Error(`unexpected ${m.kind} from SQLite writer thread`));
      };
      const onError = (err: Error): void => {
        worker.off('message', onFirst);
        reject(err);
      };
      worker.once('message', onFirst);
      worker.once('error', onError);
    });
  }

  get alive(): boolean {
    return this.#closed === undefined && !this.#exited;
  }

  /**
   * Resolves with per-record outcomes once the COMMIT holding the batch
   * returned. Batches commit in the order written; several may share one
   * COMMIT (the thread takes whatever is waiting).
   */
  write(records: readonly SealedRecord[]): Promise<Uint8Array> {
    const bound = recordBatchBound(records);
    if (bound > this.ring.maxPayloadBytes) {
      return Promise.reject(new RangeError(`record batch of ${bound} bytes exceeds the writer ring's ${this.ring.maxPayloadBytes}`));
    }
    if (!this.alive) return Promise.reject(new Error('SQLite writer thread closed'));
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.#pending.length === this.#pendingHead && this.#held.length === 0) this.worker.ref();
      if (this.#held.length > 0 || !this.#tryWrite(records, bound, resolve, reject)) this.#held.push({ records, bound, resolve, reject });
    });
  }

  #tryWrite(records: readonly SealedRecord[], bound: number, resolve: PendingWrite['resolve'], reject: PendingWrite['reject']): boolean {
    if (!this.ring.tryWrite(bound, (into) => encodeRecordBatchInto(records, into))) return false;
    this.#pending.push({ resolve, reject });
    return true;
  }

  /** Lets writes already made finish (the thread commits everything written before it stops), then closes the connection. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#closed = resolve;
      if (this.#exited) return resolve();
      this.worker.ref();
      for (const w of this.#held.splice(0)) w.reject(new Error('SQLite writer thread closing'));
      this.ring.close();
    });
  }

  #onMessage(m: FromWorker): void {
    if (m.kind !== 'committed') return;
    for (const result of m.results) {
      const p = this.#pending[this.#pendingHead];
      if (!p) break;
      this.#pending[this.#pendingHead++] = undefined as unknown as PendingWrite;
      if ('outcomes' in result) p.resolve(result.outcomes);
      else p.reject(fromWorkerError(result.error));
    }
    if (this.#pendingHead > 1024 && this.#pendingHead * 2 > this.#pending.length) {
      this.#pending.splice(0, this.#pendingHead);
      this.#pendingHead = 0;
    }
    // The COMMIT freed ring space: batches that waited for it go now, in order.
    while (this.#held.length > 0) {
      const w = this.#held[0]!;
      if (!this.#tryWrite(w.records, w.bound, w.resolve, w.reject)) break;
      this.#held.shift();
    }
    if (this.#pending.length === this.#pendingHead && this.#held.length === 0 && !this.#closed) this.worker.unref();
  }

  #failAll(err: Error | WorkerError): void {
    const error = err instanceof Error ? err : fromWorkerError(err);
    for (let i = this.#pendingHead; i < this.#pending.length; i++) this.#pending[i]!.reject(error);
    this.#pending.length = 0;
    this.#pendingHead = 0;
    for (const w of this.#held.splice(0)) w.reject(error);
  }
}
