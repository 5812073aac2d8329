/**
 * Reads a backup file: unwraps its key with the key store, authenticates
 * every frame in order, and extracts each entry into a directory (0700,
 * files 0600) while hashing it; then checks the entries against the
 * manifest: the same paths, sizes and SHA-256 digests, nothing more.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, readSync, statSync } from 'node:fs';
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

/** Writes the entries of a backup's frames into `dir`, hashing each; keeps the manifest when it comes. */
class Extractor {
  readonly seen: ManifestFile[] = [];
  manifest: BackupManifest | undefined;
  #current: OpenEntry | undefined;

  constructor(private readonly dir: string) {}

  async take(plain: Buffer): Promise<void> {
    if (this.manifest) throw corrupt('frames after the manifest');
    const body = plain.subarray(1);
    switch (plain[0]) {
      case FrameType.fileData: return this.#write(body);
      case FrameType.fileStart: return this.#start(body);
      case FrameType.manifest:
        await this.#finish();
        this.manifest = parseJson(body) as BackupManifest;
        return;
      default: throw corrupt(`unknown frame type ${String(plain[0])}`);
    }
  }

  async #write(body: Buffer): Promise<void> {
    const e = this.#current;
    if (!e) throw corrupt('content outside an entry');
    e.hash.update(body);
    e.size += body.length;
    await e.fh.write(body);
  }

  async #start(body: Buffer): Promise<void> {
    await this.#finish();
    const start = parseJson(body) as { path?: unknown; role?: EntryRole; sink?: string; mode?: number };
    const path = safePath(start.path);
    const target = join(this.dir, path);
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    const fh = await open(target, 'wx', 0o600);
    this.#current = { path, role: start.role ?? 'data', ...(start.sink ? { sink: start.sink } : {}), mode: Number(start.mode ?? 0o600), size: 0, hash: createHash('sha256'), fh };
  }

  async #finish(): Promise<void> {
    const e = this.#current;
    if (!e) return;
    this.#current = undefined;
    await e.fh.close();
    this.seen.push({ path: e.path, role: e.role, ...(e.sink ? { sink: e.sink } : {}), size: e.size, sha256: e.hash.digest('hex'), mode: e.mode });
  }

  async abort(): Promise<void> {
    await this.#current?.fh.close().catch(() => undefined);
  }
}

export async function extractBackup(file: string, keys: BackupKeySettings, dir: string, onProgress: (done: number, total: number) => void = () => {}): Promise<ExtractedBackup> {
  const { header, bytes: headerBytes, end } = readHeader(file);
  const key = await openBackupKey(keys, header);
  const total = statSync(file).size;
  let read = end;
  const source = createReadStream(file, { start: end, highWaterMark: 1024 * 1024 });
  source.on('data', (chunk) => { read += chunk.length; onProgress(read, total); });
  const extractor = new Extractor(dir);
  try {
    for await (const plain of openFrames(source as AsyncIterable<Buffer>, key, headerDigest(headerBytes))) await extractor.take(plain);
  } finally {
    await extractor.abort();
    source.destroy();
  }
  if (!extractor.manifest) throw corrupt('no manifest');
  checkAgainstManifest(extractor.manifest, extractor.seen);
  return { header, manifest: extractor.manifest, bytes: total };
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
