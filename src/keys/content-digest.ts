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
import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
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

/** One HMAC per message: about a microsecond for a telemetry payload, and one 32-byte buffer. */
export function contentDigester(secret: KeyObject): (payload: Buffer) => Buffer {
  return (payload) => createHmac('sha256', secret).update(payload).digest().subarray(0, CONTENT_DIGEST_BYTES);
}
