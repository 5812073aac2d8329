/**
 * After a crypto-shred, a tombstone in the control store: every process
 * following the feed (each gateway, whichever made the shred) evicts the
 * device's cached data keys, so none can decrypt the device's records from
 * memory, and a gateway with its own device key vault destroys the device's
 * KEK there too. It names the receipt and a count, never a key.
 */
import { deviceKey } from './control-kinds.ts';
import type { ControlStore } from './control-store.ts';

export interface ShredFacts {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly receiptId: string;
  readonly destroyedCount: number;
  readonly actor: string;
  /** When the keys were destroyed (ISO 8601); default now. */
  readonly destroyedAt?: string;
}

export async function recordShred(store: ControlStore, s: ShredFacts): Promise<void> {
  await store.put('shred', deviceKey(s.tenantId, s.deviceId),
    { tenantId: s.tenantId, deviceId: s.deviceId, atMs: s.destroyedAt ? Date.parse(s.destroyedAt) : Date.now(), receiptId: s.receiptId, destroyedCount: s.destroyedCount }, s.actor);
}
