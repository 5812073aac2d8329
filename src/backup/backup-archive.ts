/**
 * Writes the backup file: header, then each entry's start frame and content
 * frames, then the manifest as the final frame. Written to a temporary name,
 * flushed, then renamed, so a backup file either is whole or does not exist.
 */
import { createHash, randomBytes, type KeyObject } from 'node:crypto';
import { open, rename, rm, stat } from 'node:fs/promises';
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

function typed(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), body]);
}

/**
 * `manifestOf` receives the files as written (sizes and digests) and returns
 * the manifest to seal last. `onProgress` gets plaintext bytes done and total.
 */
export async function writeArchive(out: string, key: KeyObject, header: BackupHeader, entries: readonly ArchiveEntry[],
  manifestOf: (files: ManifestFile[]) => unknown, onProgress: (done: number, total: number) => void = () => {}): Promise<WrittenArchive> {
  const tmp = `${out}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  const fileHash = createHash('sha256');
  let bytes = 0;
  const put = async (buf: Buffer) => {
    fileHash.update(buf);
    bytes += buf.length;
    await fh.write(buf);
  };
  try {
    const headerBytes = encodeHeader(header);
    const aad = headerDigest(headerBytes);
    await put(headerBytes);
    let index = 0;
    const sizes = await Promise.all(entries.map(async (e) => (await stat(e.source)).size));
    const total = sizes.reduce((a, b) => a + b, 0);
    let done = 0;
    const files: ManifestFile[] = [];
    for (const e of entries) {
      const st = await stat(e.source);
      await put(sealFrame(key, aad, index++, false, typed(FrameType.fileStart, Buffer.from(JSON.stringify({ path: e.path, role: e.role, sink: e.sink, mode: st.mode & 0o777 })))));
      const hash = createHash('sha256');
      let size = 0;
      const src = await open(e.source, 'r');
      try {
        const buf = Buffer.alloc(FRAME_BYTES);
        for (;;) {
          const { bytesRead } = await src.read(buf, 0, FRAME_BYTES, null);
          if (bytesRead === 0) break;
          const piece = buf.subarray(0, bytesRead);
          hash.update(piece);
          size += bytesRead;
          await put(sealFrame(key, aad, index++, false, typed(FrameType.fileData, piece)));
          done += bytesRead;
          onProgress(Math.min(done, total), total);
        }
      } finally {
        await src.close();
      }
      files.push({ path: e.path, role: e.role, ...(e.sink ? { sink: e.sink } : {}), size, sha256: hash.digest('hex'), mode: st.mode & 0o777 });
    }
    await put(sealFrame(key, aad, index, true, typed(FrameType.manifest, Buffer.from(JSON.stringify(manifestOf(files))))));
    await fh.sync();
    await fh.close();
    await rename(tmp, out);
    fsyncDirectory(dirname(out));
    return { files, bytes, sha256: fileHash.digest('hex') };
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}
