/**
 * Tables of the PostgreSQL sink.
 *
 * tiq_records is range-partitioned by expires_at_ms, one partition per UTC day
 * (PostgreSQL declarative partitioning), so the sweeper can drop a day whose
 * records have all expired instead of deleting them row by row. A unique index
 * on a partitioned table must contain the partition key, and a redelivery can
 * get a different expiry, so idempotency lives in the unpartitioned
 * tiq_record_keys table, written in the same transaction. The key is
 * (tenant, device, stream, sequence, content digest): see docs/storage.md,
 * "Idempotency". PG_MIGRATIONS brings databases made before the digest
 * existed to this form; every statement is a no-op on a current database.
 *
 * Ids sort with COLLATE "C" (byte order, as SQLite does) so keyset pages are
 * the same on both sinks.
 */
export const PG_SCHEMA = `
CREATE TABLE IF NOT EXISTS tiq_records (
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  stream text NOT NULL,
  record_id text COLLATE "C" NOT NULL,
  sequence bigint NOT NULL,
  device_time_ms bigint NOT NULL,
  received_at_ms bigint NOT NULL,
  format_version integer NOT NULL,
  dek_id text NOT NULL,
  kek_ref text NOT NULL,
  iv bytea NOT NULL CHECK (octet_length(iv) = 12),
  ciphertext bytea NOT NULL,
  tag bytea NOT NULL CHECK (octet_length(tag) = 16),
  encoding text NOT NULL CHECK (encoding IN ('protobuf', 'json')),
  policy_id text NOT NULL,
  policy_version integer NOT NULL,
  retention_class text NOT NULL,
  expires_at_ms bigint NOT NULL,
  legal_hold boolean NOT NULL,
  content_digest bytea NOT NULL DEFAULT ''::bytea
) PARTITION BY RANGE (expires_at_ms);
CREATE INDEX IF NOT EXISTS tiq_records_by_time ON tiq_records (tenant_id, received_at_ms, record_id);
CREATE INDEX IF NOT EXISTS tiq_records_by_id ON tiq_records (record_id);
CREATE INDEX IF NOT EXISTS tiq_records_by_key ON tiq_records (tenant_id, device_id, stream, sequence);
CREATE TABLE IF NOT EXISTS tiq_record_keys (
  tenant_id text NOT NULL,
  device_id text NOT NULL,
  stream text NOT NULL,
  sequence bigint NOT NULL,
  record_id text NOT NULL,
  content_digest bytea NOT NULL DEFAULT ''::bytea,
  PRIMARY KEY (tenant_id, device_id, stream, sequence, content_digest)
);
CREATE TABLE IF NOT EXISTS tiq_data_keys (
  tenant_id text NOT NULL,
  dek_id text COLLATE "C" NOT NULL,
  device_id text NOT NULL,
  kek_ref text NOT NULL,
  wrapped bytea NOT NULL,
  created_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, dek_id)
);
CREATE INDEX IF NOT EXISTS tiq_data_keys_by_device ON tiq_data_keys (tenant_id, device_id);
CREATE TABLE IF NOT EXISTS tiq_retention_rules (
  tenant_id text NOT NULL,
  stream text NOT NULL,
  device_group text NOT NULL DEFAULT '',
  retention_class text NOT NULL,
  days integer NOT NULL,
  changed_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, stream, device_group)
);
CREATE TABLE IF NOT EXISTS tiq_legal_holds (
  tenant_id text NOT NULL,
  device_id text NOT NULL DEFAULT '',
  held boolean NOT NULL,
  changed_at_ms bigint NOT NULL,
  PRIMARY KEY (tenant_id, device_id)
);
`;

/**
 * Version 2: the content digest joins the idempotency key. Stored records and
 * keys get an empty digest (no two of them collide: the old key was
 * stricter), so a redelivery of a record stored before the upgrade may be
 * stored a second time; no message is lost.
 */
export const PG_MIGRATIONS = `
ALTER TABLE tiq_records ADD COLUMN IF NOT EXISTS content_digest bytea NOT NULL DEFAULT ''::bytea;
ALTER TABLE tiq_record_keys ADD COLUMN IF NOT EXISTS content_digest bytea NOT NULL DEFAULT ''::bytea;
DO $$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = 'tiq_record_keys'::regclass AND i.indisprimary AND a.attname = 'content_digest'
  ) THEN
    ALTER TABLE tiq_record_keys DROP CONSTRAINT tiq_record_keys_pkey,
      ADD PRIMARY KEY (tenant_id, device_id, stream, sequence, content_digest);
  END IF;
END $$;
`;

/** Serializes DDL (schema creation, partition creation and drop) across gateway and CLI processes. */
export const DDL_LOCK_KEY = 0x7469_7100;

export const DAY_MS = 86_400_000;

export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** tiq_records_d20250131: the UTC day of expiry the partition holds. */
export function partitionName(day: number): string {
  return `tiq_records_d${new Date(day * DAY_MS).toISOString().slice(0, 10).replaceAll('-', '')}`;
}

export function dayOfPartition(name: string): number | undefined {
  const m = /^tiq_records_d(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (!m) return undefined;
  return dayOf(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
}
