/**
 * Record ids: UUID version 7 (RFC 9562 §5.7), 48 bits of Unix milliseconds
 * then 74 random bits (from the CSPRNG pool, never reused).
 *
 * Time-ordered rather than version 4 because record_id is indexed (it ends
 * the time index's key, and it was once UNIQUE on its own): random ids land
 * on random B-tree pages and made each insert touch cold pages as the table
 * grew (about twice the SQLite insert cost at 100,000 rows). The time the id
 * reveals is the receive time stored beside it anyway.
 */
import { takeRandomBytes } from '../keys/random-pool.ts';

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const NIBBLE = Array.from({ length: 16 }, (_, i) => i.toString(16));

/** The time part changes once a millisecond; the records of that millisecond share its text. */
let prefixMs = -1;
let prefix = '';

export function newRecordId(nowMs: number): string {
  const ms = Math.min(Math.max(0, Math.trunc(nowMs)), 2 ** 48 - 1);
  if (ms !== prefixMs) {
    const hex = ms.toString(16).padStart(12, '0');
    prefix = `${hex.slice(0, 8)}-${hex.slice(8)}-7`;
    prefixMs = ms;
  }
  const r = takeRandomBytes(10);
  return `${prefix}${NIBBLE[r[0]! & 0x0f]}${HEX[r[1]!]}-${HEX[(r[2]! & 0x3f) | 0x80]}${HEX[r[3]!]}-`
    + `${HEX[r[4]!]}${HEX[r[5]!]}${HEX[r[6]!]}${HEX[r[7]!]}${HEX[r[8]!]}${HEX[r[9]!]}`;
}
