/**
 * Tenants as the broker needs them, precomputed from config once so that
 * per-message checks are set lookups.
 */
import { idSetOf } from '../config/device-groups.ts';
import type { GatewayConfig, StreamConfig } from '../config/schema.ts';

/** Membership test of an app's device groups. */
export interface DeviceMatcher {
  has(deviceId: string): boolean;
}

export interface AppAccess {
  /** undefined: every stream of the tenant. */
  readonly streams: ReadonlySet<string> | undefined;
  /** undefined: every device of the tenant. */
  readonly devices: DeviceMatcher | undefined;
  /** Lifecycle events of those devices. */
  readonly events: boolean;
}

export interface TenantEntry {
  readonly tenantId: string;
  readonly active: boolean;
  readonly streams: ReadonlyMap<string, StreamConfig>;
  readonly streamNames: ReadonlySet<string>;
  readonly apps: ReadonlyMap<string, AppAccess>;
  /** MQTT 5 user property names forwarded from its devices' publishes (forwardUserProperties). */
  readonly userProperties: ReadonlySet<string>;
}

export class TenantDirectory {
  private readonly tenants = new Map<string, TenantEntry>();

  constructor(config: GatewayConfig) {
    for (const [tenantId, t] of Object.entries(config.tenants)) {
      const streams = new Map<string, StreamConfig>([...Object.entries(config.streams), ...Object.entries(t.streams)]);
      const apps = new Map<string, AppAccess>();
      for (const [appId, grant] of Object.entries(t.apps)) {
        const devices = grant.deviceGroups ? groupsMatcher(grant.deviceGroups.map((g) => t.deviceGroups[g] ?? [])) : undefined;
        apps.set(appId, { streams: grant.streams ? new Set(grant.streams) : undefined, devices, events: grant.events === true });
      }
      this.tenants.set(tenantId, { tenantId, active: t.active, streams, streamNames: new Set(streams.keys()), apps,
        userProperties: new Set(t.forwardUserProperties) });
    }
  }

  get(tenantId: string): TenantEntry | undefined {
    return this.tenants.get(tenantId);
  }

  ids(): string[] {
    return [...this.tenants.keys()];
  }
}

export function appMaySee(access: AppAccess, deviceId: string, stream: string): boolean {
  return (access.streams === undefined || access.streams.has(stream)) &&
    (access.devices === undefined || access.devices.has(deviceId));
}

/** A lifecycle event of the device, for an app granted events (and, with device groups, that device). */
export function appMaySeeEvents(access: AppAccess, deviceId: string): boolean {
  return access.events && (access.devices === undefined || access.devices.has(deviceId));
}

/**
 * One set per group, shared across rebuilds (idSetOf), rather than a union
 * per app: a change to one group then costs that group, not the tenant.
 */
function groupsMatcher(lists: readonly (readonly string[])[]): DeviceMatcher {
  const sets = lists.map(idSetOf);
  if (sets.length === 1) return sets[0]!;
  return { has: (deviceId) => sets.some((s) => s.has(deviceId)) };
}
