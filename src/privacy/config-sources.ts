/**
 * How the gateway config plugs into the engine: each tenant's own `privacy`
 * section, else the gateway-wide `privacy` section, with its `deviceGroups`.
 */
import type { GatewayConfig } from '../config/schema.ts';
import type { TenantPrivacySources } from './policy-validation.ts';

export function privacySourcesFromConfig(config: GatewayConfig): TenantPrivacySources {
  const out: Record<string, { privacy: unknown; deviceGroups: Readonly<Record<string, readonly string[]>> }> = {};
  for (const [tenantId, tenant] of Object.entries(config.tenants)) {
    out[tenantId] = { privacy: tenant.privacy ?? config.privacy, deviceGroups: tenant.deviceGroups };
  }
  return out;
}
