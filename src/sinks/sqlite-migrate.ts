/**
 * Brings a SQLite database made by an older gateway to the current schema.
 *
 * Version 2 adds `content_digest` to tiq_records and to its idempotency key
 * (docs/storage.md, "Idempotency"). SQLite cannot change a table's UNIQUE
 * constraint in place, so the table is rebuilt the way SQLite's manual
 * prescribes (https://www.sqlite.org/lang_altertable.html, "Making Other
 * Kinds Of Table Schema Changes"): create the new form, copy, drop the old,
 * rename, all in one transaction. Stored records keep an empty digest: none
 * of them collides with another (the old key was stricter), and a new
 * message's digest is never empty.
 */
import type { Database } from 'better-sqlite3';
import { RECORD_COLUMNS } from './record-row.ts';
import { sqliteRecordsTable } from './sqlite-schema.ts';

export const SQLITE_SCHEMA_VERSION = 2;

/** Columns the records table had before version 2. */
const V1_COLUMNS = RECORD_COLUMNS.filter((c) => c !== 'content_digest');

function needsDigestColumn(db: Database): boolean {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tiq_records'").get();
  if (!table) return false;
  const columns = db.prepare('PRAGMA table_info(tiq_records)').all() as { name: string }[];
  return !columns.some((c) => c.name === 'content_digest');
}

/** Idempotent; runs under BEGIN IMMEDIATE so a CLI and a gateway opening together migrate once. */
export function migrateSqliteSchema(db: Database): void {
  if (!needsDigestColumn(db)) return;
  db.transaction(() => {
    if (!needsDigestColumn(db)) return;
    db.exec(sqliteRecordsTable('tiq_records_v2'));
    db.exec(`INSERT INTO tiq_records_v2 (${V1_COLUMNS.join(', ')}, content_digest)
      SELECT ${V1_COLUMNS.join(', ')}, X'' FROM tiq_records`);
    db.exec('DROP TABLE tiq_records');
    db.exec('ALTER TABLE tiq_records_v2 RENAME TO tiq_records');
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  }).immediate();
}
