/**
 * `backup verify`: everything a restore would rely on, checked without
 * restoring. Every frame authenticates (a flipped byte, a truncated or
 * reordered file fails), every file matches its digest in the manifest,
 * every SQLite file passes `PRAGMA integrity_check`, and the audit log's
 * keyed chain verifies against its checkpoint. PostgreSQL sinks are not in
 * the file; they are listed, to be covered by pg_dump or PITR.
 */
import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUDIT_FILE } from '../audit/audit-log.ts';
import { verifyAuditLog } from '../audit/verify-audit-log.ts';
import { TiqError } from '../errors.ts';
import type { BackupKeySettings } from './backup-key.ts';
import type { BackupManifest } from './create-backup.ts';
import { extractBackup, type ExtractedBackup } from './read-backup.ts';

export interface BackupReport {
  readonly ok: true;
  readonly createdAt: string;
  readonly kekRef: string;
  readonly bytes: number;
  readonly files: number;
  readonly sinks: BackupManifest['sinks'];
  /** PostgreSQL sinks: not in the backup file (pg_dump or PITR cover them). */
  readonly notIncluded: readonly string[];
  readonly controlStore: BackupManifest['controlStore'];
  readonly newestTombstoneAtMs: number | null;
  readonly audit: { readonly entries: number; readonly head: { readonly seq: number; readonly hash: string } } | null;
}

/** Checks an extracted backup in `dir`: SQLite integrity and the audit chain. Throws TIQ_ERR_BACKUP_CORRUPT. */
export function checkExtracted(dir: string, extracted: ExtractedBackup): BackupReport {
  const m = extracted.manifest;
  for (const f of m.files.filter((x) => x.role === 'sqlite-sink' || x.role === 'control-store')) {
    const db = new BetterSqlite3(join(dir, f.path), { readonly: true, fileMustExist: true });
    try {
      const rows = db.pragma('integrity_check') as { integrity_check: string }[];
      if (rows.length !== 1 || rows[0]!.integrity_check !== 'ok') throw new TiqError('TIQ_ERR_BACKUP_CORRUPT', { check: 'integrity', file: f.path });
    } catch (err) {
      throw err instanceof TiqError ? err : new TiqError('TIQ_ERR_BACKUP_CORRUPT', { check: 'integrity', file: f.path, reason: (err as Error).message });
    } finally {
      db.close();
    }
  }
  let audit: BackupReport['audit'] = null;
  if (m.files.some((f) => f.path === `audit/${AUDIT_FILE}`)) {
    const v = verifyAuditLog(join(dir, 'audit', AUDIT_FILE));
    if (!v.ok) throw new TiqError('TIQ_ERR_BACKUP_CORRUPT', { check: 'audit', reason: v.firstBreak?.reason, line: v.firstBreak?.line });
    audit = { entries: v.entries, head: v.head };
  }
  return {
    ok: true, createdAt: m.createdAt, kekRef: extracted.header.kekRef, bytes: extracted.bytes, files: m.files.length, sinks: m.sinks,
    notIncluded: m.sinks.filter((s) => !s.included).map((s) => s.name), controlStore: m.controlStore,
    newestTombstoneAtMs: m.newestTombstoneAtMs, audit,
  };
}

export async function verifyBackup(file: string, keys: BackupKeySettings, onProgress?: (done: number, total: number) => void): Promise<BackupReport> {
  // Decrypted copies exist only in an owner-only directory, removed whatever happens.
  const dir = mkdtempSync(join(tmpdir(), 'thingiq-verify-'));
  try {
    const extracted = await extractBackup(file, keys, dir, onProgress);
    return checkExtracted(dir, extracted);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
