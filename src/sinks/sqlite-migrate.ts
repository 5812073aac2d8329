/**
 * Brings a SQLite database made by an older gateway to the current schema.
 *
 * Version 2 adds `content_digest` to tiq_records and to its idempotency key
 * (docs/storage.md, "Idempotency"). Version 3 drops the UNIQUE constraint on
 * `record_id`: no query looks a record up by its id (retention works on
 * rowids, reads by tenant and time), ids are UUID v7 with 74 bits from the
 * CSPRNG (record-id.ts), and the idempotency key, not the id, is what keeps a
 * redelivery from being stored twice; the index was a fifth B-tree written
 * by every insert (docs/benchmark.md).
 *
 * SQLite cannot change a table's constraints in place, so the table is
 * rebuilt the way SQLite's manual prescribes
 * (https://www.sqlite.org/lang_altertable.html, "Making Other Kinds Of Table
 * Schema Changes"): create the new form, copy, drop the old, rename, all in
 * one transaction; the indexes are then recreated by SQLITE_SCHEMA. Records
 * stored before version 2 keep an empty digest: none of them collides with
 * another (the old key was stricter), and a new message's digest is never empty.
 */
import type { Database } from 'better-sqlite3';
import { RECORD_COLUMNS } from './record-row.ts';
import { sqliteRecordsTable } from './sqlite-schema.ts';

export const SQLITE_SCHEMA_VERSION = 3;

/** Columns the records table had before version 2. */
const V1_COLUMNS = RECORD_COLUMNS.filter((c) => c !== 'content_digest');

function hasRecordsTable(db: Database): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tiq_records'").get() !== undefined;
}

function hasDigestColumn(db: Database): boolean {
  const columns = db.prepare('PRAGMA table_info(tiq_records)').all() as { name: string }[];
  return columns.some((c) => c.name === 'content_digest');
}

/** A UNIQUE constraint (origin 'u') on record_id alone: what versions 1 and 2 declared. */
function hasUniqueRecordId(db: Database): boolean {
  const indexes = db.prepare('PRAGMA index_list(tiq_records)').all() as { name: string; origin: string }[];
  return indexes.some((ix) => {
    if (ix.origin !== 'u') return false;
    const cols = db.prepare(`PRAGMA index_info(${JSON.stringify(ix.name)})`).all() as { name: string }[];
    return cols.length === 1 && cols[0]!.name === 'record_id';
  });
}

function needsRebuild(db: Database): boolean {
  return hasRecordsTable(db) && (!hasDigestColumn(db) || hasUniqueRecordId(db));
}

/** Idempotent; runs under BEGIN IMMEDIATE so a CLI and a gateway opening together migrate once. */
export function migrateSqliteSchema(db: Database): void {
  if (!needsRebuild(db)) return;
  db.transaction(() => {
    if (!needsRebuild(db)) return;
    const values = hasDigestColumn(db) ? RECORD_COLUMNS.join(', ') : `${V1_COLUMNS.join(', ')}, X''`;
    db.exec('DROP TABLE IF EXISTS tiq_records_next');
    db.exec(sqliteRecordsTable('tiq_records_next'));
    db.exec(`INSERT INTO tiq_records_next (${RECORD_COLUMNS.join(', ')}) SELECT ${values} FROM tiq_records`);
    db.exec('DROP TABLE tiq_records');
    db.exec('ALTER TABLE tiq_records_next RENAME TO tiq_records');
    db.pragma(`user_version = ${SQLITE_SCHEMA_VERSION}`);
  }).immediate();
}
