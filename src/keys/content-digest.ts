/**
 * The content digest that tells a redelivery from a new message with the same
 * sequence number (docs/storage.md, "Idempotency"): HMAC-SHA256 (RFC 2104)
 * of the device's payload bytes, truncated to 128 bits (NIST SP 800-107
 * permits truncated HMAC tags).
 *
 * Keyed, because the payload is hashed before the privacy policy and holds
 * exact coordinates: an unkeyed hash of so small a message could be reversed
 * by trying candidate positions. The secret lives in `<dataDir>` (0600),
 * never in the database, so the stored digest says nothing about the content.
 */
import { createSecretKey, hash, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { writeSecretFileAtomic } from './secure-file.ts';
import { dirname } from 'node:path';
import { TiqError } from '../errors.ts';

export const CONTENT_DIGEST_BYTES = 16;
export const CONTENT_DIGEST_SECRET_FILE = 'idempotency.key';

/** Reads the per-installation secret, creating it (32 random bytes, hex, 0600) on first start. */
export function loadOrCreateDigestSecret(path: string): KeyObject {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // Written whole to a temporary name, then linked: a crash never leaves half a secret, and of a
    // gateway and a CLI starting together only one secret wins (link fails with EEXIST for the other).
    const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    writeSecretFileAtomic(tmp, `${randomBytes(32).toString('hex')}\n`);
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
    chmodSync(path, 0o600);
  }
  const hex = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TiqError('TIQ_ERR_CONFIG', { problems: [`${path}: not an idempotency secret (64 hex digits)`] });
  const raw = Buffer.from(hex, 'hex');
  const key = createSecretKey(raw);
  raw.fill(0);
  return key;
}

/** SHA-256's block: the HMAC key pads (RFC 2104) are this long. */
const BLOCK_BYTES = 64;
const HASH_BYTES = 32;

/**
 * One HMAC-SHA256 per message, computed as RFC 2104 defines it with two
 * one-shot `crypto.hash` calls over scratch buffers that already hold the
 * key pads: H((K ^ opad) || H((K ^ ipad) || payload)). The bytes are those of
 * `createHmac` (tested against it), without its per-message native object:
 * each such object is a weak handle the young-generation collector processes
 * on the event loop, which made an HMAC cost 2.8–3.4 µs of CPU and its share
 * of a scavenge pause, against 1.2–1.3 µs here (docs/benchmark.md). The
 * scratch buffers are this digester's own; the event loop is one thread, so
 * no other digest runs between filling and hashing them.
 */
export function contentDigester(secret: KeyObject): (payload: Buffer) => Buffer {
  const key = secret.export();
  // Keys longer than a block are hashed first (RFC 2104 §2); the idempotency key is 32 bytes.
  const k = key.length > BLOCK_BYTES ? hash('sha256', key, 'buffer') : key;
  const outer = Buffer.alloc(BLOCK_BYTES + HASH_BYTES, 0x5c);
  let inner = Buffer.alloc(BLOCK_BYTES + 256, 0x36);
  for (let i = 0; i < k.length; i++) {
    outer[i]! ^= k[i]!;
    inner[i]! ^= k[i]!;
  }
  key.fill(0);
  return (payload) => {
    if (inner.length < BLOCK_BYTES + payload.length) {
      const grown = Buffer.alloc(BLOCK_BYTES + payload.length * 2);
      inner.copy(grown, 0, 0, BLOCK_BYTES);
      inner.fill(0);
      inner = grown;
    }
    payload.copy(inner, BLOCK_BYTES);
    // 'binary' (latin1) strings: one byte per char, on the JavaScript heap (no native buffer per call).
    outer.write(hash('sha256', inner.subarray(0, BLOCK_BYTES + payload.length), 'binary'), BLOCK_BYTES, 'latin1');
    return Buffer.from(hash('sha256', outer, 'binary').slice(0, CONTENT_DIGEST_BYTES), 'latin1');
  };
}
