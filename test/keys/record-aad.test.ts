import { describe, expect, it } from 'vitest';
import { encodeRecordAad } from '../../src/keys/record-aad.ts';

const base = { formatVersion: 1, tenantId: 'acme', deviceId: 'truck-1', stream: 'location', recordId: 'r1', dekId: 'k1' };

function field(text: string): string {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(Buffer.byteLength(text));
  return len.toString('hex') + Buffer.from(text).toString('hex');
}

describe('record AAD', () => {
  it('is the length-prefixed encoding the envelope proto documents (golden bytes)', () => {
    const expected = field('thingiq.record') + '0000000400000001' + ['acme', 'truck-1', 'location', 'r1', 'k1'].map(field).join('');
    expect(encodeRecordAad(base).toString('hex')).toBe(expected);
  });

  it('never encodes two different bindings the same way (no shifting between fields)', () => {
    const a = encodeRecordAad({ ...base, deviceId: 'ab', stream: 'c' });
    const b = encodeRecordAad({ ...base, deviceId: 'a', stream: 'bc' });
    expect(a.equals(b)).toBe(false);
    expect(encodeRecordAad({ ...base, formatVersion: 2 }).equals(encodeRecordAad(base))).toBe(false);
  });
});
