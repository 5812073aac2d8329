/**
 * Restriction of processing (GDPR Art. 18) per device. `drop`: the device
 * stays connected, its messages are acknowledged but neither stored nor
 * forwarded; `refuse`: its connections are refused. The broker asks
 * isRestricted() per CONNECT and per PUBLISH (an in-memory lookup in the
 * control store's replica).
 *
 * State is the control store's `restriction` kind: a change made by another
 * process (the CLI, another gateway) arrives through the store's change feed.
 */
import type { RestrictionValue } from '../control/control-kinds.ts';
import { deviceKey } from '../control/control-kinds.ts';
import type { ControlStore } from '../control/control-store.ts';

export type RestrictionMode = 'none' | 'drop' | 'refuse';
export type Restriction = RestrictionValue;

export const RESTRICTIONS_FILE = 'restrictions.json';

export class RestrictionRegistry {
  constructor(private readonly store: ControlStore, private readonly now: () => number = Date.now) {}

  isRestricted(tenantId: string, deviceId: string): RestrictionMode {
    return this.store.get('restriction', deviceKey(tenantId, deviceId))?.mode ?? 'none';
  }

  get(tenantId: string, deviceId: string): Restriction | undefined {
    return this.store.get('restriction', deviceKey(tenantId, deviceId));
  }

  list(tenantId?: string): Restriction[] {
    return [...this.store.entries('restriction').values()].filter((r) => tenantId === undefined || r.tenantId === tenantId);
  }

  /** Sets (or with 'none' lifts) a restriction; committed to the store before it takes effect. Returns the previous mode. */
  async set(tenantId: string, deviceId: string, mode: RestrictionMode, actor: string, reason = ''): Promise<RestrictionMode> {
    const previous = this.isRestricted(tenantId, deviceId);
    const key = deviceKey(tenantId, deviceId);
    if (mode === 'none') await this.store.delete('restriction', key, actor);
    else await this.store.put('restriction', key, { tenantId, deviceId, mode, sinceMs: this.now(), actor, reason }, actor);
    return previous;
  }
}
