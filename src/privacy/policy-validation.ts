/**
 * Validation of every tenant's privacy section at once, before anything is
 * compiled or swapped in: schema problems, groups that do not exist, and a
 * changed policy whose version did not increase. Problems name their path
 * (`tenants.<id>.privacy.<path>`) and never carry coordinates.
 */
import type { z } from 'zod';
import type { DeviceGroups } from './compile-policy.ts';
import { PrivacyConfigSchema, type PrivacyConfig } from '../config/policy-config.ts';

export interface TenantPrivacySource {
  /** The tenant's `privacy` section, raw or already parsed; undefined = no policy. */
  readonly privacy: unknown;
  /** The tenant's `deviceGroups` from the gateway config. */
  readonly deviceGroups?: DeviceGroups | undefined;
}

export type TenantPrivacySources = Readonly<Record<string, TenantPrivacySource>>;

export interface ValidatedPolicies {
  readonly problems: readonly string[];
  /** Parsed policies of the tenants that have one (complete only when problems is empty). */
  readonly policies: ReadonlyMap<string, { readonly config: PrivacyConfig; readonly deviceGroups: DeviceGroups }>;
}

export function formatPolicyIssues(prefix: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.')}: ${i.message}`);
}

/** Problems of one section that need the tenant's device groups. */
export function crossCheck(prefix: string, config: PrivacyConfig, deviceGroups: DeviceGroups | undefined): string[] {
  if (!deviceGroups) return [];
  return config.groups.flatMap((g, i) => (g.group in deviceGroups ? [] : [`${prefix}.groups.${i}.group: group ${g.group} is not in the tenant's deviceGroups`]));
}

/**
 * Checks every tenant; `previous` (the policies in force) enables the rule
 * that a changed policy must carry a higher version: tenants must be able to
 * tell from AppliedPolicy which rules their data went through.
 */
export function validateTenantPolicies(sources: TenantPrivacySources, previous?: ReadonlyMap<string, { readonly config: PrivacyConfig }>): ValidatedPolicies {
  const problems: string[] = [];
  const policies = new Map<string, { config: PrivacyConfig; deviceGroups: DeviceGroups }>();
  for (const [tenantId, source] of Object.entries(sources)) {
    if (source.privacy === undefined) continue;
    const prefix = `tenants.${tenantId}.privacy`;
    const result = PrivacyConfigSchema.safeParse(source.privacy);
    if (!result.success) { problems.push(...formatPolicyIssues(prefix, result.error.issues)); continue; }
    problems.push(...crossCheck(prefix, result.data, source.deviceGroups));
    const old = previous?.get(tenantId)?.config;
    if (old && old.policyId === result.data.policyId && JSON.stringify(old) !== JSON.stringify(result.data) && result.data.version <= old.version) {
      problems.push(`${prefix}.version: the policy changed, so its version must be higher than ${old.version}`);
    }
    policies.set(tenantId, { config: result.data, deviceGroups: source.deviceGroups ?? {} });
  }
  return { problems, policies };
}
