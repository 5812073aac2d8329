/**
 * Unwrapping and re-wrapping data keys under `local` KEKs (RFC 5649 key wrap),
 * the same whether the KEK versions come from a keyring file
 * (LocalKeyProvider) or from the store every cluster node shares
 * (SharedLocalKeyProvider): only how a KEK version is found differs.
 */
import type { KeyObject } from 'node:crypto';
import { TiqError } from '../errors.ts';
import { unwrapKey, wrapKey } from './aes-key-wrap.ts';

/** A tenant's KEK version. */
export interface LocalKek { readonly version: number; readonly key: KeyObject }

/** Where a provider finds its KEKs. */
export interface LocalKekSource {
  /** The KEK of this version, or undefined when no such version exists (after any reload the source does). */
  findVersion(tenantId: string, version: number): LocalKek | undefined | Promise<LocalKek | undefined>;
  /** The tenant's primary KEK, current as of this call. */
  primary(tenantId: string): LocalKek | Promise<LocalKek>;
}

export function localKekRef(tenantId: string, version: number): string {
  return `local:${tenantId}:v${version}`;
}

export function parseLocalKekRef(kekRef: string): { tenantId: string; version: number } | undefined {
  const m = /^local:([a-z0-9][a-z0-9-]{0,62}):v([1-9][0-9]{0,8})$/.exec(kekRef);
  return m?.[1] && m[2] ? { tenantId: m[1], version: Number(m[2]) } : undefined;
}

async function kekFor(source: LocalKekSource, tenantId: string, kekRef: string): Promise<KeyObject> {
  const ref = parseLocalKekRef(kekRef);
  // A DEK wrapped for another tenant must never unwrap here, even if a record says so.
  if (!ref || ref.tenantId !== tenantId) throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'key reference does not belong to this tenant', kekRef });
  const kek = await source.findVersion(tenantId, ref.version);
  if (!kek) throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'unknown KEK version', kekRef });
  return kek.key;
}

export async function unwrapLocalDataKey(source: LocalKekSource, tenantId: string, wrapped: Buffer, kekRef: string): Promise<Buffer> {
  const kek = await kekFor(source, tenantId, kekRef);
  try {
    return unwrapKey(kek, wrapped);
  } catch {
    throw new TiqError('TIQ_ERR_DECRYPT', { reason: 'wrapped data key failed its integrity check', kekRef });
  }
}

/** Moves a data key to the tenant's primary KEK; the plaintext DEK is zeroed whatever happens. */
export async function rewrapLocalDataKey(source: LocalKekSource, tenantId: string, wrapped: Buffer, kekRef: string): Promise<{ wrapped: Buffer; kekRef: string }> {
  const dek = await unwrapLocalDataKey(source, tenantId, wrapped, kekRef);
  try {
    const primary = await source.primary(tenantId);
    return { wrapped: wrapKey(primary.key, dek), kekRef: localKekRef(tenantId, primary.version) };
  } finally {
    dek.fill(0);
  }
}
