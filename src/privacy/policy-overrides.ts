/**
 * Privacy policies put through the admin API. They override the tenant's
 * section of the config file until replaced, survive restarts, and are
 * validated like any policy before they take effect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TiqError } from '../errors.ts';
import { writeFileAtomic } from '../pki/secure-files.ts';
import type { ReloadablePrivacyEngine } from './privacy-engine.ts';
import type { TenantPrivacySources } from './policy-validation.ts';

export class PolicyOverrides {
  private policies: Record<string, unknown> = {};

  constructor(readonly dir: string) {
    if (existsSync(this.path)) this.policies = JSON.parse(readFileSync(this.path, 'utf8')) as Record<string, unknown>;
  }

  get path(): string {
    return join(this.dir, 'policies.json');
  }

  /** The sources with every overridden tenant's policy replaced. */
  apply(sources: TenantPrivacySources, tenants: readonly string[] = Object.keys(sources)): TenantPrivacySources {
    const out: Record<string, TenantPrivacySources[string]> = { ...sources };
    for (const t of tenants) {
      const base = sources[t];
      if (base && Object.hasOwn(this.policies, t)) out[t] = { ...base, privacy: this.policies[t] };
    }
    return out;
  }

  get(tenantId: string): unknown {
    return Object.hasOwn(this.policies, tenantId) ? this.policies[tenantId] : undefined;
  }

  /**
   * Replaces one tenant's policy: validated against what is in force (a
   * changed policy needs a higher version), then persisted atomically, then
   * swapped into the engine. Throws TIQ_ERR_POLICY_INVALID with every problem.
   */
  put(engine: ReloadablePrivacyEngine, base: TenantPrivacySources, tenantId: string, policy: unknown): { policyId: string; policyVersion: number } {
    const source = base[tenantId];
    if (!source) throw new TiqError('TIQ_ERR_POLICY_INVALID', { problems: [`tenant ${tenantId} is not configured`] });
    const candidate = { ...this.apply(base), [tenantId]: { ...source, privacy: policy } };
    const problems = engine.validate(candidate);
    if (problems.length) throw new TiqError('TIQ_ERR_POLICY_INVALID', { problems });
    this.policies = { ...this.policies, [tenantId]: policy };
    writeFileAtomic(this.path, JSON.stringify(this.policies, null, 2) + '\n', 0o600);
    engine.update(candidate);
    return engine.policyOf(tenantId)!;
  }
}
