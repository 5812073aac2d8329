/**
 * `backup create`: snapshots, copies, then one encrypted file.
 *
 * Order matters for erasure: the control store is copied before the sinks,
 * so a shred that lands in between is either in both, or has already
 * removed the keys from the sink copy; and a restore re-applies every
 * tombstone anyway (restore-backup.ts).
 */
import BetterSqlite3 from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { auditDirOf, auditPaths } from '../audit/audit-log.ts';
import { withFileLockAsync } from '../audit/file-lock.ts';
import type { ShredValue } from '../control/control-kinds.ts';
import type { ControlStore } from '../control/control-store.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { writeArchive, type ArchiveEntry, type ManifestFile } from './backup-archive.ts';
import { FORMAT, FORMAT_VERSION } from './backup-format.ts';
import { newBackupKey, type BackupKeySettings } from './backup-key.ts';
import {
  auditFiles, BACKUP_WORK_DIR, controlStorePath, dataStateFiles, keyStoreInsideDataDir, keyStorePaths, postgresSinks,
  sqliteSinks, walkFiles, type ResolvePath,
} from './backup-sources.ts';
import { snapshotSqlite } from './snapshot.ts';

export interface BackupManifest {
  readonly format: typeof FORMAT;
  readonly version: typeof FORMAT_VERSION;
  readonly createdAt: string;
  readonly files: readonly ManifestFile[];
  readonly controlStore: { readonly backend: 'sqlite' | 'postgres'; readonly version: number; readonly included: boolean };
  /** Newest erasure tombstone in the control store copied (ms), null when none. */
  readonly newestTombstoneAtMs: number | null;
  readonly tombstones: number;
  readonly sinks: readonly { readonly name: string; readonly type: 'sqlite' | 'postgres'; readonly included: boolean }[];
  /** Key-store files left out (base names only). */
  readonly excludedKeyStore: readonly string[];
}

export interface CreateBackupOptions {
  readonly config: GatewayConfig;
  readonly resolvePath: ResolvePath;
  readonly out: string;
  readonly keys: BackupKeySettings;
  /** The open control store when it is PostgreSQL (its facts go in the manifest; its data is not in the file). */
  readonly control?: ControlStore;
  readonly onProgress?: (done: number, total: number) => void;
  readonly now?: () => number;
}

export interface CreatedBackup {
  readonly file: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly manifest: BackupManifest;
  readonly warnings: readonly string[];
}

export const KEY_STORE_INSIDE_WARNING = 'the key store (root key or keyring) lives inside the data directory: a backup never holds it, so if the data directory is lost this backup cannot be restored to readable records; keep keys outside dataDir or in KMS (docs/operations.md)';

