/**
 * Apps with their grants, device groups and registered devices changed
 * through the admin API. Like PolicyOverrides they sit over the config file:
 * apply() merges them into the raw config before it is validated, so the
 * gateway checks an API change exactly as it checks a config reload.
 *
 * Deletions are recorded (as null), not just forgotten: an app or group the
 * API deleted stays deleted even while the config file still lists it.
 *
 * State is the control store (older versions' `<dataDir>/admin/tenants.json`
 * is imported once: tenantsFileSource). Changes are staged as new immutable
 * states (with*), validated by the caller, then committed: a refused change
 * never reaches the store. A change another process commits arrives through
 * the store's change feed.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { AppGrantSchema, type AppGrant } from '../config/schema.ts';
import { TiqError } from '../errors.ts';
import { ID_PATTERN } from '../identity/identity.ts';
import type { ControlStore, ControlWrite } from '../control/control-store.ts';
import type { LegacySource } from '../control/legacy-import.ts';

const Id = z.string().regex(ID_PATTERN, `must match ${ID_PATTERN.source}`);

export const RegisteredDeviceSchema = z.object({
  registeredAt: z.iso.datetime(),
  registeredBy: z.string().min(1).max(200),
  note: z.string().max(500).optional(),
}).strict();

const TenantStateSchema = z.object({
  /** null: deleted through the API. */
  apps: z.record(Id, AppGrantSchema.nullable()).default({}),
  deviceGroups: z.record(Id, z.array(Id).max(100_000).nullable()).default({}),
  devices: z.record(Id, RegisteredDeviceSchema).default({}),
}).strict();

const FileSchema = z.object({
  version: z.literal(1),
  tenants: z.record(Id, TenantStateSchema),
}).strict();

export type RegisteredDevice = z.infer<typeof RegisteredDeviceSchema>;
type TenantState = z.infer<typeof TenantStateSchema>;
export type TenantOverridesState = Readonly<Record<string, Readonly<TenantState>>>;

export const TENANTS_FILE = 'tenants.json';

