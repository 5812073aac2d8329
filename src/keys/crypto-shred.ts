/**
 * Erasure by crypto-shredding: a device's records stay in storage, but
 * every data key that sealed them is destroyed, so they can never be
 * decrypted again (reads answer TIQ_ERR_KEY_SHREDDED). The receipt records
 * what was destroyed, when and by whom; it names key ids, never key material.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { writeSecretFileAtomic } from './secure-file.ts';
import type { KeyOpsContext } from './key-rotation.ts';

export interface ShredRequest {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly actor: string;
  readonly now?: () => number;
}

export interface ShredReceipt {
  readonly type: 'thingiq.keys.shred-receipt';
  readonly version: 1;
  readonly receiptId: string;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly destroyedDekIds: readonly string[];
  readonly destroyedCount: number;
  /** The KEK references that wrapped the destroyed DEKs. */
  readonly kekRefs: readonly string[];
  readonly destroyedAt: string;
  readonly actor: string;
  readonly host: string;
  readonly effect: string;
}

export async function shredDevice(ctx: KeyOpsContext, request: ShredRequest): Promise<ShredReceipt> {
  const { tenantId, deviceId } = request;
  const before = await ctx.store.listDataKeys(tenantId, { deviceId });
  const destroyed = await ctx.store.deleteDataKeys(tenantId, deviceId);
  // Evict only after the store delete: a cached key must not outlive its stored copy.
  ctx.sealer?.forgetDevice(tenantId, deviceId);
  const destroyedSet = new Set(destroyed);
  const kekRefs = [...new Set(before.filter((d) => destroyedSet.has(d.dekId)).map((d) => d.kekRef))].sort();
  return {
    type: 'thingiq.keys.shred-receipt',
    version: 1,
    receiptId: randomUUID(),
    tenantId,
    deviceId,
    destroyedDekIds: [...destroyed].sort(),
    destroyedCount: destroyed.length,
    kekRefs,
    destroyedAt: new Date((request.now ?? Date.now)()).toISOString(),
    actor: request.actor,
    host: hostname(),
    effect: 'records of this device sealed under these data keys can no longer be decrypted',
  };
}

export function writeShredReceipt(path: string, receipt: ShredReceipt): void {
  writeSecretFileAtomic(path, `${JSON.stringify(receipt, null, 2)}\n`);
}
