/**
 * AES-256 key wrap with padding (RFC 5649; NIST SP 800-38F KWP), Node's
 * `id-aes256-wrap-pad`. Deterministic and authenticated by its integrity
 * check value: unwrapping under the wrong KEK, or a tampered blob, fails.
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';

/** RFC 5649 §3: the alternative initial value (AIV) constant. */
const RFC5649_AIV = Buffer.from('A65959A6', 'hex');
const ALGORITHM = 'id-aes256-wrap-pad';

export function wrapKey(kek: KeyObject, key: Buffer): Buffer {
  const cipher = createCipheriv(ALGORITHM, kek, RFC5649_AIV);
  return Buffer.concat([cipher.update(key), cipher.final()]);
}

/** Throws when the integrity check fails (wrong KEK or tampered blob). */
export function unwrapKey(kek: KeyObject, wrapped: Buffer): Buffer {
  const decipher = createDecipheriv(ALGORITHM, kek, RFC5649_AIV);
  return Buffer.concat([decipher.update(wrapped), decipher.final()]);
}
