/**
 * Random bytes drawn from the OS CSPRNG in 64 KiB blocks instead of one
 * randomBytes() call per record (each is a synchronous trip into OpenSSL).
 *
 * Every byte is handed out at most once: a used-up block is never refilled
 * in place (views of it may still be held as IVs); a new block is allocated
 * and filled. The bytes are as unpredictable as randomBytes() output; holding
 * them briefly before use is fine for what they are used for here, values
 * stored in clear beside the ciphertext (GCM IVs, NIST SP 800-38D §8.2.2).
 * Never use this pool for key material.
 */
import { randomFillSync } from 'node:crypto';

const BLOCK_BYTES = 64 * 1024;

let block = Buffer.alloc(0);
let offset = 0;

/** n fresh random bytes (n ≤ 64 KiB), as a view that nobody else is ever given. */
export function takeRandomBytes(n: number): Buffer {
  if (offset + n > block.length) {
    if (n > BLOCK_BYTES) throw new RangeError(`takeRandomBytes: at most ${BLOCK_BYTES} bytes`);
    // allocUnsafeSlow: a block of its own, not a slice of Node's shared pool.
    block = randomFillSync(Buffer.allocUnsafeSlow(BLOCK_BYTES));
    offset = 0;
  }
  const out = block.subarray(offset, offset + n);
  offset += n;
  return out;
}
