/**
 * The wire format between the SQLite sink and its writer thread: one batch of
 * SealedRecords packed into one contiguous run of bytes, written straight
 * into the shared ring the thread reads (record-ring.ts): no structured
 * clone, no object per field, no copy of the Node buffer pool slabs that IVs
 * and ciphertexts may be views of.
 *
 * Per record, in RECORD_COLUMNS order: strings as uint32 byte length + UTF-8,
 * integers as float64 (every field is a safe integer, checked before), byte
 * fields as uint32 length + bytes, legal_hold as one byte. Little-endian.
 * The strings that repeat across a batch (tenant, device, stream, key ids,
 * policy, retention class) are written once: a later occurrence is its index
 * in the batch's string table with the top bit set, so neither side encodes
 * or decodes the same UTF-8 again (a batch holds a few devices' records).
 */
import type { SealedRecord } from '../records/message.ts';

/** Fixed bytes per record: 9 string and 4 byte-field length prefixes, 6 float64s, 1 flag. */
const FIXED_BYTES = 13 * 4 + 6 * 8 + 1;
const HEADER_BYTES = 4;

/** An upper bound: a UTF-16 code unit never takes more than 3 UTF-8 bytes. */
function maxStringBytes(r: SealedRecord): number {
  return 3 * (r.tenantId.length + r.deviceId.length + r.stream.length + r.recordId.length + r.dekId.length
    + r.kekRef.length + r.encoding.length + r.policyId.length + r.retentionClass.length);
}

/** Top bit of a string's length word: the rest is an index into the batch's string table. */
const REF = 0x8000_0000;

class Writer {
  at = HEADER_BYTES;
  readonly #seen = new Map<string, number>();
  constructor(readonly buf: Buffer) {}
  str(s: string): void {
    const n = this.buf.write(s, this.at + 4, 'utf8');
    this.buf.writeUInt32LE(n, this.at);
    this.at += 4 + n;
  }
  /** A string likely to repeat in the batch: the first occurrence in full, later ones by reference. */
  shared(s: string): void {
    const ref = this.#seen.get(s);
    if (ref !== undefined) {
      this.at = this.buf.writeUInt32LE((REF | ref) >>> 0, this.at);
      return;
    }
    this.#seen.set(s, this.#seen.size);
    this.str(s);
  }
  num(n: number): void {
    this.at = this.buf.writeDoubleLE(n, this.at);
  }
  bytes(b: Buffer): void {
    this.at = this.buf.writeUInt32LE(b.length, this.at);
    this.at += b.copy(this.buf, this.at);
  }
}

/** An upper bound of a batch's packed size, to reserve room before packing. */
export function recordBatchBound(records: readonly SealedRecord[]): number {
  let size = HEADER_BYTES;
  for (const r of records) size += FIXED_BYTES + maxStringBytes(r) + r.iv.length + r.ciphertext.length + r.tag.length + r.contentDigest.length;
  return size;
}

/** Packs records (already checked by assertStorableRecord) into `into` (at least recordBatchBound long); returns the bytes used. */
export function encodeRecordBatchInto(records: readonly SealedRecord[], into: Buffer): number {
  const w = new Writer(into);
  w.buf.writeUInt32LE(records.length, 0);
  for (const r of records) {
    w.shared(r.tenantId); w.shared(r.deviceId); w.shared(r.stream); w.str(r.recordId);
    w.num(r.sequence); w.num(r.deviceTimeMs); w.num(r.receivedAtMs); w.num(r.formatVersion);
    w.shared(r.dekId); w.shared(r.kekRef);
    w.bytes(r.iv); w.bytes(r.ciphertext); w.bytes(r.tag);
    w.shared(r.encoding); w.shared(r.policyId);
    w.num(r.policyVersion);
    w.shared(r.retentionClass);
    w.num(r.expiresAtMs);
    w.buf[w.at++] = r.legalHold ? 1 : 0;
    w.bytes(r.contentDigest);
  }
  return w.at;
}

export type RowValues = (string | number | Buffer)[];

/**
 * Unpacks a batch into positional values for the INSERT, in RECORD_COLUMNS
 * order (legal_hold as 0/1). Byte fields are views of `packed`: valid as long
 * as it is.
 */
export function decodeRecordBatch(packed: Buffer): RowValues[] {
  const buf = packed;
  let at = HEADER_BYTES;
  const table: string[] = [];
  const str = (): string => {
    const n = buf.readUInt32LE(at);
    at += 4 + n;
    return buf.toString('utf8', at - n, at);
  };
  const shared = (): string => {
    const n = buf.readUInt32LE(at);
    if (n & REF) {
      at += 4;
      const s = table[n & ~REF];
      if (s === undefined) throw new RangeError('record batch: string reference out of range');
      return s;
    }
    const s = str();
    table.push(s);
    return s;
  };
  const num = (): number => {
    const n = buf.readDoubleLE(at);
    at += 8;
    return n;
  };
  const bytes = (): Buffer => {
    const n = buf.readUInt32LE(at);
    at += 4 + n;
    return buf.subarray(at - n, at);
  };
  const count = buf.readUInt32LE(0);
  const rows: RowValues[] = new Array<RowValues>(count);
  for (let i = 0; i < count; i++) {
    rows[i] = [
      shared(), shared(), shared(), str(), num(), num(), num(), num(), shared(), shared(),
      bytes(), bytes(), bytes(), shared(), shared(), num(), shared(), num(), buf[at++]!, bytes(),
    ];
  }
  return rows;
}
