/**
 * Erasure by crypto-shredding: a device's records stay in storage, but
 * every data key that sealed them is destroyed, so they can never be
 * decrypted again (reads answer TIQ_ERR_KEY_SHREDDED). The device's KEK is
 * destroyed first, in the key store's vault (with a tombstone there): then
 * even copies of its wrapped data keys (a backup of the database, a WAL, a
 * PostgreSQL dead tuple) have no key left that opens them. The receipt
 * records what was destroyed, when and by whom; it names key ids, never key
 * material.
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
  /** The device KEKs destroyed in the key store's vault (tombstoned there under receiptId). */
  readonly deviceKekRefs: readonly string[];
  readonly destroyedAt: string;
  readonly actor: string;
  readonly host: string;
  readonly effect: string;
}

export async function shredDevice(ctx: KeyOpsContext, request: ShredRequest): Promise<ShredReceipt> {
  const { tenantId, deviceId } = request;
  const receiptId = randomUUID();
  const atMs = (request.now ?? Date.now)();
  const before = await ctx.store.listDataKeys(tenantId, { deviceId });
  // The device KEK first: should the store delete then fail, every copy is already unreadable.
  const deviceKekRefs = await ctx.deviceKeks?.destroy(tenantId, deviceId, { receiptId, atMs }) ?? [];
  ctx.sealer?.forgetDevice(tenantId, deviceId);
  const destroyed = await ctx.store.deleteDataKeys(tenantId, deviceId);
  // Again after the store delete: a key cached meanwhile must not outlive its stored copy.
  ctx.sealer?.forgetDevice(tenantId, deviceId);
  const destroyedSet = new Set(destroyed);
  const kekRefs = [...new Set(before.filter((d) => destroyedSet.has(d.dekId)).map((d) => d.kekRef))].sort();
  return {
    type: 'thingiq.keys.shred-receipt',
    version: 1,
    receiptId,
    tenantId,
    deviceId,
    destroyedDekIds: [...destroyed].sort(),
    destroyedCount: destroyed.length,
    kekRefs,
    deviceKekRefs,
    destroyedAt: new Date(atMs).toISOString(),
    actor: request.actor,
    host: hostname(),
    effect: 'records of this device sealed under these data keys can no longer be decrypted, from this store or any copy of it',
  };
}

export function writeShredReceipt(path: string, receipt: ShredReceipt): void {
  writeSecretFileAtomic(path, `${JSON.stringify(receipt, null, 2)}\n`);
}
