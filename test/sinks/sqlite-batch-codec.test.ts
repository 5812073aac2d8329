/**
 * The batch format between the SQLite sink and its writer thread: every
 * record comes back with the values the INSERT binds, in RECORD_COLUMNS
 * order, whether its strings were written in full or as references to an
 * earlier record of the batch.
 */
import { describe, expect, test } from 'vitest';
import { RECORD_COLUMNS, recordToValues } from '../../src/sinks/record-row.ts';
import type { SealedRecord } from '../../src/records/message.ts';
import { decodeRecordBatch, encodeRecordBatchInto, recordBatchBound } from '../../src/sinks/sqlite-batch-codec.ts';

/** Packs a batch into a buffer of its own, as the writer ring does into its shared memory. */
function encodeRecordBatch(records: readonly SealedRecord[]): { buffer: ArrayBuffer; byteLength: number } {
  const buffer = new ArrayBuffer(recordBatchBound(records));
  return { buffer, byteLength: encodeRecordBatchInto(records, Buffer.from(buffer)) };
}
import { record } from './fixtures.ts';

const asRow = (r: ReturnType<typeof record>) => recordToValues(r).map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v));

describe('SQLite record batch codec', () => {
  test('round-trips records that share and do not share strings, in order', () => {
    const records = [
      record({ deviceId: 'truck-1', sequence: 1 }),
      record({ deviceId: 'truck-2', sequence: 1, legalHold: true }),
      record({ deviceId: 'truck-1', sequence: 2, policyId: 'pol-ü-2', retentionClass: 'class-€' }),
      record({ deviceId: 'truck-3', stream: 'engine', sequence: 9, encoding: 'json', contentDigest: Buffer.alloc(0) }),
      record({ deviceId: 'truck-1', sequence: 3 }),
    ];
    const { buffer, byteLength } = encodeRecordBatch(records);
    const rows = decodeRecordBatch(Buffer.from(buffer, 0, byteLength));
    expect(rows).toHaveLength(records.length);
    for (const [i, r] of records.entries()) {
      expect(rows[i]).toHaveLength(RECORD_COLUMNS.length);
      expect(rows[i]).toEqual(asRow(r));
    }
  });

  test('a repeated string is written once', () => {
    const same = Array.from({ length: 50 }, (_, i) => record({ deviceId: 'truck-1', sequence: i + 1 }));
    const mixed = Array.from({ length: 50 }, (_, i) => record({ deviceId: `truck-${i}-${'x'.repeat(40)}`, sequence: i + 1 }));
    expect(encodeRecordBatch(same).byteLength).toBeLessThan(encodeRecordBatch(mixed).byteLength - 50 * 40);
    expect(decodeRecordBatch(Buffer.from(encodeRecordBatch(same).buffer, 0, encodeRecordBatch(same).byteLength)).map((r) => r[1])).toEqual(same.map(() => 'truck-1'));
  });

  test('an empty batch', () => {
    const { buffer, byteLength } = encodeRecordBatch([]);
    expect(decodeRecordBatch(Buffer.from(buffer, 0, byteLength))).toEqual([]);
  });
});
