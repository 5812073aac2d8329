/**
 * Writes the backup file: header, then each entry's start frame and content
 * frames, then the manifest as the final frame. Written to a temporary name,
 * flushed, then renamed, so a backup file either is whole or does not exist.
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { fsyncDirectory } from '../pki/secure-files.ts';
import { dirname } from 'node:path';
import { encodeHeader, FRAME_BYTES, FrameType, headerDigest, sealFrame, type BackupHeader } from './backup-format.ts';
import type { EntryRole } from './backup-sources.ts';

export interface ArchiveEntry {
  /** Path inside the backup (`sinks/default.db`, `pki/ca.key`). */
  readonly path: string;
  readonly role: EntryRole;
  readonly sink?: string;
  /** Where its bytes are read from now. */
  readonly source: string;
}

export interface ManifestFile {
  readonly path: string;
  readonly role: EntryRole;
  readonly sink?: string;
  readonly size: number;
  readonly sha256: string;
  readonly mode: number;
}

export interface WrittenArchive {
  readonly files: ManifestFile[];
  readonly bytes: number;
  readonly sha256: string;
}

/** The sealed frames of a file being written, in order, with its running digest and size. */
class FrameWriter {
  readonly #hash = createHash('sha256');
  #index = 0;
  bytes = 0;

  constructor(private readonly fh: FileHandle, private readonly key: KeyObject, private readonly aad: Buffer) {}

  async raw(buf: Buffer): Promise<void> {
    this.#hash.update(buf);
    this.bytes += buf.length;
    await this.fh.write(buf);
  }

  frame(type: number, body: Buffer, final = false): Promise<void> {
    return this.raw(sealFrame(this.key, this.aad, this.#index++, final, Buffer.concat([Buffer.from([type]), body])));
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}

/** One entry: its start frame, then its content in frames; returns its manifest line. */
async function writeEntry(w: FrameWriter, e: ArchiveEntry, progress: (bytes: number) => void): Promise<ManifestFile> {
  const mode = (await stat(e.source)).mode & 0o777;
  await w.frame(FrameType.fileStart, Buffer.from(JSON.stringify({ path: e.path, role: e.role, sink: e.sink, mode })));
  const hash = createHash('sha256');
  let size = 0;
  const src = await open(e.source, 'r');
  try {
    const buf = Buffer.alloc(FRAME_BYTES);
    for (let n = (await src.read(buf, 0, FRAME_BYTES, null)).bytesRead; n > 0; n = (await src.read(buf, 0, FRAME_BYTES, null)).bytesRead) {
      const piece = buf.subarray(0, n);
      hash.update(piece);
      size += n;
      await w.frame(FrameType.fileData, piece);
      progress(n);
    }
  } finally {
    await src.close();
  }
  return { path: e.path, role: e.role, ...(e.sink ? { sink: e.sink } : {}), size, sha256: hash.digest('hex'), mode };
}

/**
 * `manifestOf` receives the files as written (sizes and digests) and returns
 * the manifest to seal last. `onProgress` gets plaintext bytes done and total.
 */
export async function writeArchive(out: string, key: KeyObject, header: BackupHeader, entries: readonly ArchiveEntry[],
  manifestOf: (files: ManifestFile[]) => unknown, onProgress: (done: number, total: number) => void = () => {}): Promise<WrittenArchive> {
  const tmp = `${out}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    const headerBytes = encodeHeader(header);
    const w = new FrameWriter(fh, key, headerDigest(headerBytes));
    await w.raw(headerBytes);
    const total = (await Promise.all(entries.map(async (e) => (await stat(e.source)).size))).reduce((a, b) => a + b, 0);
    let done = 0;
    const files: ManifestFile[] = [];
    for (const e of entries) files.push(await writeEntry(w, e, (n) => { done += n; onProgress(Math.min(done, total), total); }));
    await w.frame(FrameType.manifest, Buffer.from(JSON.stringify(manifestOf(files))), true);
    await fh.sync();
    await fh.close();
    await rename(tmp, out);
    fsyncDirectory(dirname(out));
    return { files, bytes: w.bytes, sha256: w.digest() };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}
