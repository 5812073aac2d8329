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
export async function withFileLockAsync<T>(lockPath: string, fn: () => T | Promise<T>, opts: { timeoutMs?: number; staleMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    try {
      closeSync(openSync(lockPath, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      breakIfStale(lockPath, opts.staleMs ?? 10_000);
      if (Date.now() > deadline) throw new TiqError('TIQ_ERR_AUDIT', `cannot take the lock ${lockPath}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

export function withFileLock<T>(lockPath: string, fn: () => T, opts: { timeoutMs?: number; staleMs?: number } = {}): T {
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    try {
      closeSync(openSync(lockPath, 'wx', 0o600));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      breakIfStale(lockPath, opts.staleMs ?? 10_000);
      if (Date.now() > deadline) throw new TiqError('TIQ_ERR_AUDIT', `cannot take the lock ${lockPath}`);
      Atomics.wait(sleeper, 0, 0, 5); // appends are short: a synchronous 5 ms back-off keeps append() synchronous
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

function breakIfStale(lockPath: string, staleMs: number): void {
  try {
    if (Date.now() - statSync(lockPath).mtimeMs > staleMs) rmSync(lockPath, { force: true });
  } catch {
    // gone already: the next attempt takes it
  }
}
