/**
 * Reads a backup file: unwraps its key with the key store, authenticates
 * every frame in order, and extracts each entry into a directory (0700,
 * files 0600) while hashing it; then checks the entries against the
 * manifest: the same paths, sizes and SHA-256 digests, nothing more.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, mkdirSync, openSync, closeSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { corrupt, decodeHeader, FrameType, headerDigest, openFrames, type BackupHeader } from './backup-format.ts';
import { openBackupKey, type BackupKeySettings } from './backup-key.ts';
import type { BackupManifest } from './create-backup.ts';
import type { ManifestFile } from './backup-archive.ts';
import type { EntryRole } from './backup-sources.ts';

const HEADER_PROBE_BYTES = 80 * 1024;

interface OpenEntry { path: string; role: EntryRole; sink?: string; mode: number; size: number; hash: Hash; fh: FileHandle }

export interface ExtractedBackup {
  readonly header: BackupHeader;
  readonly manifest: BackupManifest;
  /** Bytes of the backup file. */
  readonly bytes: number;
}

export function readHeader(file: string): { header: BackupHeader; bytes: Buffer; end: number } {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEADER_PROBE_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return decodeHeader(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** A path inside the backup must stay inside the directory it is extracted to. */
function safePath(p: unknown): string {
  if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.split('/').some((s) => s === '..' || s === '' || s === '.')) throw corrupt('an entry has an unsafe path');
  return p;
}

export async function extractBackup(file: string, keys: BackupKeySettings, dir: string, onProgress: (done: number, total: number) => void = () => {}): Promise<ExtractedBackup> {
  const { header, bytes: headerBytes, end } = readHeader(file);
  const key = await openBackupKey(keys, header);
  const seen: ManifestFile[] = [];
  let current: OpenEntry | undefined;
  let manifest: BackupManifest | undefined;
  let read = end;
  const total = (await open(file, 'r').then(async (fh) => { try { return (await fh.stat()).size; } finally { await fh.close(); } }));
  const source = createReadStream(file, { start: end, highWaterMark: 1024 * 1024 });
  source.on('data', (chunk) => { read += chunk.length; onProgress(read, total); });
  const finish = async () => {
    if (!current) return;
    await current.fh.close();
    seen.push({ path: current.path, role: current.role, ...(current.sink ? { sink: current.sink } : {}), size: current.size, sha256: current.hash.digest('hex'), mode: current.mode });
    current = undefined;
  };
  try {
    for await (const plain of openFrames(source as AsyncIterable<Buffer>, key, headerDigest(headerBytes))) {
      if (manifest) throw corrupt('frames after the manifest');
      const type = plain[0];
      const body = plain.subarray(1);
      if (type === FrameType.fileData) {
        if (!current) throw corrupt('content outside an entry');
        current.hash.update(body);
        current.size += body.length;
        await current.fh.write(body);
      } else if (type === FrameType.fileStart) {
        await finish();
        const start = parseJson(body) as { path?: unknown; role?: EntryRole; sink?: string; mode?: number };
        const path = safePath(start.path);
        const target = join(dir, path);
        mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
        current = { path, role: start.role ?? 'data', ...(start.sink ? { sink: start.sink } : {}), mode: Number(start.mode ?? 0o600), size: 0, hash: createHash('sha256'), fh: await open(target, 'wx', 0o600) };
      } else if (type === FrameType.manifest) {
        await finish();
        manifest = parseJson(body) as BackupManifest;
      } else {
        throw corrupt(`unknown frame type ${String(type)}`);
      }
    }
  } finally {
    await current?.fh.close().catch(() => undefined);
    source.destroy();
  }
  if (!manifest) throw corrupt('no manifest');
  checkAgainstManifest(manifest, seen);
  return { header, manifest, bytes: total };
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw corrupt('an entry header is not JSON');
  }
}

function checkAgainstManifest(manifest: BackupManifest, seen: readonly ManifestFile[]): void {
  const listed = new Map((manifest.files ?? []).map((f) => [f.path, f]));
  if (listed.size !== seen.length) throw corrupt(`the manifest lists ${listed.size} files, the backup holds ${seen.length}`);
  for (const f of seen) {
    const want = listed.get(f.path);
    if (!want) throw corrupt(`${f.path} is not in the manifest`);
    if (want.size !== f.size || want.sha256 !== f.sha256) throw corrupt(`${f.path} does not match its digest in the manifest`);
  }
}
