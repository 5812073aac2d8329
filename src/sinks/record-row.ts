/**
 * The one mapping between a SealedRecord and a table row, shared by both
 * sinks so they store exactly the same fields: ciphertext, never plaintext.
 */
import { TiqError } from '../errors.ts';
import type { SealedRecord } from '../records/message.ts';

/** Column order of the records table in both sinks. */
export const RECORD_COLUMNS = [
  'tenant_id', 'device_id', 'stream', 'record_id', 'sequence', 'device_time_ms', 'received_at_ms',
  'format_version', 'dek_id', 'kek_ref', 'iv', 'ciphertext', 'tag', 'encoding',
  'policy_id', 'policy_version', 'retention_class', 'expires_at_ms', 'legal_hold', 'content_digest',
] as const;

export type RecordValue = string | number | boolean | Buffer;

export function recordToValues(r: SealedRecord): RecordValue[] {
  return [
    r.tenantId, r.deviceId, r.stream, r.recordId, r.sequence, r.deviceTimeMs, r.receivedAtMs,
    r.formatVersion, r.dekId, r.kekRef, r.iv, r.ciphertext, r.tag, r.encoding,
    r.policyId, r.policyVersion, r.retentionClass, r.expiresAtMs, r.legalHold, r.contentDigest,
  ];
}

/** pg returns bigint columns as strings; SQLite returns numbers. Both are safe integers here. */
function num(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function rowToRecord(row: Record<string, unknown>): SealedRecord {
  return {
    tenantId: String(row.tenant_id),
    deviceId: String(row.device_id),
    stream: String(row.stream),
    recordId: String(row.record_id),
    sequence: num(row.sequence),
    deviceTimeMs: num(row.device_time_ms),
    receivedAtMs: num(row.received_at_ms),
    formatVersion: num(row.format_version),
    dekId: String(row.dek_id),
    kekRef: String(row.kek_ref),
    iv: Buffer.from(row.iv as Uint8Array),
    ciphertext: Buffer.from(row.ciphertext as Uint8Array),
    tag: Buffer.from(row.tag as Uint8Array),
    encoding: row.encoding === 'json' ? 'json' : 'protobuf',
    policyId: String(row.policy_id),
    policyVersion: num(row.policy_version),
    retentionClass: String(row.retention_class),
    expiresAtMs: num(row.expires_at_ms),
    legalHold: row.legal_hold === true || row.legal_hold === 1,
    contentDigest: row.content_digest ? Buffer.from(row.content_digest as Uint8Array) : Buffer.alloc(0),
  };
}

/** A non-empty string without NUL: PostgreSQL text cannot hold NUL, and an empty id would defeat idempotency. */
function isId(v: unknown): boolean {
  return typeof v === 'string' && v !== '' && !v.includes('\u0000');
}

/** The first field no sink could store faithfully, or undefined. Plain field reads: it runs for every record. */
function unstorableField(r: SealedRecord): string | undefined {
  if (!isId(r.tenantId)) return 'tenantId';
  if (!isId(r.deviceId)) return 'deviceId';
  if (!isId(r.stream)) return 'stream';
  if (!isId(r.recordId)) return 'recordId';
  if (!isId(r.dekId)) return 'dekId';
  if (!isId(r.kekRef)) return 'kekRef';
  if (!isId(r.policyId)) return 'policyId';
  if (!isId(r.retentionClass)) return 'retentionClass';
  if (!Number.isSafeInteger(r.sequence)) return 'sequence';
  if (!Number.isSafeInteger(r.deviceTimeMs)) return 'deviceTimeMs';
  if (!Number.isSafeInteger(r.receivedAtMs)) return 'receivedAtMs';
  if (!Number.isSafeInteger(r.formatVersion)) return 'formatVersion';
  if (!Number.isSafeInteger(r.policyVersion)) return 'policyVersion';
  if (!Number.isSafeInteger(r.expiresAtMs)) return 'expiresAtMs';
  if (!Buffer.isBuffer(r.iv)) return 'iv';
  if (!Buffer.isBuffer(r.ciphertext)) return 'ciphertext';
  if (!Buffer.isBuffer(r.tag)) return 'tag';
  if (!Buffer.isBuffer(r.contentDigest)) return 'contentDigest';
  if (r.encoding !== 'json' && r.encoding !== 'protobuf') return 'encoding';
  if (typeof r.legalHold !== 'boolean') return 'legalHold';
  return undefined;
}

/**
 * Refuses a record no sink could store faithfully. Buffer lengths (12-byte IV,
 * 16-byte tag) are left to the tables' CHECK constraints.
 */
export function assertStorableRecord(r: SealedRecord): void {
  const field = unstorableField(r);
  if (field !== undefined) throw new TiqError('TIQ_ERR_INTERNAL', { reason: 'sealed record not storable', field });
}

/** The idempotency key of a record, as one string. */
export function idempotencyKey(r: { tenantId: string; deviceId: string; stream: string; sequence: number; contentDigest: Buffer }): string {
  return `${r.tenantId}\u0000${r.deviceId}\u0000${r.stream}\u0000${r.sequence}\u0000${r.contentDigest.toString('hex')}`;
}
