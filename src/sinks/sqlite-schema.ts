/**
 * Tables of the SQLite sink. Idempotency is the UNIQUE key on (tenant,
 * device, stream, sequence, content digest): see docs/storage.md. Every
 * stored row writes four B-trees: the table, that key, and the time and
 * expiry indexes; record_id has no index of its own (no query looks a record
 * up by id, and ids are time-ordered UUID v7 with 74 random bits). Older
 * databases are migrated by sqlite-migrate.ts.
 */
import { RECORD_COLUMNS } from './record-row.ts';

/** The records table, named so a migration can build the new form beside the old one. */
export function sqliteRecordsTable(name: string): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (
  tenant_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  record_id TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  device_time_ms INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  format_version INTEGER NOT NULL,
  dek_id TEXT NOT NULL,
  kek_ref TEXT NOT NULL,
  iv BLOB NOT NULL CHECK (length(iv) = 12),
  ciphertext BLOB NOT NULL,
  tag BLOB NOT NULL CHECK (length(tag) = 16),
  encoding TEXT NOT NULL CHECK (encoding IN ('protobuf', 'json')),
  policy_id TEXT NOT NULL,
  policy_version INTEGER NOT NULL,
  retention_class TEXT NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  legal_hold INTEGER NOT NULL CHECK (legal_hold IN (0, 1)),
  content_digest BLOB NOT NULL DEFAULT X'',
  UNIQUE (tenant_id, device_id, stream, sequence, content_digest)
);`;
}

/** The one INSERT of a record, shared by the writer thread and the in-thread (`:memory:`) path. */
export const SQLITE_INSERT_RECORD = `INSERT INTO tiq_records (${RECORD_COLUMNS.join(', ')}) VALUES (${RECORD_COLUMNS.map(() => '?').join(', ')})
  ON CONFLICT (tenant_id, device_id, stream, sequence, content_digest) DO NOTHING`;

export const SQLITE_SCHEMA = `
${sqliteRecordsTable('tiq_records')}
CREATE INDEX IF NOT EXISTS tiq_records_by_time ON tiq_records (tenant_id, received_at_ms, record_id);
CREATE INDEX IF NOT EXISTS tiq_records_by_expiry ON tiq_records (expires_at_ms);
CREATE TABLE IF NOT EXISTS tiq_data_keys (
  tenant_id TEXT NOT NULL,
  dek_id TEXT NOT NULL,
  device_id TEXT NOT NULL,
  kek_ref TEXT NOT NULL,
  wrapped BLOB NOT NULL,
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, dek_id)
);
CREATE INDEX IF NOT EXISTS tiq_data_keys_by_device ON tiq_data_keys (tenant_id, device_id);
CREATE TABLE IF NOT EXISTS tiq_retention_rules (
  tenant_id TEXT NOT NULL,
  stream TEXT NOT NULL,
  device_group TEXT NOT NULL DEFAULT '',
  retention_class TEXT NOT NULL,
  days INTEGER NOT NULL,
  changed_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, stream, device_group)
);
CREATE TABLE IF NOT EXISTS tiq_legal_holds (
  tenant_id TEXT NOT NULL,
  device_id TEXT NOT NULL DEFAULT '',
  held INTEGER NOT NULL,
  changed_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
`;
