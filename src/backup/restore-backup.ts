/**
 * `backup restore`: puts a verified backup back, then re-applies erasure
 * before anything is served.
 *
 * 1. Refuses a live data directory (its lock is held: a gateway or a
 *    command runs) and a non-empty one without `force`; then holds the lock.
 * 2. Reads the erasure tombstones in force now: the live control store
 *    (before it is replaced) and any other source the key store offers
 *    (the device key vault: its file, or the shared tables of a cluster).
 * 3. Extracts and verifies the backup beside the data directory (same file
 *    system), then moves each file into place (0600, directories 0700); a
 *    replaced audit log is kept aside, whole, as `audit-before-restore-*`.
 * 4. Every tombstone (now's and the backup's own) is applied to the restored
 *    SQLite sinks: the device's wrapped data keys and records are deleted,
 *    the file rewritten without the freed pages, and the tombstone recorded
 *    in the restored control store. In the PostgreSQL sinks (which a
 *    backup never holds, and which `pg_restore` may have put back) what
 *    predates each tombstone is deleted. A device erased after the backup
 *    was taken stays erased.
 * 5. Legal-hold decisions made after the backup (holds and releases, from
 *    the control store read in step 2) are carried into the restored one,
 *    and the sinks' copies of the holds follow it (restore-holds.ts).
 * 6. The restored audit log must verify; the restore is appended to it.
 */
import BetterSqlite3 from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { auditDirOf, AuditLog, AUDIT_FILE } from '../audit/audit-log.ts';
import { verifyAuditLog } from '../audit/verify-audit-log.ts';
import { auditHeadKey } from '../control/audit-head.ts';
import { deviceKey, type ShredValue } from '../control/control-kinds.ts';
import { openControlStore } from '../control/open-control-store.ts';
import type { GatewayConfig } from '../config/schema.ts';
import { TiqError } from '../errors.ts';
import { DataDirLock, LOCK_FILE, lockedError, readLockHolder } from '../instance/data-dir-lock.ts';
import { LOCAL_OPERATOR_ACTOR } from '../instance/local-operator.ts';
import { SqliteSink } from '../sinks/sqlite-sink.ts';
import type { BackupKeySettings } from './backup-key.ts';
import { BACKUP_WORK_DIR, controlStorePath, keyStorePaths, sqliteSinks, type ResolvePath } from './backup-sources.ts';
import { extractBackup } from './read-backup.ts';
import { carryHoldDecisions, liveHoldDecisions, restoreAuditDetail, type HoldCarry } from './restore-holds.ts';
import { reapplyErasurePg } from './restore-postgres-sinks.ts';
import { checkExtracted, type BackupReport } from './verify-backup.ts';

export interface RestoreOptions {
  readonly file: string;
  readonly config: GatewayConfig;
  readonly resolvePath: ResolvePath;
  readonly keys: BackupKeySettings;
  readonly force: boolean;
  /** Tombstones the key store keeps beside the control store's (a device-key vault). */
  readonly extraTombstones?: () => Promise<readonly ShredValue[]>;
  readonly onProgress?: (done: number, total: number) => void;
  readonly now?: () => number;
}

