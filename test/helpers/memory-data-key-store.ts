/**
 * An in-memory DataKeyStore for the keys tests: same contract as the sinks'
 * (listing in dekId order, keyset pagination), plus call counters.
 */
import type { DataKeyStore, WrappedDataKey } from '../../src/keys/key-provider.ts';

export class MemoryDataKeyStore implements DataKeyStore {
  readonly keys = new Map<string, WrappedDataKey>();
  readonly calls = { put: 0, get: 0, list: 0, update: 0, delete: 0 };
  /** When set, putDataKey fails with it (store outage). */
  failPut: Error | undefined;

  async putDataKey(key: WrappedDataKey): Promise<void> {
    this.calls.put++;
    if (this.failPut) throw this.failPut;
    this.keys.set(id(key.tenantId, key.dekId), { ...key, wrapped: Buffer.from(key.wrapped) });
  }

  async getDataKey(tenantId: string, dekId: string): Promise<WrappedDataKey | undefined> {
    this.calls.get++;
    return this.keys.get(id(tenantId, dekId));
  }

  async listDataKeys(tenantId: string, options: { deviceId?: string; afterDekId?: string; limit?: number } = {}): Promise<WrappedDataKey[]> {
    this.calls.list++;
    const rows = [...this.keys.values()]
      .filter((k) => k.tenantId === tenantId && (options.deviceId === undefined || k.deviceId === options.deviceId))
      .filter((k) => options.afterDekId === undefined || k.dekId > options.afterDekId)
      .sort((a, b) => (a.dekId < b.dekId ? -1 : a.dekId > b.dekId ? 1 : 0));
    return rows.slice(0, options.limit ?? rows.length);
  }

  async updateWrappedDataKey(tenantId: string, dekId: string, wrapped: Buffer, kekRef: string): Promise<void> {
    this.calls.update++;
    const key = this.keys.get(id(tenantId, dekId));
    if (key) this.keys.set(id(tenantId, dekId), { ...key, wrapped: Buffer.from(wrapped), kekRef });
  }

  async deleteDataKeys(tenantId: string, deviceId: string): Promise<string[]> {
    this.calls.delete++;
    const gone: string[] = [];
    for (const [k, v] of this.keys) {
      if (v.tenantId === tenantId && v.deviceId === deviceId) {
        this.keys.delete(k);
        gone.push(v.dekId);
      }
    }
    return gone;
  }
}

function id(tenantId: string, dekId: string): string {
  return `${tenantId}\u0000${dekId}`;
}
