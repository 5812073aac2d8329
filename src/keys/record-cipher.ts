/**
 * One AES-256-GCM encryption per record (NIST SP 800-38D): a fresh random
 * 96-bit IV (§8.2.2, RBG-based construction; drawn from random-pool.ts, every
 * IV its own never-reused bytes), a 128-bit tag, and the record's
 * binding as AAD. On decrypt the tag length is fixed at 16 bytes: without
 * `authTagLength` Node accepts truncated tags, which weakens forgery
 * resistance (§5.2.1.2, Appendix C).
 */
import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import { TiqError } from '../errors.ts';
import { takeRandomBytes } from './random-pool.ts';

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
const ALGORITHM = 'aes-256-gcm';

export interface GcmOutput {
  readonly iv: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

export function gcmEncrypt(key: KeyObject, plaintext: Buffer, aad: Buffer): GcmOutput {
  const iv = takeRandomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  // GCM is a stream mode: final() emits nothing, so the common case needs no concatenation.
  const rest = cipher.final();
  const ciphertext = rest.length === 0 ? body : Buffer.concat([body, rest]);
  return { iv, ciphertext, tag: cipher.getAuthTag() };
}

/** Throws TIQ_ERR_DECRYPT on any failure, without saying which part was wrong. */
export function gcmDecrypt(key: KeyObject, input: GcmOutput, aad: Buffer): Buffer {
  if (input.iv.length !== IV_BYTES) throw decryptError('iv length');
  if (input.tag.length !== TAG_BYTES) throw decryptError('tag length');
  try {
    const decipher = createDecipheriv(ALGORITHM, key, input.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(input.tag);
    return Buffer.concat([decipher.update(input.ciphertext), decipher.final()]);
  } catch {
    throw decryptError('authentication failed');
  }
}

function decryptError(reason: string): TiqError {
  return new TiqError('TIQ_ERR_DECRYPT', { reason });
}