export async function createBackup(o: CreateBackupOptions): Promise<CreatedBackup> {
  const dataDir = o.resolvePath(o.config.dataDir);
  const warnings = keyStoreInsideDataDir(o.config, o.resolvePath) ? [KEY_STORE_INSIDE_WARNING] : [];
  const sealed = await newBackupKey(o.keys);
  const work = join(dataDir, BACKUP_WORK_DIR, randomBytes(8).toString('hex'));
  mkdirSync(work, { recursive: true, mode: 0o700 });
  try {
    const entries = await collect(o, dataDir, work);
    const createdAt = new Date((o.now ?? Date.now)()).toISOString();
    const facts = controlFacts(entries, o.control, o.config.controlStore?.type ?? 'sqlite');
    const header = { format: FORMAT, version: FORMAT_VERSION, createdAt, kekRef: sealed.kekRef, wrappedKey: sealed.wrappedKey, ...(sealed.kekCheck ? { kekCheck: sealed.kekCheck } : {}) } as const;
    const manifestOf = (files: ManifestFile[]): BackupManifest => ({
      format: FORMAT, version: FORMAT_VERSION, createdAt, files, ...facts,
      sinks: [
        ...sqliteSinks(o.config, o.resolvePath).map((s) => ({ name: s.sink, type: 'sqlite' as const, included: files.some((f) => f.sink === s.sink) })),
        ...postgresSinks(o.config).map((name) => ({ name, type: 'postgres' as const, included: false })),
      ],
      excludedKeyStore: [...new Set(keyStorePaths(o.config, o.resolvePath).map((p) => p.split(sep).pop()!))],
    });
    let manifest: BackupManifest | undefined;
    const written = await writeArchive(o.out, sealed.key, header, entries, (files) => (manifest = manifestOf(files)), o.onProgress);
    return { file: o.out, bytes: written.bytes, sha256: written.sha256, manifest: manifest!, warnings };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function collect(o: CreateBackupOptions, dataDir: string, work: string): Promise<ArchiveEntry[]> {
  const control = controlStorePath(o.config, o.resolvePath);
  const sinks = sqliteSinks(o.config, o.resolvePath).filter((s) => existsSync(s.path));
  const jobs = [
    ...(control && existsSync(control) ? [{ source: control, dest: join(work, 'control.db') }] : []),
    ...sinks.map((s) => ({ source: s.path, dest: join(work, `sink-${s.sink}.db`) })),
  ];
  await snapshotSqlite(jobs);
  const entries: ArchiveEntry[] = [
    ...(jobs.length > sinks.length ? [{ path: 'control/control.db', role: 'control-store' as const, source: join(work, 'control.db') }] : []),
    ...sinks.map((s) => ({ path: `sinks/${s.sink}.db`, role: 'sqlite-sink' as const, sink: s.sink, source: join(work, `sink-${s.sink}.db`) })),
  ];
  // The audit log, its checkpoint and keys, copied together under the log's lock: a consistent head.
  const auditWork = join(work, 'audit');
  mkdirSync(auditWork, { mode: 0o700 });
  const audit = auditFiles(dataDir).filter((f) => existsSync(f.path));
  if (audit.length > 0) {
    await withFileLockAsync(auditPaths(auditDirOf(dataDir)).lock, () => { for (const f of audit) copyFileSync(f.path, join(auditWork, f.name)); });
  }
  entries.push(...audit.map((f) => ({ path: `audit/${f.name}`, role: 'audit' as const, source: join(auditWork, f.name) })));
  entries.push(...dataStateFiles(o.config, o.resolvePath).map((rel) => ({ path: `data/${rel}`, role: 'data' as const, source: join(dataDir, rel) })));
  const pkiDir = o.resolvePath(o.config.pkiDir);
  entries.push(...walkFiles(pkiDir).map((p) => ({ path: `pki/${relative(pkiDir, p).split(sep).join('/')}`, role: 'pki' as const, source: p })));
  return entries;
}

type ControlFacts = Pick<BackupManifest, 'controlStore' | 'newestTombstoneAtMs' | 'tombstones'>;

function controlFacts(entries: readonly ArchiveEntry[], control: ControlStore | undefined, backend: 'sqlite' | 'postgres'): ControlFacts {
  const copy = entries.find((e) => e.role === 'control-store');
  if (copy) {
    const db = new BetterSqlite3(copy.source, { readonly: true, fileMustExist: true });
    try {
      const version = Number((db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM control_changes').get() as { v: number }).v);
      const shreds = (db.prepare("SELECT value FROM control_state WHERE kind = 'shred'").all() as { value: string }[]).map((r) => JSON.parse(r.value) as ShredValue);
      return { controlStore: { backend: 'sqlite', version, included: true }, ...tombstoneFacts(shreds) };
    } finally {
      db.close();
    }
  }
  if (control) return { controlStore: { backend: control.backend, version: control.version, included: false }, ...tombstoneFacts([...control.entries('shred').values()]) };
  return { controlStore: { backend, version: 0, included: false }, newestTombstoneAtMs: null, tombstones: 0 };
}

function tombstoneFacts(shreds: readonly ShredValue[]): Pick<BackupManifest, 'newestTombstoneAtMs' | 'tombstones'> {
  return { newestTombstoneAtMs: shreds.length ? Math.max(...shreds.map((s) => s.atMs)) : null, tombstones: shreds.length };
}

