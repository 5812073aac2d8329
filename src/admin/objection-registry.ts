/**
 * Objections to processing for a purpose (GDPR Art. 21), per device: an
 * append-only record of who objected to what and when, which
 * purpose-specific consumers consult. Recording is all the gateway does
 * itself; it has no purpose-specific processing to stop. Kept in the
 * control store (`objection` kind); entries are never overwritten.
 */
import { randomUUID } from 'node:crypto';
import type { ObjectionValue } from '../control/control-kinds.ts';
import type { ControlStore } from '../control/control-store.ts';

export type Objection = ObjectionValue;

export const OBJECTIONS_FILE = 'objections.jsonl';

export class ObjectionRegistry {
  constructor(private readonly store: ControlStore, private readonly now: () => number = Date.now) {}

  async record(o: Omit<Objection, 'timeMs'>): Promise<Objection> {
    const entry: Objection = { timeMs: this.now(), ...o };
    await this.store.put('objection', `${o.tenantId}/${o.deviceId}/${randomUUID()}`, entry, o.actor);
    return entry;
  }

  list(tenantId: string, deviceId: string): Objection[] {
    return [...this.store.entries('objection').values()]
      .filter((o) => o.tenantId === tenantId && o.deviceId === deviceId)
      .sort((a, b) => a.timeMs - b.timeMs);
  }

  /** Whether the device's data may be used for the purpose. */
  objected(tenantId: string, deviceId: string, purpose: string): boolean {
    return this.list(tenantId, deviceId).some((o) => o.purpose === purpose);
  }
}

