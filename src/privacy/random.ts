/**
 * Uniform randomness for noise. Production draws from the OS CSPRNG
 * (crypto.randomBytes, pooled); tests inject a seeded source.
 */
import { randomBytes } from 'node:crypto';

export interface RandomSource {
  /** Uniform in [0, 1), 53 bits. */
  next(): number;
}

const POOL_BYTES = 4096;

export function createCryptoRandom(): RandomSource {
  let pool = randomBytes(POOL_BYTES);
  let offset = 0;
  return {
    next() {
      if (offset + 8 > POOL_BYTES) { pool = randomBytes(POOL_BYTES); offset = 0; }
      const hi = pool.readUInt32BE(offset) >>> 5; // 27 bits
      const lo = pool.readUInt32BE(offset + 4) >>> 6; // 26 bits
      offset += 8;
      return (hi * 67108864 + lo) / 9007199254740992;
    },
  };
}
