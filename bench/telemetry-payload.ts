/**
 * VehicleLocation payloads of an exact size, encoded by hand (protobuf wire
 * format) so the generator spends no time in a general encoder.
 *
 * A VehicleLocation with every field set is about 130 bytes and trip_id is
 * capped at 64 characters, so larger payloads repeat the trip_id field.
 * Repeating a non-repeated field is valid protobuf (the last occurrence wins,
 * protobuf encoding guide, "Last One Wins"); the gateway decodes it and keeps
 * one trip id when it re-encodes the policy-applied message.
 */

const TRIP_FIELD = (9 << 3) | 2;

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) { n = Math.floor(n / 128); size++; }
  return size;
}

function writeVarint(buf: Buffer, o: number, n: number): number {
  while (n >= 128) { buf[o++] = (n % 128) | 0x80; n = Math.floor(n / 128); }
  buf[o++] = n;
  return o;
}

export interface LocationFields {
  readonly timeUnixMs: number;
  readonly sequence: number;
  readonly latitude: number;
  readonly longitude: number;
  readonly speedMps: number;
  readonly headingDeg: number;
}

/** Smallest payload this encoder can produce (a two-character trip id). */
export const MIN_PAYLOAD_BYTES = 64;
/** Keep packets small: aedes 1.x has no packet-size limit, and the gateway's location stream allows 1 KiB. */
export const MAX_PAYLOAD_BYTES = 1024;

/** Encodes a VehicleLocation of exactly `size` bytes; the trip id fills the rest. */
export function vehicleLocation(size: number, f: LocationFields): Buffer {
  if (size < MIN_PAYLOAD_BYTES || size > MAX_PAYLOAD_BYTES) throw new RangeError(`payload size must be in [${MIN_PAYLOAD_BYTES}, ${MAX_PAYLOAD_BYTES}]`);
  const head = 1 + varintSize(f.timeUnixMs) + 1 + varintSize(f.sequence) + 4 * 9;
  const buf = Buffer.allocUnsafe(size);
  let o = 0;
  buf[o++] = 0x08;
  o = writeVarint(buf, o, f.timeUnixMs);
  buf[o++] = 0x10;
  o = writeVarint(buf, o, f.sequence);
  for (const [tag, value] of [[0x19, f.latitude], [0x21, f.longitude], [0x31, f.speedMps], [0x39, f.headingDeg]] as const) {
    buf[o++] = tag;
    o = buf.writeDoubleLE(value, o);
  }
  // Trip ids of 2..64 characters, 2 bytes of tag and length each, until the size is reached.
  let left = size - head;
  while (left > 0) {
    const chunk = left > 66 ? Math.min(66, left - 4) : left;
    buf[o++] = TRIP_FIELD;
    buf[o++] = chunk - 2;
    buf.fill(0x74 /* 't' */, o, o + chunk - 2);
    o += chunk - 2;
    left -= chunk;
  }
  return buf;
}

/** Reads field 2 (sequence) of a VehicleLocation, whatever order and other fields the encoder used. */
export function readSequence(payload: Buffer): number | undefined {
  let o = 0;
  while (o < payload.length) {
    const key = readVarint(payload, o);
    if (!key) return undefined;
    o = key.next;
    const wire = key.value % 8;
    const field = Math.floor(key.value / 8);
    if (wire === 0) {
      const v = readVarint(payload, o);
      if (!v) return undefined;
      if (field === 2) return v.value;
      o = v.next;
    } else if (wire === 1) o += 8;
    else if (wire === 5) o += 4;
    else if (wire === 2) {
      const len = readVarint(payload, o);
      if (!len) return undefined;
      o = len.next + len.value;
    } else return undefined;
  }
  return undefined;
}

function readVarint(buf: Buffer, o: number): { value: number; next: number } | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10 && o < buf.length; i++) {
    const b = buf[o++]!;
    value += (b & 0x7f) * mul;
    mul *= 128;
    if ((b & 0x80) === 0) return { value, next: o };
  }
  return undefined;
}