export interface RestoreResult {
  readonly backup: BackupReport;
  readonly restoredFiles: number;
  /** Files of the backup left out: their place in this configuration is not SQLite, or PKI files kept. */
  readonly skipped: readonly string[];
  readonly tombstones: number;
  /** Tombstones made after the backup was taken. */
  readonly tombstonesNewerThanBackup: number;
  /** Legal holds in force before the restore that the backup lacked, kept in force (restore-holds.ts). */
  readonly holdsKept: number;
  /** Holds released after the backup that the backup had in force: released in the restored store too (`tenant/device`, `tenant/*`). */
  readonly holdsReleased: readonly string[];
  /** Releases the backup contradicts (not after it, yet newer than its hold): not carried, those holds stay in force. */
  readonly releasesNotCarried: readonly string[];
  readonly auditEntries: number;
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  const dataDir = o.resolvePath(o.config.dataDir);
  const holder = readLockHolder(dataDir);
  if (holder !== undefined) throw lockedError(holder, dataDir);
  if (!o.force && !isEmptyDataDir(dataDir, new Set(keyStorePaths(o.config, o.resolvePath)))) {
    throw new TiqError('TIQ_ERR_DATA_DIR_NOT_EMPTY', `${dataDir} holds data; add --force to restore over it`);
  }
  const lock = DataDirLock.acquire(dataDir, 'cli');
  const staging = join(dataDir, BACKUP_WORK_DIR, `restore-${randomBytes(6).toString('hex')}`);
  try {
    const live = [...await tombstonesOf(o.config, o.resolvePath), ...(await o.extraTombstones?.() ?? [])];
    const holds = await liveHoldDecisions(o.config, o.resolvePath);
    mkdirSync(staging, { recursive: true, mode: 0o700 });
    const extracted = await extractBackup(o.file, o.keys, staging, o.onProgress);
    const report = checkExtracted(staging, extracted);
    const placed = place(o, dataDir, staging, extracted.manifest.files);
    const backupTombstones = await tombstonesOf(o.config, o.resolvePath);
    const all = newestPerDevice([...backupTombstones, ...live]);
    await applyTombstones(o.config, o.resolvePath, all);
    await reapplyErasurePg(o.config, all);
    await recordTombstones(o.config, dataDir, all, new Set(backupTombstones.map((t) => `${deviceKey(t.tenantId, t.deviceId)}@${t.atMs}`)));
    const createdMs = Date.parse(report.createdAt);
    const newer = all.filter((t) => t.atMs > createdMs).length;
    const carried = await carryHoldDecisions(o.config, o.resolvePath, holds, createdMs);
    const auditEntries = auditRestore(dataDir, report, all.length, newer, carried);
    await reanchorAuditHead(o.config, dataDir);
    return {
      backup: report, restoredFiles: placed.restored, skipped: placed.skipped, tombstones: all.length, tombstonesNewerThanBackup: newer,
      holdsKept: carried.holdsKept, holdsReleased: carried.holdsReleased, releasesNotCarried: carried.releasesNotCarried, auditEntries,
    };
  } finally {
    rmSync(staging, { recursive: true, force: true });
    lock.release();
  }
}

/** Empty: nothing but the key store's files (which a backup never holds), an old lock, or leftovers of a backup. */
function isEmptyDataDir(dataDir: string, keyStore: ReadonlySet<string>): boolean {
  if (!existsSync(dataDir)) return true;
  return readdirSync(dataDir).every((name) => name === LOCK_FILE || name === BACKUP_WORK_DIR || keyStore.has(join(dataDir, name)));
}

/** The tombstones of a control store, read without creating one where none exists (the live one, before it is replaced). */
async function tombstonesOf(config: GatewayConfig, resolvePath: ResolvePath): Promise<ShredValue[]> {
  const sqlite = controlStorePath(config, resolvePath);
  if (sqlite !== undefined && !existsSync(sqlite)) return [];
  const store = await openControlStore(config.controlStore, resolvePath(config.dataDir));
  try {
    return [...store.entries('shred').values()];
  } finally {
    await store.close();
  }
}

function newestPerDevice(all: readonly ShredValue[]): ShredValue[] {
  const out = new Map<string, ShredValue>();
  for (const t of all) {
    const k = deviceKey(t.tenantId, t.deviceId);
    if ((out.get(k)?.atMs ?? -1) < t.atMs) out.set(k, t);
  }
  return [...out.values()];
}

/** Where each file of the backup goes in this configuration; moves it there. */
function place(o: RestoreOptions, dataDir: string, staging: string, files: readonly { path: string; role: string; sink?: string; mode: number }[]): { restored: number; skipped: string[] } {
  const sinks = new Map(sqliteSinks(o.config, o.resolvePath).map((s) => [s.sink, s.path]));
  const control = controlStorePath(o.config, o.resolvePath);
  const pkiDir = o.resolvePath(o.config.pkiDir);
  const auditDir = auditDirOf(dataDir);
  const skipped: string[] = [];
  let restored = 0;
  if (files.some((f) => f.role === 'audit') && existsSync(join(auditDir, AUDIT_FILE))) {
    renameSync(auditDir, join(dataDir, `audit-before-restore-${new Date((o.now ?? Date.now)()).toISOString().replace(/[:.]/g, '')}`));
  }
  for (const f of files) {
    const rel = f.path.slice(f.path.indexOf('/') + 1);
    const target = f.role === 'sqlite-sink' ? sinks.get(f.sink ?? '')
      : f.role === 'control-store' ? control
        : f.role === 'audit' ? join(auditDir, rel)
          : f.role === 'pki' ? join(pkiDir, rel) : join(dataDir, rel);
    if (target === undefined || (f.role === 'pki' && existsSync(target) && !o.force)) {
      skipped.push(f.path);
      continue;
    }
    mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
    // A database's old journal must not be replayed over the restored file.
    if (f.role === 'sqlite-sink' || f.role === 'control-store') for (const s of ['-wal', '-shm', '-journal']) rmSync(`${target}${s}`, { force: true });
    move(join(staging, f.path), target);
    // Certificates keep their mode (0644); everything else is owner-only.
    chmodSync(target, f.role === 'pki' ? f.mode & 0o644 : 0o600);
    restored++;
  }
  return { restored, skipped };
}

