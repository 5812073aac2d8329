// The SQLite columns and indexes of schema versions 1 and 2 (version 2 added content_digest and widened the key).
const SQLITE_V1_COLUMNS = `
  tenant_id TEXT NOT NULL, device_id TEXT NOT NULL, stream TEXT NOT NULL, record_id TEXT NOT NULL UNIQUE,
  sequence INTEGER NOT NULL, device_time_ms INTEGER NOT NULL, received_at_ms INTEGER NOT NULL, format_version INTEGER NOT NULL,
  dek_id TEXT NOT NULL, kek_ref TEXT NOT NULL, iv BLOB NOT NULL CHECK (length(iv) = 12), ciphertext BLOB NOT NULL,
  tag BLOB NOT NULL CHECK (length(tag) = 16), encoding TEXT NOT NULL CHECK (encoding IN ('protobuf', 'json')),
  policy_id TEXT NOT NULL, policy_version INTEGER NOT NULL, retention_class TEXT NOT NULL, expires_at_ms INTEGER NOT NULL,
  legal_hold INTEGER NOT NULL CHECK (legal_hold IN (0, 1)),
`.slice(1);
const SQLITE_INDEXES = `
CREATE INDEX tiq_records_by_time ON tiq_records (tenant_id, received_at_ms, record_id);
CREATE INDEX tiq_records_by_expiry ON tiq_records (expires_at_ms);
`.slice(1);

/** The records tables as gateways before schema version 2 made them (idempotency key without the content digest). */
export const SQLITE_V1_RECORDS = `
CREATE TABLE tiq_records (
${SQLITE_V1_COLUMNS}  UNIQUE (tenant_id, device_id, stream, sequence)
);
${SQLITE_INDEXES}`;

export const PG_V1_RECORDS = `
CREATE TABLE tiq_records (
  tenant_id text NOT NULL, device_id text NOT NULL, stream text NOT NULL, record_id text COLLATE "C" NOT NULL,
  sequence bigint NOT NULL, device_time_ms bigint NOT NULL, received_at_ms bigint NOT NULL, format_version integer NOT NULL,
  dek_id text NOT NULL, kek_ref text NOT NULL, iv bytea NOT NULL CHECK (octet_length(iv) = 12), ciphertext bytea NOT NULL,
  tag bytea NOT NULL CHECK (octet_length(tag) = 16), encoding text NOT NULL CHECK (encoding IN ('protobuf', 'json')),
  policy_id text NOT NULL, policy_version integer NOT NULL, retention_class text NOT NULL, expires_at_ms bigint NOT NULL,
  legal_hold boolean NOT NULL
) PARTITION BY RANGE (expires_at_ms);
CREATE INDEX tiq_records_by_time ON tiq_records (tenant_id, received_at_ms, record_id);
CREATE INDEX tiq_records_by_id ON tiq_records (record_id);
CREATE INDEX tiq_records_by_key ON tiq_records (tenant_id, device_id, stream, sequence);
CREATE TABLE tiq_record_keys (
  tenant_id text NOT NULL, device_id text NOT NULL, stream text NOT NULL, sequence bigint NOT NULL, record_id text NOT NULL,
  PRIMARY KEY (tenant_id, device_id, stream, sequence)
);
`;

/** Column values of a v1 row, in the v1 column order. */
export const V1_COLUMNS = [
  'tenant_id', 'device_id', 'stream', 'record_id', 'sequence', 'device_time_ms', 'received_at_ms',
  'format_version', 'dek_id', 'kek_ref', 'iv', 'ciphertext', 'tag', 'encoding',
  'policy_id', 'policy_version', 'retention_class', 'expires_at_ms', 'legal_hold',
] as const;

/** The SQLite records table as gateways at schema version 2 made it: record_id still UNIQUE (dropped in version 3). */
export const SQLITE_V2_RECORDS = `
CREATE TABLE tiq_records (
${SQLITE_V1_COLUMNS}  content_digest BLOB NOT NULL DEFAULT X'',
  UNIQUE (tenant_id, device_id, stream, sequence, content_digest)
);
${SQLITE_INDEXES}PRAGMA user_version = 2;
`;
