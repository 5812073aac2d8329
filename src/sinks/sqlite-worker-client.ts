/**
 * The main thread's handle on the SQLite writer thread (sqlite-worker.ts).
 * write() transfers one packed batch and resolves with per-record outcomes
 * once the thread's COMMIT returned; it rejects with the driver's error
 * (rebuilt with its class and code) so the sink classifies it as before.
 * If the thread dies, every pending write rejects and the next write
 * starts a new thread: the batching writer's retry takes it from there.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { SealedRecord } from '../records/message.ts';
import { encodeRecordBatch } from './sqlite-batch-codec.ts';
import {
  fromWorkerError, type FromWorker, type SqliteWorkerData, type ToWorker, type WorkerError,
} from './sqlite-worker-protocol.ts';

interface PendingWrite {
  readonly resolve: (outcomes: Uint8Array) => void;
  readonly reject: (err: Error) => void;
}

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
  readonly #pending = new Map<number, PendingWrite>();
  #nextId = 1;
  #closed: (() => void) | undefined;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => this.#onMessage(m));
    worker.on('error', (err) => this.#failAll(err));
    worker.on('exit', () => {
      this.#failAll(new Error('SQLite writer thread exited'));
      this.#closed?.();
    });
    // The thread must not keep the process alive on its own; pending writes ref it (see write()).
    worker.unref();
  }

  /** Starts a thread on an existing database (schema created); rejects with the driver's error if it cannot open it. */
  static start(options: SqliteWorkerData): Promise<SqliteWriterThread> {
    const worker = newWorker({ path: options.path, durability: options.durability });
    return new Promise((resolve, reject) => {
      const onFirst = (m: FromWorker): void => {
        worker.off('error', onError);
        if (m.kind === 'ready') resolve(new SqliteWriterThread(worker));
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
    return this.#closed === undefined && this.worker.threadId !== -1;
  }

  write(records: readonly SealedRecord[]): Promise<Uint8Array> {
    const { buffer, byteLength } = encodeRecordBatch(records);
    const id = this.#nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.#pending.size === 0) this.worker.ref();
      this.#pending.set(id, { resolve, reject });
      this.#post({ kind: 'write', id, buffer, byteLength }, [buffer]);
    });
  }

  /** Lets writes already sent finish (the thread handles messages in order), then closes the connection. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#closed = resolve;
      if (this.worker.threadId === -1) return resolve();
      this.worker.ref();
      this.#post({ kind: 'close' });
    });
  }

  #post(m: ToWorker, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  #onMessage(m: FromWorker): void {
    if (m.kind === 'written' || m.kind === 'error') {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (this.#pending.size === 0 && !this.#closed) this.worker.unref();
      if (m.kind === 'written') p.resolve(m.outcomes);
      else p.reject(fromWorkerError(m.error));
    }
  }

  #failAll(err: Error | WorkerError): void {
    const error = err instanceof Error ? err : fromWorkerError(err);
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
  }
}
