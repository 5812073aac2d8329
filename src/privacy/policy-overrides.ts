/**
 * Privacy policies put through the admin API. They override the tenant's
 * section of the config file until replaced, survive restarts, and are
 * validated like any policy before they take effect. State is the control
 * store (`policy` kind; an older version's `policies.json` is imported once),
 * so a policy put through another gateway sharing the store arrives through
 * its change feed.
 */
import { join } from 'node:path';
import type { ControlStore, ControlWrite } from '../control/control-store.ts';
import type { LegacySource } from '../control/legacy-import.ts';
import { TiqError } from '../errors.ts';
import type { ReloadablePrivacyEngine } from './privacy-engine.ts';
import type { TenantPrivacySources } from './policy-validation.ts';

export const POLICIES_FILE = 'policies.json';

/** The one-time import of `<dataDir>/privacy/policies.json` (tenant id → policy). */
export function policiesFileSource(privacyDir: string): LegacySource {
  return {
    name: POLICIES_FILE, path: join(privacyDir, POLICIES_FILE),
    parse: (text) => Object.entries(JSON.parse(text) as Record<string, unknown>)
      .map(([tenantId, policy]): ControlWrite => ({ kind: 'policy', key: tenantId, value: { policy } })),
  };
}

export class PolicyOverrides {
  constructor(private readonly store: ControlStore) {}

  /** The sources with every overridden tenant's policy replaced. */
  apply(sources: TenantPrivacySources, tenants: readonly string[] = Object.keys(sources)): TenantPrivacySources {
    const out: Record<string, TenantPrivacySources[string]> = { ...sources };
    for (const t of tenants) {
      const base = sources[t];
      const override = this.store.get('policy', t);
      if (base && override) out[t] = { ...base, privacy: override.policy };
    }
    return out;
  }

  get(tenantId: string): unknown {
    return this.store.get('policy', tenantId)?.policy;
  }

  /**
   * Replaces one tenant's policy: validated against what is in force (a
   * changed policy needs a higher version), then committed to the store,
   * then swapped into the engine. Throws TIQ_ERR_POLICY_INVALID with every problem.
   */
  async put(engine: ReloadablePrivacyEngine, base: TenantPrivacySources, tenantId: string, policy: unknown, actor = 'system'): Promise<{ policyId: string; policyVersion: number }> {
    const source = base[tenantId];
    if (!source) throw new TiqError('TIQ_ERR_POLICY_INVALID', { problems: [`tenant ${tenantId} is not configured`] });
    const candidate = { ...this.apply(base), [tenantId]: { ...source, privacy: policy } };
    const problems = engine.validate(candidate);
    if (problems.length) throw new TiqError('TIQ_ERR_POLICY_INVALID', { problems });
    await this.store.put('policy', tenantId, { policy }, actor);
    engine.update(candidate);
    return engine.policyOf(tenantId)!;
  }
}
