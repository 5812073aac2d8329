/** In-memory keys, records and retention behind the AdminDeps interfaces (tests only). */
import { randomUUID } from 'node:crypto';
import type { Writable } from 'node:stream';
import type { AdminKeys, AdminRecords, AdminRetention, RetentionView } from '../../src/admin/admin-deps.ts';

const k = (t: string, d: string) => `${t}/${d}`;

export class MemoryRecords implements AdminRecords {
  readonly byDevice = new Map<string, object[]>();

  add(tenantId: string, deviceId: string, data: object): void {
    const list = this.byDevice.get(k(tenantId, deviceId)) ?? [];
    list.push({ tenantId, deviceId, stream: 'sensor', recordId: randomUUID(), data });
    this.byDevice.set(k(tenantId, deviceId), list);
  }

  async countDevice(t: string, d: string): Promise<number> {
    return this.byDevice.get(k(t, d))?.length ?? 0;
  }

  async exportDevice(t: string, d: string, out: Writable): Promise<number> {
    const list = this.byDevice.get(k(t, d)) ?? [];
    for (const r of list) out.write(`${JSON.stringify(r)}\n`);
    return list.length;
  }

  async eraseDevice(t: string, d: string): Promise<{ deletedRecords: number }> {
    const n = this.byDevice.get(k(t, d))?.length ?? 0;
    this.byDevice.delete(k(t, d));
    return { deletedRecords: n };
  }
}

export class MemoryKeys implements AdminKeys {
  readonly deks = new Map<string, string[]>();
  rotations = 0;

  async status(tenantId: string): Promise<unknown> {
    return { tenantId, provider: 'memory', totalDataKeys: [...this.deks].filter(([key]) => key.startsWith(`${tenantId}/`)).flatMap(([, v]) => v).length };
  }

  async rotate(tenantId: string): Promise<unknown> {
    this.rotations++;
    return { tenantId, changed: true };
  }

  async rewrap(tenantId: string): Promise<unknown> {
    return { tenantId, scanned: 0, rewrapped: 0 };
  }

  async shred(t: string, d: string): Promise<{ receiptId: string; destroyedCount: number; destroyedDekIds: string[] }> {
    const ids = this.deks.get(k(t, d)) ?? [];
    this.deks.delete(k(t, d));
    return { receiptId: randomUUID(), destroyedCount: ids.length, destroyedDekIds: ids };
  }
}

export class MemoryRetention implements AdminRetention {
  readonly view: { rules: RetentionView['rules'][number][]; holds: RetentionView['holds'][number][] } = { rules: [], holds: [] };
  readonly held = new Set<string>();

  async describe(): Promise<RetentionView> {
    return this.view;
  }

  async setRule(req: { stream: string; days: number; retentionClass?: string; deviceGroup?: string }): Promise<{ retentionClass: string; retagged: number }> {
    const retentionClass = req.retentionClass ?? `${req.stream}-${req.days}d`;
    this.view.rules.push({ stream: req.stream, deviceGroup: req.deviceGroup ?? '', retentionClass, days: req.days, changedAtMs: Date.now() });
    return { retentionClass, retagged: 0 };
  }

  async setHold(req: { tenantId: string; deviceId?: string; held: boolean }): Promise<{ flagged: number }> {
    const key = k(req.tenantId, req.deviceId ?? '');
    if (req.held) this.held.add(key);
    else this.held.delete(key);
    return { flagged: 0 };
  }

  sweeps = 0;

  async sweep(): Promise<{ deleted: number; partitionsDropped: number }> {
    this.sweeps++;
    return { deleted: 0, partitionsDropped: 0 };
  }

  isHeld(t: string, d: string): boolean {
    return this.held.has(k(t, '')) || this.held.has(k(t, d));
  }
}
