/**
 * Which parts of the configuration a running gateway applies on reload, and
 * which it reads once at start. Tenants (apps, grants, device groups,
 * activity, streams, privacy, retention, quotas), gateway-wide streams and
 * the gateway-wide privacy policy apply on reload; listeners and ports, TLS
 * and PKI paths, dataDir, storage sinks, key providers (gateway-wide and per
 * tenant), limits and the log level are bound to open sockets, files and
 * clients, so a change of them needs a restart. Until then the running
 * values stay in force, and the change is reported as such.
 */
import { isDeepStrictEqual } from 'node:util';
import type { GatewayConfig, TenantConfig } from './schema.ts';

/** Top-level sections a reload applies. Every other section needs a restart. */
export const LIVE_SECTIONS: ReadonlySet<string> = new Set(['tenants', 'streams', 'privacy']);

/** Per-tenant settings that need a restart: the key provider is opened at start. */
const TENANT_RESTART_KEYS = ['keys'] as const satisfies readonly (keyof TenantConfig)[];

const sections = (c: GatewayConfig) => Object.keys(c) as (keyof GatewayConfig)[];

/** Paths (`mqtt`, `storage`, `tenants.acme.keys`) whose new value only a restart would apply. */
export function restartRequiredChanges(running: GatewayConfig, next: GatewayConfig): string[] {
  const changed = new Set<string>();
  for (const key of new Set([...sections(running), ...sections(next)])) {
    if (!LIVE_SECTIONS.has(key) && !isDeepStrictEqual(running[key], next[key])) changed.add(key);
  }
  for (const tenantId of Object.keys(next.tenants)) {
    for (const key of TENANT_RESTART_KEYS) {
      if (!isDeepStrictEqual(running.tenants[tenantId]?.[key], next.tenants[tenantId]?.[key])) changed.add(`tenants.${tenantId}.${key}`);
    }
  }
  return [...changed].sort();
}

/** `next` with the running values of every section that needs a restart. */
export function keepRunningValues(running: GatewayConfig, next: GatewayConfig): GatewayConfig {
  const out: Record<string, unknown> = {};
  for (const key of new Set([...sections(running), ...sections(next)])) {
    const value = LIVE_SECTIONS.has(key) ? next[key] : running[key];
    if (value !== undefined) out[key] = value;
  }
  const tenants: Record<string, TenantConfig> = {};
  for (const [tenantId, tenant] of Object.entries(next.tenants)) {
    const kept: Record<string, unknown> = { ...tenant };
    for (const key of TENANT_RESTART_KEYS) {
      const value = running.tenants[tenantId]?.[key];
      if (value === undefined) delete kept[key];
      else kept[key] = value;
    }
    tenants[tenantId] = Object.freeze(kept) as TenantConfig;
  }
  out['tenants'] = Object.freeze(tenants);
  return Object.freeze(out) as GatewayConfig;
}

/** The live sections that differ: what a reload actually changes. */
export function liveChanges(running: GatewayConfig, next: GatewayConfig): string[] {
  return [...LIVE_SECTIONS].filter((key) => !isDeepStrictEqual(running[key as keyof GatewayConfig], next[key as keyof GatewayConfig]));
}
