/**
 * The additional authenticated data (AAD) of a sealed record.
 *
 * AES-256-GCM authenticates the AAD with the ciphertext (NIST SP 800-38D §7.1),
 * so binding tenant, device, stream, record id and data-key id here makes a
 * record copied to another tenant, device or stream fail its tag check.
 * Each field is length-prefixed (uint32 big-endian) so no two different field
 * tuples encode to the same bytes ("ab"+"c" vs "a"+"bc").
 */
export interface RecordBinding {
  readonly formatVersion: number;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream: string;
  readonly recordId: string;
  readonly dekId: string;
}

/** Domain separation: these bytes can never be mistaken for another protocol's AAD. */
const AAD_LABEL = 'thingiq.record';

/** One allocation per record: this runs on the hot path. */
export function encodeRecordAad(binding: RecordBinding): Buffer {
  const strings = [AAD_LABEL, null, binding.tenantId, binding.deviceId, binding.stream, binding.recordId, binding.dekId];
  let size = 0;
  for (const s of strings) size += 4 + (s === null ? 4 : Buffer.byteLength(s, 'utf8'));
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const s of strings) {
    if (s === null) {
      // The format version, itself a 4-byte field.
      at = out.writeUInt32BE(4, at);
      at = out.writeUInt32BE(binding.formatVersion, at);
    } else {
      const len = Buffer.byteLength(s, 'utf8');
      at = out.writeUInt32BE(len, at);
      at += out.write(s, at, 'utf8');
    }
  }
  return out;
}
