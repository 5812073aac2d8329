/**
 * The effective configuration: the config file with the state the admin API
 * manages over it (apps, grants and device groups; privacy policies), merged
 * as the gateway merges them, and the source of every tenant-level value:
 * `file` (the tenant's own section), `api` (set through the admin API), or
 * `default` (inherited from a gateway-wide section or a built-in default).
 *
 * The API state is read through ApiOverridesReader, so where it is kept
 * (state files today) can change without touching the merge.
 */
import { effectiveQuotas } from './limits-config.ts';
import { parseConfig } from './load.ts';
import type { GatewayConfig } from './schema.ts';

export type ValueSource = 'file' | 'api' | 'default';

/** The admin API's state over the config file, read only. */
export interface ApiOverridesReader {
  /** The raw config with the API's apps and device groups merged in (set ones replace, deleted ones removed). */
  applyTenants(raw: unknown): unknown;
  /** Apps and device groups the API set (a value) or deleted (null) for one tenant. */
  tenant(tenantId: string): { readonly apps: Readonly<Record<string, unknown>>; readonly deviceGroups: Readonly<Record<string, unknown>> } | undefined;
  /** The privacy policy put through the API for the tenant; undefined when none. */
  policy(tenantId: string): unknown;
}

export interface EffectiveValue {
  readonly path: string;
  readonly source: ValueSource;
  readonly value: unknown;
}

export interface EffectiveConfig {
  readonly config: GatewayConfig;
  /** Every tenant-level value with its source, in path order. */
  readonly values: readonly EffectiveValue[];
  /** Apps and device groups the file lists but the API deleted. */
  readonly deletedByApi: readonly string[];
}

type Raw = Record<string, unknown>;
const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const has = (o: unknown, key: string): boolean => isObject(o) && Object.hasOwn(o, key);

/** The file (raw, already shape-checked) with the API state; throws TIQ_ERR_CONFIG like a reload would refuse. */
export function effectiveConfig(raw: Raw, reader: ApiOverridesReader, source = '(effective)'): EffectiveConfig {
  const merged = reader.applyTenants(raw) as Raw;
  const tenants: Raw = { ...(merged['tenants'] as Raw) };
  for (const [tenantId, tenant] of Object.entries(tenants)) {
    const policy = reader.policy(tenantId);
    if (policy !== undefined && isObject(tenant)) tenants[tenantId] = { ...tenant, privacy: policy };
  }
  const config = parseConfig({ ...merged, tenants }, source);
  const fileTenants = (isObject(raw['tenants']) ? raw['tenants'] : {}) as Raw;
  const values: EffectiveValue[] = [];
  const deletedByApi: string[] = [];
  for (const [tenantId, tenant] of Object.entries(config.tenants)) {
    const file = fileTenants[tenantId];
    const api = reader.tenant(tenantId);
    const p = `tenants.${tenantId}`;
    const own = (key: string): ValueSource => (has(file, key) ? 'file' : 'default');
    values.push({ path: `${p}.active`, source: own('active'), value: tenant.active });
    for (const [name, stream] of Object.entries({ ...config.streams, ...tenant.streams })) {
      values.push({ path: `${p}.streams.${name}`, source: has(tenant.streams, name) ? 'file' : 'default', value: stream });
    }
    for (const kind of ['deviceGroups', 'apps'] as const) {
      const fromFile = isObject(file) ? file[kind] : undefined;
      for (const [id, value] of Object.entries(tenant[kind])) {
        values.push({ path: `${p}.${kind}.${id}`, source: api?.[kind][id] ? 'api' : 'file', value });
      }
      for (const [id, value] of Object.entries(api?.[kind] ?? {})) {
        if (value === null && has(fromFile, id)) deletedByApi.push(`${p}.${kind}.${id}`);
      }
    }
    const privacySource: ValueSource = reader.policy(tenantId) !== undefined ? 'api' : own('privacy');
    values.push({ path: `${p}.privacy`, source: privacySource, value: tenant.privacy ?? config.privacy ?? null });
    values.push({ path: `${p}.retention`, source: own('retention'), value: tenant.retention ?? null });
    values.push({ path: `${p}.keys`, source: own('keys'), value: tenant.keys ?? { provider: config.keys?.provider ?? 'local' } });
    for (const [name, value] of Object.entries(effectiveQuotas(config.limits, tenant.quotas))) {
      values.push({ path: `${p}.quotas.${name}`, source: tenant.quotas?.[name as keyof typeof tenant.quotas] !== undefined ? 'file' : 'default', value });
    }
  }
  return { config, values, deletedByApi };
}
