/**
 * The PostgreSQL sink's batch insert as one statement of fixed text: every
 * column travels as one array parameter and `unnest` turns the arrays back
 * into rows (https://www.postgresql.org/docs/current/functions-array.html).
 *
 * Compared with a VALUES list of placeholders (20 per record) this keeps the
 * statement the same for every batch, so it is parsed and planned once per
 * connection (a named prepared statement), sends 20 parameters whatever the
 * batch size (the extended protocol counts parameters in 16 bits, so a
 * VALUES list failed beyond 3276 records, below the default batch size), and
 * claims the idempotency keys and inserts the fresh records in one round trip:
 * the key insert is a data-modifying CTE whose RETURNING rows select the
 * records to insert (https://www.postgresql.org/docs/current/queries-with.html#QUERIES-WITH-MODIFYING).
 */
import type { SealedRecord } from '../records/message.ts';
import { RECORD_COLUMNS } from './record-row.ts';

/** The SQL array type of each records column, in RECORD_COLUMNS order. */
const COLUMN_TYPES: Readonly<Record<(typeof RECORD_COLUMNS)[number], string>> = {
  tenant_id: 'text', device_id: 'text', stream: 'text', record_id: 'text', sequence: 'bigint', device_time_ms: 'bigint',
  received_at_ms: 'bigint', format_version: 'integer', dek_id: 'text', kek_ref: 'text', iv: 'bytea', ciphertext: 'bytea',
  tag: 'bytea', encoding: 'text', policy_id: 'text', policy_version: 'integer', retention_class: 'text', expires_at_ms: 'bigint',
  legal_hold: 'boolean', content_digest: 'bytea',
};

const unnestArgs = RECORD_COLUMNS.map((c, i) => `$${i + 1}::${COLUMN_TYPES[c]}[]`).join(', ');
const columnList = RECORD_COLUMNS.join(', ');

/**
 * Two copies of one message in the same batch carry different record ids:
 * ON CONFLICT DO NOTHING skips the second within the statement, so only one
 * record id comes back from the key insert and only that copy is stored.
 */
export const INSERT_BATCH_SQL = `WITH input AS (
  SELECT * FROM unnest(${unnestArgs}) AS t(${columnList})
), claimed AS (
  INSERT INTO tiq_record_keys (tenant_id, device_id, stream, sequence, content_digest, record_id)
  SELECT tenant_id, device_id, stream, sequence, content_digest, record_id FROM input
  ON CONFLICT DO NOTHING RETURNING record_id
)
INSERT INTO tiq_records (${columnList})
SELECT ${RECORD_COLUMNS.map((c) => `input.${c}`).join(', ')} FROM input JOIN claimed USING (record_id)
RETURNING record_id`;

/** Named: pg prepares it once per connection and then sends only Bind/Execute. */
export const INSERT_BATCH_NAME = 'tiq_insert_batch_v1';

/**
 * Array literals (https://www.postgresql.org/docs/current/arrays.html#ARRAYS-IO)
 * built here in one pass per column: pg's generic encoder runs two regular
 * expressions over every element and re-checks each value's type; ids rarely
 * hold a quote or backslash, so most elements are copied as they are.
 */
function textArray(values: readonly string[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const escaped = v.includes('\\') || v.includes('"') ? v.replace(/[\\"]/g, '\\$&') : v;
    out += i === 0 ? `"${escaped}"` : `,"${escaped}"`;
  }
  return `${out}}`;
}

/** bytea elements in hex form; the backslash itself escaped inside the array literal. */
function byteaArray(values: readonly Buffer[]): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) out += `${i === 0 ? '' : ','}"\\\\x${values[i]!.toString('hex')}"`;
  return `${out}}`;
}

function numberArray(values: readonly (number | boolean)[]): string {
  return `{${values.join(',')}}`;
}

/** One array literal per column, in RECORD_COLUMNS order. */
export function batchColumns(records: readonly SealedRecord[]): string[] {
  const text = (f: (r: SealedRecord) => string): string => textArray(records.map(f));
  const bytes = (f: (r: SealedRecord) => Buffer): string => byteaArray(records.map(f));
  const nums = (f: (r: SealedRecord) => number | boolean): string => numberArray(records.map(f));
  return [
    text((r) => r.tenantId), text((r) => r.deviceId), text((r) => r.stream), text((r) => r.recordId),
    nums((r) => r.sequence), nums((r) => r.deviceTimeMs), nums((r) => r.receivedAtMs), nums((r) => r.formatVersion),
    text((r) => r.dekId), text((r) => r.kekRef), bytes((r) => r.iv), bytes((r) => r.ciphertext),
    bytes((r) => r.tag), text((r) => r.encoding), text((r) => r.policyId), nums((r) => r.policyVersion),
    text((r) => r.retentionClass), nums((r) => r.expiresAtMs), nums((r) => r.legalHold), bytes((r) => r.contentDigest),
  ];
}
