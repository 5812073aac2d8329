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

/**
 * One node's share of a tenant's quotas when `nodes` gateway nodes serve the
 * fleet: the tenant-wide rates, bursts and connection count divided evenly,
 * so the cluster as a whole enforces the configured figure (approximately:
 * a node whose share a tenant does not use leaves it unused). A device's own
 * rate is not divided (a device is connected to one node). Bursts never go
 * below what one message needs: one message, and the largest packet's bytes.
 */
export function quotaShare(q: EffectiveQuotas, nodes: number, maxPacketBytes: number): EffectiveQuotas {
  if (nodes <= 1) return q;
  return {
    ...q,
    messagesPerSecond: q.messagesPerSecond / nodes,
    messageBurst: Math.max(q.messageBurst / nodes, Math.min(q.messageBurst, 1)),
    bytesPerSecond: q.bytesPerSecond / nodes,
    byteBurst: Math.max(q.byteBurst / nodes, Math.min(q.byteBurst, maxPacketBytes)),
    maxConnections: Math.max(1, Math.ceil(q.maxConnections / nodes)),
  };
}

export class AbuseLimits {
  readonly perAddress = new ConnectionCounter();
  readonly perTenant = new ConnectionCounter();
  readonly flaps: FlapDetector;
  readonly publishes: PublishLimiter;
  private quotas = new Map<string, EffectiveQuotas>();
  private configured: Readonly<Record<string, TenantQuotas | undefined>> = {};
  /** Live gateway nodes sharing the tenant quotas (cluster mode; 1 otherwise). */
  private nodes = 1;

  constructor(readonly config: LimitsConfig, tenantQuotas: Readonly<Record<string, TenantQuotas | undefined>>) {
    this.flaps = new FlapDetector(config.flapping);
    this.publishes = new PublishLimiter(config, (t) => this.quotasOf(t));
    this.setTenantQuotas(tenantQuotas);
  }

  quotasOf(tenantId: string): EffectiveQuotas {
    return this.quotas.get(tenantId) ?? this.share(effectiveQuotas(this.config, undefined));
  }

  get liveNodes(): number {
    return this.nodes;
  }

  /**
   * The cluster's live-node count changed: every tenant's share is recomputed
   * and the tenants' buckets take their new rates at once, keeping the tokens
   * they hold (up to the new burst) so a membership change never refills them.
   */
  setLiveNodes(nodes: number, nowMs = Date.now()): void {
    const n = Math.max(1, Math.floor(nodes));
    if (n === this.nodes) return;
    this.nodes = n;
    this.quotas = this.computeQuotas();
    this.publishes.retune(nowMs);
  }

  private share(q: EffectiveQuotas): EffectiveQuotas {
    return quotaShare(q, this.nodes, this.config.maxPacketBytes);
  }

  private computeQuotas(): Map<string, EffectiveQuotas> {
    return new Map(Object.entries(this.configured).map(([id, q]) => [id, this.share(effectiveQuotas(this.config, q))]));
  }

  /** Applies tenants' quotas (at start and on a configuration reload). */
  setTenantQuotas(tenantQuotas: Readonly<Record<string, TenantQuotas | undefined>>): void {
    this.configured = tenantQuotas;
    this.quotas = this.computeQuotas();
    this.publishes.reset();
  }
}
