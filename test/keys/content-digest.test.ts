import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTENT_DIGEST_BYTES, contentDigester, loadOrCreateDigestSecret } from '../../src/keys/content-digest.ts';

const hmac = (key: Buffer, data: Buffer): Buffer => createHmac('sha256', key).update(data).digest().subarray(0, CONTENT_DIGEST_BYTES);

describe('content digest (HMAC-SHA256 truncated to 128 bits)', () => {
  it('matches the RFC 4231 test vectors, truncated (cases 1, 2 and 6: short key, text key, key longer than a block)', () => {
    const cases: [Buffer, Buffer, string][] = [
      [Buffer.alloc(20, 0x0b), Buffer.from('Hi There'), 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'],
      [Buffer.from('Jefe'), Buffer.from('what do ya want for nothing?'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
      [Buffer.alloc(131, 0xaa), Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First'), '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'],
    ];
    for (const [key, data, mac] of cases) {
      expect(contentDigester(createSecretKey(key))(data).toString('hex')).toBe(mac.slice(0, CONTENT_DIGEST_BYTES * 2));
    }
  });

  it('gives the bytes of createHmac for any payload, in any order of sizes (the scratch buffer grows and is reused)', () => {
    const key = randomBytes(32);
    const digest = contentDigester(createSecretKey(key));
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 5000 }), { minLength: 1, maxLength: 8 }), (payloads) => {
      const digests = payloads.map((p) => digest(Buffer.from(p)));
      // Each result is its own buffer: a later digest does not change an earlier one.
      payloads.forEach((p, i) => expect(digests[i]!.equals(hmac(key, Buffer.from(p)))).toBe(true));
    }), { numRuns: 200 });
  });

  it('depends on the key and on every byte of the payload', () => {
    const a = contentDigester(createSecretKey(randomBytes(32)));
    const b = contentDigester(createSecretKey(randomBytes(32)));
    const payload = randomBytes(64);
    expect(a(payload).equals(b(payload))).toBe(false);
    const flipped = Buffer.from(payload);
    flipped[63]! ^= 1;
    expect(a(payload).equals(a(flipped))).toBe(false);
    expect(a(payload)).toHaveLength(CONTENT_DIGEST_BYTES);
  });

  it('keeps the secret of a fresh installation in a 0600 file, the same on every load', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tiq-digest-')), 'data', 'idempotency.key');
    const first = contentDigester(loadOrCreateDigestSecret(path));
    const again = contentDigester(loadOrCreateDigestSecret(path));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const payload = randomBytes(40);
    expect(first(payload).equals(again(payload))).toBe(true);
  });
});
