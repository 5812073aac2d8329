/**
 * The gateway's abuse limits at run time: the configured `limits`, each
 * tenant's effective quotas, and the shared state that enforces them
 * (connection counters, flapping tracks, tenant buckets). One instance per
 * gateway; the listener and the broker hooks each use their part.
 */
import { ConnectionCounter } from './connection-counter.ts';
import { FlapDetector } from './flap-detector.ts';
import { effectiveQuotas, type EffectiveQuotas, type LimitsConfig, type TenantQuotas } from '../config/limits-config.ts';
import { PublishLimiter } from './publish-limiter.ts';

export class AbuseLimits {
  readonly perAddress = new ConnectionCounter();
  readonly perTenant = new ConnectionCounter();
  readonly flaps: FlapDetector;
  readonly publishes: PublishLimiter;
  private quotas = new Map<string, EffectiveQuotas>();

  constructor(readonly config: LimitsConfig, tenantQuotas: Readonly<Record<string, TenantQuotas | undefined>>) {
    this.flaps = new FlapDetector(config.flapping);
    this.publishes = new PublishLimiter(config, (t) => this.quotasOf(t));
    this.setTenantQuotas(tenantQuotas);
  }

  quotasOf(tenantId: string): EffectiveQuotas {
    return this.quotas.get(tenantId) ?? effectiveQuotas(this.config, undefined);
  }

  /** Applies tenants' quotas (at start and on a configuration reload). */
  setTenantQuotas(tenantQuotas: Readonly<Record<string, TenantQuotas | undefined>>): void {
    this.quotas = new Map(Object.entries(tenantQuotas).map(([id, q]) => [id, effectiveQuotas(this.config, q)]));
    this.publishes.reset();
  }
}
