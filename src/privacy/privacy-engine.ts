/**
 * The privacy stage's engine (issue 3): per-tenant policies compiled at
 * load, applied synchronously per message, swapped atomically on reload after
 * validation (an invalid policy never replaces the one in force).
 */
import { TiqError } from '../errors.ts';
import { applyCompiledPolicy, type ApplyContext } from './apply-policy.ts';
import { compilePolicy, compileRule, type CompiledPolicy } from './compile-policy.ts';
import { StickyNoise } from './geo-indistinguishability.ts';
import type { PrivacyConfig } from '../config/policy-config.ts';
import { validateTenantPolicies, type TenantPrivacySources } from './policy-validation.ts';
import type { PrivacyEngine, PrivacyInput, PrivacyOutcome } from './privacy-policy.ts';
import type { PrivateModeSwitch } from './private-mode.ts';
import { createCryptoRandom, type RandomSource } from './random.ts';

export interface PrivacyEngineOptions {
  /** Per tenant: its `privacy` section (raw or parsed) and its `deviceGroups`. */
  readonly tenants: TenantPrivacySources;
  /** Private-mode state; without it only the message's own flag counts. */
  readonly privateMode?: PrivateModeSwitch | undefined;
  /** Noise randomness; defaults to the OS CSPRNG. Inject a seeded source in tests only. */
  readonly random?: RandomSource | undefined;
  /** Devices whose sticky noise point is remembered (oldest forgotten first). */
  readonly maxStickyDevices?: number | undefined;
}

export interface ReloadablePrivacyEngine extends PrivacyEngine {
  /** Validates, then swaps all tenants' policies at once; throws TIQ_ERR_POLICY_INVALID and keeps the old ones. */
  update(tenants: TenantPrivacySources): void;
  /** Every problem `update` would refuse, without changing anything. */
  validate(tenants: TenantPrivacySources): readonly string[];
  /** Policy in force for a tenant, or undefined when it has none. */
  policyOf(tenantId: string): { readonly policyId: string; readonly policyVersion: number } | undefined;
}

interface Generation {
  readonly compiled: ReadonlyMap<string, CompiledPolicy>;
  readonly configs: ReadonlyMap<string, { readonly config: PrivacyConfig }>;
}

/**
 * Tenants without a policy keep location as sent (KEEP_ALL_POLICY) but still
 * honour private mode: a driver's switch must work whatever the tenant set up.
 */
const NO_POLICY: CompiledPolicy = {
  policyId: 'none', policyVersion: 0, zones: [], schedule: undefined, privateModeAction: 'strip',
  ruleFor: ((rule) => () => rule)(compileRule({ action: 'keep' })),
};

function build(tenants: TenantPrivacySources, previous: Generation | undefined): Generation {
  const { problems, policies } = validateTenantPolicies(tenants, previous?.configs);
  if (problems.length > 0) throw new TiqError('TIQ_ERR_POLICY_INVALID', { problems });
  const compiled = new Map<string, CompiledPolicy>();
  for (const [tenantId, p] of policies) compiled.set(tenantId, compilePolicy(p.config, p.deviceGroups));
  return { compiled, configs: policies };
}

export function createPrivacyEngine(options: PrivacyEngineOptions): ReloadablePrivacyEngine {
  let current = build(options.tenants, undefined);
  const noise = new StickyNoise(options.random ?? createCryptoRandom(), options.maxStickyDevices);
  const ctx: ApplyContext = { noise, scratch: { lat: 0, lon: 0 } };
  const registry = options.privateMode;

  const privateModeOn = (input: PrivacyInput): boolean => {
    const flag = input.body.privateMode;
    if (typeof flag === 'boolean' && registry) {
      const recorded = registry.set(input.tenantId, input.deviceId, flag, `device:${input.deviceId}`, 'message');
      // In force at once either way; a failed commit is withdrawn and the device's next flagged message retries it.
      if (typeof recorded !== 'boolean') recorded.catch(() => undefined);
    }
    return flag === true || (registry?.isOn(input.tenantId, input.deviceId) ?? false);
  };

  return {
    apply(input: PrivacyInput): PrivacyOutcome {
      const policy = current.compiled.get(input.tenantId) ?? NO_POLICY;
      return applyCompiledPolicy(policy, input, privateModeOn(input), ctx);
    },
    update(tenants) {
      const previous = current;
      current = build(tenants, current);
      // Noise drawn under a tenant's old policy (maybe another ε) must not outlive it. Only that
      // tenant's: redrawing everyone's noise on any tenant's change would hand a tenant-admin a way
      // to make other tenants' devices emit fresh noise for the same place, which averaging undoes.
      const policyOf = (g: Generation, t: string) => JSON.stringify(g.configs.get(t)?.config ?? null);
      for (const tenantId of new Set([...previous.configs.keys(), ...current.configs.keys()])) {
        if (policyOf(previous, tenantId) !== policyOf(current, tenantId)) noise.forgetPrefix(`${tenantId}/`);
      }
    },
    validate(tenants) {
      return validateTenantPolicies(tenants, current.configs).problems;
    },
    policyOf(tenantId) {
      const p = current.compiled.get(tenantId);
      return p ? { policyId: p.policyId, policyVersion: p.policyVersion } : undefined;
    },
  };
}
