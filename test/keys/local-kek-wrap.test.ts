import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TiqError } from '../../src/errors.ts';
import { wrapKey } from '../../src/keys/aes-key-wrap.ts';
import { localKekRef, parseLocalKekRef, rewrapLocalDataKey, unwrapLocalDataKey, type LocalKek, type LocalKekSource } from '../../src/keys/local-kek-wrap.ts';
import { expectCode } from './fixtures.ts';

/** KEK versions of one tenant in memory; `lookups` counts what the source was asked. */
function source(tenantId: string, versions: number[], primary = Math.max(...versions)) {
  const keks = new Map<number, LocalKek>(versions.map((v) => [v, { version: v, key: createSecretKey(randomBytes(32)) }]));
  const lookups: string[] = [];
  const src: LocalKekSource = {
    findVersion: async (t, v) => { lookups.push(`${t}:v${v}`); return t === tenantId ? keks.get(v) : undefined; },
    primary: (t) => {
      const kek = keks.get(primary);
      if (t !== tenantId || !kek) throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', 'no primary');
      return kek;
    },
  };
  return { src, keks, lookups };
}

describe('local KEK wrapping', () => {
  it('reads and writes the local:<tenant>:v<N> reference', () => {
    expect(localKekRef('acme', 3)).toBe('local:acme:v3');
    expect(parseLocalKekRef('local:acme:v3')).toEqual({ tenantId: 'acme', version: 3 });
    for (const bad of ['local:acme:v0', 'local:Acme:v1', 'aws-kms:acme:v1', 'local:acme:v1:x']) expect(parseLocalKekRef(bad)).toBeUndefined();
  });

  it('unwraps under the version the reference names', async () => {
    const { src, keks, lookups } = source('acme', [1, 2]);
    const dek = randomBytes(32);
    expect(await unwrapLocalDataKey(src, 'acme', wrapKey(keks.get(1)!.key, dek), 'local:acme:v1')).toEqual(dek);
    expect(lookups).toEqual(['acme:v1']);
  });

  it("refuses another tenant's reference without looking a KEK up", async () => {
    const { src, keks, lookups } = source('acme', [1]);
    const wrapped = wrapKey(keks.get(1)!.key, randomBytes(32));
    await expectCode(unwrapLocalDataKey(src, 'globex', wrapped, 'local:acme:v1'), 'TIQ_ERR_DECRYPT');
    await expectCode(unwrapLocalDataKey(src, 'acme', wrapped, 'aws-kms:acme'), 'TIQ_ERR_DECRYPT');
    expect(lookups).toEqual([]);
  });

  it('refuses an unknown version and a blob that fails its integrity check', async () => {
    const { src, keks } = source('acme', [1, 2]);
    const wrapped = wrapKey(keks.get(1)!.key, randomBytes(32));
    await expectCode(unwrapLocalDataKey(src, 'acme', wrapped, 'local:acme:v9'), 'TIQ_ERR_DECRYPT');
    await expectCode(unwrapLocalDataKey(src, 'acme', wrapped, 'local:acme:v2'), 'TIQ_ERR_DECRYPT');
    const tampered = Buffer.from(wrapped);
    tampered[0]! ^= 1;
    await expectCode(unwrapLocalDataKey(src, 'acme', tampered, 'local:acme:v1'), 'TIQ_ERR_DECRYPT');
  });

  it('passes on the error of a source that cannot answer', async () => {
    const failing: LocalKekSource = {
      findVersion: async () => { throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', 'store down'); },
      primary: () => { throw new TiqError('TIQ_ERR_KEY_UNAVAILABLE', 'store down'); },
    };
    await expectCode(unwrapLocalDataKey(failing, 'acme', randomBytes(40), 'local:acme:v1'), 'TIQ_ERR_KEY_UNAVAILABLE');
  });

  it('re-wraps under the primary, and the result unwraps to the same data key', async () => {
    const { src, keks } = source('acme', [1, 2]);
    const dek = randomBytes(32);
    const moved = await rewrapLocalDataKey(src, 'acme', wrapKey(keks.get(1)!.key, dek), 'local:acme:v1');
    expect(moved.kekRef).toBe('local:acme:v2');
    expect(moved.wrapped).toEqual(wrapKey(keks.get(2)!.key, dek));
    expect(await unwrapLocalDataKey(src, 'acme', moved.wrapped, moved.kekRef)).toEqual(dek);
  });

  it('re-wraps nothing when the old KEK fails or the primary cannot be had', async () => {
    const { src, keks } = source('acme', [1, 2], 7);
    const wrapped = wrapKey(keks.get(1)!.key, randomBytes(32));
    await expectCode(rewrapLocalDataKey(src, 'acme', wrapped, 'local:acme:v2'), 'TIQ_ERR_DECRYPT');
    await expectCode(rewrapLocalDataKey(src, 'acme', wrapped, 'local:acme:v1'), 'TIQ_ERR_KEY_UNAVAILABLE');
  });
});
