/**
 * Apps with their grants, device groups and registered devices changed
 * through the admin API. Like PolicyOverrides they sit over the config file:
 * apply() merges them into the raw config before it is validated, so the
 * gateway checks an API change exactly as it checks a config reload.
 *
 * Deletions are recorded (as null), not just forgotten: an app or group the
 * API deleted stays deleted even while the config file still lists it.
 *
 * State is `<dataDir>/admin/tenants.json`, written atomically with mode 0600.
 * Changes are staged as new immutable states (with*), validated by the
 * caller, then committed: a refused change never reaches the disk.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AppGrantSchema, type AppGrant } from '../config/schema.ts';
import { TiqError } from '../errors.ts';
import { ID_PATTERN } from '../identity/identity.ts';
import { writeFileAtomic } from '../pki/secure-files.ts';

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

type RawObject = Record<string, unknown>;
const isObject = (v: unknown): v is RawObject => typeof v === 'object' && v !== null && !Array.isArray(v);

function checkIds(...ids: [field: string, id: string][]): void {
  const problems = ids.filter(([, id]) => !ID_PATTERN.test(id)).map(([field]) => `${field}: must match ${ID_PATTERN.source}`);
  if (problems.length) throw new TiqError('TIQ_ERR_INVALID_ID', { problems });
}

export class TenantOverrides {
  #state: TenantOverridesState = {};

  /** `dir` is usually `<dataDir>/admin`. A corrupt file fails start with TIQ_ERR_CONFIG. */
  constructor(readonly dir: string) {
    if (!existsSync(this.path)) return;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.path, 'utf8'));
    } catch (err) {
      throw new TiqError('TIQ_ERR_CONFIG', { source: this.path, problems: [`not valid JSON: ${(err as Error).message}`] });
    }
    const parsed = FileSchema.safeParse(raw);
    if (!parsed.success) {
      throw new TiqError('TIQ_ERR_CONFIG', { source: this.path, problems: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) });
    }
    this.#state = parsed.data.tenants;
  }

  get path(): string {
    return join(this.dir, TENANTS_FILE);
  }

  get state(): TenantOverridesState {
    return this.#state;
  }

  withApp(tenantId: string, appId: string, grant: AppGrant | null): TenantOverridesState {
    checkIds(['tenant', tenantId], ['app', appId]);
    const t = this.tenant(tenantId);
    return { ...this.#state, [tenantId]: { ...t, apps: { ...t.apps, [appId]: grant } } };
  }

  withGroup(tenantId: string, group: string, devices: readonly string[] | null): TenantOverridesState {
    checkIds(['tenant', tenantId], ['group', group], ...(devices ?? []).map((d, i): [string, string] => [`devices.${i}`, d]));
    const t = this.tenant(tenantId);
    return { ...this.#state, [tenantId]: { ...t, deviceGroups: { ...t.deviceGroups, [group]: devices ? [...new Set(devices)] : null } } };
  }

  withDevice(tenantId: string, deviceId: string, device: RegisteredDevice): TenantOverridesState {
    checkIds(['tenant', tenantId], ['deviceId', deviceId]);
    const t = this.tenant(tenantId);
    return { ...this.#state, [tenantId]: { ...t, devices: { ...t.devices, [deviceId]: device } } };
  }

  /** Persists a staged state (atomic rename, 0600), then makes it current. */
  commit(next: TenantOverridesState): void {
    writeFileAtomic(this.path, JSON.stringify({ version: 1, tenants: next }, null, 2) + '\n', 0o600);
    this.#state = next;
  }

  devices(tenantId: string): Readonly<Record<string, RegisteredDevice>> {
    return this.#state[tenantId]?.devices ?? {};
  }

  /**
   * The raw config with the overrides merged in: for each tenant the config
   * has, an app or group the API set replaces the config's, one the API
   * deleted is removed. Tenants the config does not have are left out (their
   * overrides stay on disk). Never mutates `raw`; anything that is not a
   * config object is returned as is, for the schema to refuse.
   */
  apply(raw: unknown, state: TenantOverridesState = this.#state): unknown {
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
    return this.#state[tenantId] ?? { apps: {}, deviceGroups: {}, devices: {} };
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
