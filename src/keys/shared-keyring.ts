/**
 * The local provider's keyring when several gateway processes share it
 * (cluster mode): each KEK version is one row of a shared store, sealed with
 * AES-256-GCM under the root key every node holds (NIST SP 800-38D), with
 * the tenant, version and creation time as additional data, so a row copied
 * onto another tenant or version does not open.
 *
 * First writer wins: a version is inserted only if (tenant, version) is
 * free, and whoever loses the race reads the winner's row and uses it. Three
 * cold nodes making a new tenant's version 1, or rotating to version N+1 at
 * once, end up with one key, the same on all of them.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { TiqError } from '../errors.ts';

export interface SealedKekVersion {
  readonly tenantId: string;
  readonly version: number;
  readonly createdAtMs: number;
  /** iv (12) | tag (16) | the KEK sealed under the root key. */
  readonly sealed: Buffer;
}

export interface SharedKeyringStore {
  /** The tenant's versions, oldest first. */
  list(tenantId: string): Promise<SealedKekVersion[]>;
  /** Stores `v` unless its (tenant, version) is taken; returns the stored row either way (the first writer's). */
  insertIfAbsent(v: SealedKekVersion): Promise<SealedKekVersion>;
  close(): Promise<void>;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;
export const KEK_BYTES = 32;

function aad(tenantId: string, version: number, createdAtMs: number): Buffer {
  return Buffer.from(`thingiq.kek.v1\u0000${tenantId}\u0000${version}\u0000${createdAtMs}`, 'utf8');
}

/** Seals a fresh random 32-byte KEK. */
export function sealNewKek(rootKey: KeyObject, tenantId: string, version: number, createdAtMs: number): SealedKekVersion {
  const raw = randomBytes(KEK_BYTES);
  const key = createSecretKey(raw);
  raw.fill(0);
  return sealKek(rootKey, tenantId, version, createdAtMs, key);
}

/** Seals given KEK material (importing a keyring file's versions). */
export function sealKek(rootKey: KeyObject, tenantId: string, version: number, createdAtMs: number, key: KeyObject): SealedKekVersion {
  const raw = key.export();
  try {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', rootKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(tenantId, version, createdAtMs));
    const ciphertext = Buffer.concat([cipher.update(raw), cipher.final()]);
    return { tenantId, version, createdAtMs, sealed: Buffer.concat([iv, cipher.getAuthTag(), ciphertext]) };
  } finally {
    raw.fill(0);
  }
}

/** TIQ_ERR_KEYRING_SEALED when the root key does not open the row (another root key, or a row edited or moved). */
export function unsealKek(rootKey: KeyObject, v: SealedKekVersion): KeyObject {
  try {
    const decipher = createDecipheriv('aes-256-gcm', rootKey, v.sealed.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES });
    decipher.setAAD(aad(v.tenantId, v.version, v.createdAtMs));
    decipher.setAuthTag(v.sealed.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const raw = Buffer.concat([decipher.update(v.sealed.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
    const key = createSecretKey(raw);
    raw.fill(0);
    return key;
  } catch {
    throw new TiqError('TIQ_ERR_KEYRING_SEALED', `the root key does not unseal version ${v.version} of tenant ${v.tenantId} in the shared keyring (a different root key on this node?)`);
  }
}
