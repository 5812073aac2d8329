/** Messages between the SQLite sink (main thread) and its writer thread (sqlite-worker.ts). */
import type { Durability } from '../config/sinks-config.ts';
import type { RingMemory } from './record-ring.ts';

export interface SqliteWorkerData {
  readonly path: string;
  readonly durability: Durability;
  /** Where the batches come from (record-ring.ts). */
  readonly ring: RingMemory;
}

/** A driver error as plain data: enough for fromSqliteError to classify it the same way. */
export interface WorkerError {
  readonly name: string;
  readonly code: string | undefined;
  readonly message: string;
}

/** One batch's fate: outcomes[i] is 1 when record i was inserted, 0 when it was a duplicate. */
export type BatchResult = { readonly outcomes: Uint8Array } | { readonly error: WorkerError };

export type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly error: WorkerError }
  /** The results of the oldest batches not yet reported, in the order they were written to the ring. */
  | { readonly kind: 'committed'; readonly results: readonly BatchResult[] }
  | { readonly kind: 'closed' };

export function toWorkerError(err: unknown): WorkerError {
  const e = err as { name?: unknown; code?: unknown; message?: unknown } | null;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    code: typeof e?.code === 'string' ? e.code : undefined,
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

/** Rebuilds an error of the same class and code, so the sink's error mapping does not change. */
export function fromWorkerError(e: WorkerError): Error {
  const Ctor = e.name === 'TypeError' ? TypeError : e.name === 'RangeError' ? RangeError : Error;
  const err = new Ctor(e.message);
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}
