/**
 * One writer per data directory. The gateway takes `<dataDir>/thingiq.lock`
 * at start and keeps it until it closes; a CLI command that changes state
 * while no gateway runs takes the same lock for its duration. A second
 * writer (a second gateway, or an offline command while a gateway runs
 * without its admin API) is refused with TIQ_ERR_DATA_DIR_LOCKED.
 *
 * The lock file (0600) also tells the CLI how to reach the running gateway:
 * its admin API URL and the local operator identity (docs/admin.md, "The CLI
 * and a running gateway"). Node has no flock, so the lock is a file created
 * with O_EXCL naming its process; a lock whose process is gone is stale and
 * broken by the next taker.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { TiqError } from '../errors.ts';
import { writeFileAtomic } from '../pki/secure-files.ts';

export const LOCK_FILE = 'thingiq.lock';

/** How the CLI reaches a running gateway's admin API (mTLS listener) as the local operator. */
export interface AdminEndpoint {
  readonly url: string;
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The name to verify the server certificate against, when the URL's host is not one of its names. */
  readonly servername?: string;
}

export interface LockHolder {
  readonly pid: number;
  readonly holder: 'gateway' | 'cli';
  readonly since: string;
  readonly token: string;
  /** Set by a gateway once its admin API listens. */
  readonly admin?: AdminEndpoint;
}

/** A lock file that never got its content (a crash right after creating it) is stale after this. */
const UNWRITTEN_STALE_MS = 10_000;

export function lockPathOf(dataDir: string): string {
  return join(dataDir, LOCK_FILE);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Inspection = { state: 'free' } | { state: 'held'; holder: LockHolder | undefined } | { state: 'stale'; raw: string };

function inspect(path: string): Inspection {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'free' };
    throw err;
  }
  let holder: LockHolder | undefined;
  try {
    holder = JSON.parse(raw) as LockHolder;
  } catch {
    holder = undefined;
  }
  if (holder && typeof holder.pid === 'number') return isAlive(holder.pid) ? { state: 'held', holder } : { state: 'stale', raw };
  const young = Date.now() - statSync(path).mtimeMs < UNWRITTEN_STALE_MS;
  return young ? { state: 'held', holder: undefined } : { state: 'stale', raw };
}

/** The live holder of the data directory's lock, if any (stale locks count as none). */
export function readLockHolder(dataDir: string): LockHolder | undefined | 'unknown' {
  const i = inspect(lockPathOf(dataDir));
  if (i.state !== 'held') return undefined;
  return i.holder ?? 'unknown';
}

export function lockedError(holder: LockHolder | 'unknown' | undefined, dataDir: string): TiqError {
  const who = holder === undefined || holder === 'unknown' ? 'another process' : `${holder.holder === 'gateway' ? 'a gateway' : 'a thingiq command'} (pid ${holder.pid})`;
  return new TiqError('TIQ_ERR_DATA_DIR_LOCKED', `${who} holds ${dataDir}`);
}

export class DataDirLock {
  private released = false;

  private constructor(readonly path: string, private content: LockHolder) {}

  /** Takes the lock or throws TIQ_ERR_DATA_DIR_LOCKED naming the holder. */
  static acquire(dataDir: string, holder: LockHolder['holder']): DataDirLock {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = lockPathOf(dataDir);
    const content: LockHolder = { pid: process.pid, holder, since: new Date().toISOString(), token: randomBytes(12).toString('hex') };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o600);
        try {
          writeSync(fd, JSON.stringify(content));
        } finally {
          closeSync(fd);
        }
        return new DataDirLock(path, content);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const found = inspect(path);
      if (found.state === 'held') throw lockedError(found.holder ?? 'unknown', dataDir);
      if (found.state === 'stale') breakStale(path, found.raw);
    }
    throw lockedError('unknown', dataDir);
  }

  /** Tells CLI commands where the admin API listens (the file is replaced atomically, never absent). */
  publishAdmin(admin: AdminEndpoint): void {
    if (this.released) return;
    this.content = { ...this.content, admin };
    writeFileAtomic(this.path, JSON.stringify(this.content), 0o600);
  }

  /** Removes the lock file, unless another process has (wrongly) taken it over since. */
  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      const now = JSON.parse(readFileSync(this.path, 'utf8')) as LockHolder;
      if (now.token === this.content.token) rmSync(this.path, { force: true });
    } catch {
      // already gone
    }
  }
}

/** Removes a stale lock only if it still holds what was judged stale (another taker may have replaced it). */
function breakStale(path: string, raw: string): void {
  try {
    if (readFileSync(path, 'utf8') === raw) rmSync(path, { force: true });
  } catch {
    // gone already: the next attempt takes it
  }
}