/** The one-time import of tenants.json; a corrupt or invalid file fails the start with TIQ_ERR_CONFIG. */
export function tenantsFileSource(adminDir: string): LegacySource {
  const path = join(adminDir, TENANTS_FILE);
  return {
    name: TENANTS_FILE, path,
    parse: (text) => {
      let raw: unknown;
      try {
        raw = JSON.parse(text);
      } catch (err) {
        throw new TiqError('TIQ_ERR_CONFIG', { source: path, problems: [`not valid JSON: ${(err as Error).message}`] });
      }
      const parsed = FileSchema.safeParse(raw);
      if (!parsed.success) throw new TiqError('TIQ_ERR_CONFIG', { source: path, problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
      return Object.entries(parsed.data.tenants).flatMap(([tenantId, t]): ControlWrite[] => [
        ...Object.entries(t.apps).map(([id, grant]): ControlWrite => ({ kind: 'tenant-app', key: `${tenantId}/${id}`, value: { grant } })),
        ...Object.entries(t.deviceGroups).map(([id, devices]): ControlWrite => ({ kind: 'tenant-group', key: `${tenantId}/${id}`, value: { devices } })),
        ...Object.entries(t.devices).map(([id, device]): ControlWrite => ({ kind: 'tenant-device', key: `${tenantId}/${id}`, value: device })),
      ]);
    },
  };
}

type RawObject = Record<string, unknown>;
const isObject = (v: unknown): v is RawObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkIds(...ids: [field: string, id: string][]): void {
  const problems = ids.filter(([, id]) => !ID_PATTERN.test(id)).map(([field]) => `${field}: must match ${ID_PATTERN.source}`);
  if (problems.length) throw new TiqError('TIQ_ERR_INVALID_ID', { problems });
}

export class TenantOverrides {
  #cache: { version: number; state: TenantOverridesState } | undefined;

  /** State is the control store's `tenant-app`, `tenant-group` and `tenant-device` kinds. */
  constructor(private readonly store: ControlStore) {}

  /** Rebuilt from the replica whenever the store's version moved (another process may have changed it). */
  get state(): TenantOverridesState {
    if (this.#cache?.version !== this.store.version) this.#cache = { version: this.store.version, state: this.build() };
    return this.#cache.state;
  }

  private build(): TenantOverridesState {
    const out: Record<string, TenantState> = {};
    const slot = (key: string): [TenantState, string] => {
      const cut = key.indexOf('/');
      const tenantId = key.slice(0, cut);
      out[tenantId] ??= { apps: {}, deviceGroups: {}, devices: {} };
      return [out[tenantId], key.slice(cut + 1)];
    };
    for (const [key, v] of this.store.entries('tenant-app')) { const [t, id] = slot(key); t.apps[id] = v.grant as AppGrant | null; }
    // The replica's lists are shared, not copied (frozen: nobody may change them in place), so unchanged groups keep their identity.
    for (const [key, v] of this.store.entries('tenant-group')) { const [t, id] = slot(key); t.deviceGroups[id] = v.devices ? Object.freeze(v.devices) as string[] : null; }
    for (const [key, v] of this.store.entries('tenant-device')) { const [t, id] = slot(key); t.devices[id] = { ...v }; }
    return out;
  }

  withApp(tenantId: string, appId: string, grant: AppGrant | null): TenantOverridesState {
    checkIds(['tenant', tenantId], ['app', appId]);
    const t = this.tenant(tenantId);
    return { ...this.state, [tenantId]: { ...t, apps: { ...t.apps, [appId]: grant } } };
  }

  withGroup(tenantId: string, group: string, devices: readonly string[] | null): TenantOverridesState {
    checkIds(['tenant', tenantId], ['group', group], ...(devices ?? []).map((d, i): [string, string] => [`devices.${i}`, d]));
    const t = this.tenant(tenantId);
    return { ...this.state, [tenantId]: { ...t, deviceGroups: { ...t.deviceGroups, [group]: devices ? [...new Set(devices)] : null } } };
  }

  withDevice(tenantId: string, deviceId: string, device: RegisteredDevice): TenantOverridesState {
    checkIds(['tenant', tenantId], ['deviceId', deviceId]);
    const t = this.tenant(tenantId);
    return { ...this.state, [tenantId]: { ...t, devices: { ...t.devices, [deviceId]: device } } };
  }

  /** Commits a staged state: what differs from the current one, in one transaction. */
  async commit(next: TenantOverridesState, actor: string): Promise<void> {
    const current = this.state;
    const writes: ControlWrite[] = [];
    // Staged states share every unchanged value with the current one: identity first, then content.
    const same = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);
    for (const [tenantId, t] of Object.entries(next)) {
      const before = current[tenantId];
      for (const [id, grant] of Object.entries(t.apps)) {
        if (!before || !Object.hasOwn(before.apps, id) || !same(before.apps[id], grant)) writes.push({ kind: 'tenant-app', key: `${tenantId}/${id}`, value: { grant } });
      }
      for (const [id, devices] of Object.entries(t.deviceGroups)) {
        if (!before || !Object.hasOwn(before.deviceGroups, id) || !same(before.deviceGroups[id], devices)) writes.push({ kind: 'tenant-group', key: `${tenantId}/${id}`, value: { devices } });
      }
      for (const [id, device] of Object.entries(t.devices)) {
        if (!before || !Object.hasOwn(before.devices, id) || !same(before.devices[id], device)) writes.push({ kind: 'tenant-device', key: `${tenantId}/${id}`, value: device });
      }
    }
    await this.store.write(writes, actor);
  }

  devices(tenantId: string): Readonly<Record<string, RegisteredDevice>> {
    return this.state[tenantId]?.devices ?? {};
  }

  /**
   * The raw config with the overrides merged in: for each tenant the config
   * has, an app or group the API set replaces the config's, one the API
   * deleted is removed. Tenants the config does not have are left out (their
   * overrides stay on disk). Never mutates `raw`; anything that is not a
   * config object is returned as is, for the schema to refuse.
   */
  apply(raw: unknown, state: TenantOverridesState = this.state): unknown {
    if (!isObject(raw) || !isObject(raw['tenants'])) return raw;
    const tenants: RawObject = { ...raw['tenants'] };
    for (const [tenantId, o] of Object.entries(state)) {
      const base = tenants[tenantId];
      if (!Object.hasOwn(tenants, tenantId) || !isObject(base)) continue;
      tenants[tenantId] = { ...base, apps: merge(base['apps'], o.apps), deviceGroups: merge(base['deviceGroups'], o.deviceGroups) };
    }
    return { ...raw, tenants };
  }

  private tenant(tenantId: string): TenantState {
    return this.state[tenantId] ?? { apps: {}, deviceGroups: {}, devices: {} };
  }
}

function merge(base: unknown, changes: Readonly<Record<string, unknown>>): unknown {
  if (base !== undefined && !isObject(base)) return base; // malformed: let the schema report it
  const out: RawObject = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}
