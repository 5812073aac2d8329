/**
 * Writing key material and state files: atomically, private keys with mode
 * 0600. A state file is written to a temporary file in the same directory,
 * flushed to disk (fsync), renamed over the old one, and the directory is
 * flushed too: a reader, or a restart after a crash or power loss, sees the
 * old file or the new one, never a truncated or empty one.
 */
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Writes `data` to a new file (never an existing one: 'wx'), flushed to disk; returns its path. */
function writeFlushed(path: string, data: string | Buffer, mode: number): string {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  chmodSync(tmp, mode); // the umask may have narrowed it
  return tmp;
}

/** Makes a rename or a new directory entry durable; some filesystems cannot fsync a directory (the rename stays atomic). */
export function fsyncDirectory(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch {
    // best effort
  }
}

export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = writeFlushed(path, data, mode);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDirectory(dirname(path));
}

/**
 * writeFileAtomic for the event loop: the same steps, with every write and
 * fsync on libuv's thread pool, so a slow disk holds no other client.
 */
export async function writeFileAtomicAsync(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const file = await open(tmp, 'wx', mode);
    try {
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  try {
    const d = await open(dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  } catch {
    // best effort, as fsyncDirectory
  }
}

/**
 * Appends one line to a log-style state file (private-mode toggles,
 * objections) in a single write, flushed before returning: what the caller
 * reports as done is on disk. A crash can at worst leave the last line
 * incomplete, which readers skip.
 */
export function appendLineDurable(path: string, line: string, mode = 0o600): void {
  const fd = openSync(path, 'a', mode);
  try {
    writeSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function writePrivateKey(path: string, pem: string): void {
  writeFileAtomic(path, pem, 0o600);
}
