/**
 * Where device KEKs are kept: the device key vault file of a single process
 * (device-key-vault.ts, synchronous SQLite) or, in cluster mode, tables every
 * node shares (src/cluster/pg-device-vault.ts), so a device's KEK made on one
 * node opens its data keys on every other. Results may be immediate or promised.
 */
import type { DestroyRequest, StoredDeviceKek } from './device-key-vault.ts';

export type Awaitable<T> = T | Promise<T>;

export interface DeviceKekStore {
  get(tenantId: string, deviceId: string): Awaitable<StoredDeviceKek | undefined>;
  getByRef(kekRef: string): Awaitable<StoredDeviceKek | undefined>;
  /** First writer wins: a new generation unless the device has a live KEK; returns whichever is live. */
  insertIfAbsent(tenantId: string, deviceId: string, wrapped: Buffer, tenantKekRef: string, createdAtMs: number): Awaitable<StoredDeviceKek>;
  destroy(tenantId: string, deviceId: string, request: DestroyRequest): Awaitable<string[]>;
  hasTombstone(receiptId: string): Awaitable<boolean>;
  listTenant(tenantId: string, options?: { afterDeviceId?: string; limit?: number }): Awaitable<StoredDeviceKek[]>;
  updateWrapped(updates: readonly { readonly kek: StoredDeviceKek; readonly wrapped: Buffer; readonly tenantKekRef: string }[]): Awaitable<number>;
  countByTenantKek(tenantId: string): Awaitable<Map<string, number>>;
  close(): Awaitable<void>;
}
