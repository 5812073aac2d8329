/**
 * Wrapped data keys live in their tenant's sink, next to the records they
 * seal: a tenant pinned to a sink for data residency keeps its keys there
 * too, and erasing a device's keys happens where its records are.
 */
import type { DataKeyStore, WrappedDataKey } from '../keys/key-provider.ts';
import type { StorageRouter } from './sink-router.ts';

export class RoutedDataKeyStore implements DataKeyStore {
  constructor(private readonly router: StorageRouter) {}

  putDataKey(key: WrappedDataKey): Promise<void> {
    return this.router.sinkFor(key.tenantId).putDataKey(key);
  }

  /** One batch per sink the keys' tenants route to. */
  async putDataKeys(keys: readonly WrappedDataKey[]): Promise<void> {
    const bySink = new Map<DataKeyStore, WrappedDataKey[]>();
    for (const key of keys) {
      const sink = this.router.sinkFor(key.tenantId);
      const list = bySink.get(sink) ?? [];
      list.push(key);
      bySink.set(sink, list);
    }
    await Promise.all([...bySink].map(([sink, list]) => (sink.putDataKeys ? sink.putDataKeys(list) : Promise.all(list.map((k) => sink.putDataKey(k))))));
  }

  getDataKey(tenantId: string, dekId: string): Promise<WrappedDataKey | undefined> {
    return this.router.sinkFor(tenantId).getDataKey(tenantId, dekId);
  }

  listDataKeys(tenantId: string, options?: { deviceId?: string; afterDekId?: string; limit?: number }): Promise<WrappedDataKey[]> {
    return this.router.sinkFor(tenantId).listDataKeys(tenantId, options);
  }

  updateWrappedDataKey(tenantId: string, dekId: string, wrapped: Buffer, kekRef: string): Promise<void> {
    return this.router.sinkFor(tenantId).updateWrappedDataKey(tenantId, dekId, wrapped, kekRef);
  }

  deleteDataKeys(tenantId: string, deviceId: string): Promise<string[]> {
    return this.router.sinkFor(tenantId).deleteDataKeys(tenantId, deviceId);
  }
}
