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

export function encodeRecordAad(binding: RecordBinding): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(binding.formatVersion);
  const fields = [
    Buffer.from(AAD_LABEL, 'utf8'),
    version,
    Buffer.from(binding.tenantId, 'utf8'),
    Buffer.from(binding.deviceId, 'utf8'),
    Buffer.from(binding.stream, 'utf8'),
    Buffer.from(binding.recordId, 'utf8'),
    Buffer.from(binding.dekId, 'utf8'),
  ];
  return Buffer.concat(fields.flatMap(lengthPrefixed));
}

function lengthPrefixed(field: Buffer): Buffer[] {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(field.length);
  return [len, field];
}