/** Rename, or copy where the target is on another file system (a PKI or sink path outside dataDir). */
function move(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
}

async function applyTombstones(config: GatewayConfig, resolvePath: ResolvePath, tombstones: readonly ShredValue[]): Promise<void> {
  if (tombstones.length === 0) return;
  for (const { sink, path } of sqliteSinks(config, resolvePath)) {
    if (!existsSync(path)) continue;
    const s = new SqliteSink(sink, { path, durability: 'fsync' });
    await s.start();
    let changed = 0;
    try {
      for (const t of tombstones) {
        changed += (await s.deleteDataKeys(t.tenantId, t.deviceId)).length;
        changed += await s.deleteDeviceRecords(t.tenantId, t.deviceId);
      }
    } finally {
      await s.close();
    }
    if (changed > 0) compact(path);
  }
}

/** Rewrites the file without free pages and empties its WAL: the deleted keys and rows leave no copy behind. */
function compact(path: string): void {
  const db = new BetterSqlite3(path);
  try {
    db.pragma('secure_delete = ON');
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

async function recordTombstones(config: GatewayConfig, dataDir: string, tombstones: readonly ShredValue[], present: ReadonlySet<string>): Promise<void> {
  const missing = tombstones.filter((t) => !present.has(`${deviceKey(t.tenantId, t.deviceId)}@${t.atMs}`));
  if (missing.length === 0) return;
  const store = await openControlStore(config.controlStore, dataDir);
  try {
    await store.write(missing.map((t) => ({ kind: 'shred' as const, key: deviceKey(t.tenantId, t.deviceId), value: t })), LOCAL_OPERATOR_ACTOR);
  } finally {
    await store.close();
  }
}

/**
 * The control store's audit head follows the restored log. A store the
 * restore replaced (SQLite) already matches it; a store it cannot replace
 * (PostgreSQL) still holds the head of the log the restore set aside, which
 * would refuse the next start (TIQ_ERR_AUDIT_HEAD). Moving the anchor back is
 * this explicit, audited operator action (the `backup.restore` entry just
 * written names the backup); nothing else ever moves it backwards.
 */
async function reanchorAuditHead(config: GatewayConfig, dataDir: string): Promise<void> {
  const log = new AuditLog(auditDirOf(dataDir));
  const head = log.head();
  const store = await openControlStore(config.controlStore, dataDir);
  try {
    const key = auditHeadKey(log.path);
    const stored = store.get('audit-head', key);
    if (stored?.seq === head.seq && stored.hash === head.hash) return;
    await store.put('audit-head', key, { seq: head.seq, hash: head.hash, time: new Date().toISOString(), entries: head.seq }, LOCAL_OPERATOR_ACTOR);
  } finally {
    await store.close();
  }
}

function auditRestore(dataDir: string, report: BackupReport, tombstones: number, newer: number, holds: HoldCarry): number {
  const path = join(auditDirOf(dataDir), AUDIT_FILE);
  if (existsSync(path)) {
    const v = verifyAuditLog(path);
    if (!v.ok) throw new TiqError('TIQ_ERR_AUDIT', `the restored audit log does not verify (${v.firstBreak?.reason ?? 'unknown'})`);
  }
  const log = new AuditLog(auditDirOf(dataDir));
  const entry = log.append({
    actor: LOCAL_OPERATOR_ACTOR, role: 'operator', action: 'backup.restore', target: '-', tenant: '', result: 'ok',
    detail: restoreAuditDetail({ createdAt: report.createdAt, tombstones, newer, holds }, log.pseudonyms),
  });
  return entry.seq;
}
