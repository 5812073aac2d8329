/**
 * An advisory lock between processes (the gateway and the CLI both append to
 * the audit log): a lock file created with O_EXCL. A lock older than
 * `staleMs` belongs to a crashed process and is broken.
 */
import { closeSync, openSync, rmSync, statSync } from 'node:fs';
import { TiqError } from '../errors.ts';

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * The same lock for the gateway's event loop: waits with timers, never
 * Atomics.wait, and holds the lock until `fn` has settled (it may await its
 * writes; the caller keeps one locked section at a time in this process).
 */
export async function withFileLockAsync<T>(lockPath: string, fn: () => T | Promise<T>, opts: LockOptions = {}): Promise<T> {
  const attempt = acquirer(lockPath, opts);
  while (!attempt()) await new Promise((r) => setTimeout(r, 5));
  try {
    return await fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

export function withFileLock<T>(lockPath: string, fn: () => T, opts: LockOptions = {}): T {
  const attempt = acquirer(lockPath, opts);
  // Appends are short: a synchronous 5 ms back-off keeps append() synchronous.
  while (!attempt()) Atomics.wait(sleeper, 0, 0, 5);
  try {
    return fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

export interface LockOptions { readonly timeoutMs?: number; readonly staleMs?: number }

/**
 * One attempt at the lock per call: true once taken, false when the caller
 * should back off and try again; throws when the deadline has passed or the
 * file cannot be created for another reason. Both lock flavours share it and
 * differ only in how they wait.
 */
function acquirer(lockPath: string, opts: LockOptions): () => boolean {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  return () => {
    try {
      closeSync(openSync(lockPath, 'wx', 0o600));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      breakIfStale(lockPath, opts.staleMs ?? 10_000);
      if (Date.now() > deadline) throw new TiqError('TIQ_ERR_AUDIT', `cannot take the lock ${lockPath}`);
      return false;
    }
  };
}

function breakIfStale(lockPath: string, staleMs: number): void {
  try {
    if (Date.now() - statSync(lockPath).mtimeMs > staleMs) rmSync(lockPath, { force: true });
  } catch {
    // gone already: the next attempt takes it
  }
}
