/**
 * The running gateway's services as the wiring modules beside it see them
 * (the admin API's dependencies, the state metrics): built once by
 * Gateway.start, read here, never reached into through the Gateway class.
 */
import type { TenantChange } from '../admin/admin-adapters.ts';
import type { TenantOverrides, TenantOverridesState } from '../admin/tenant-overrides.ts';
import type { RetainedLedger } from '../broker/retained-ledger.ts';
import type { GatewayStats } from '../broker/stats.ts';
import type { TrafficMeter } from '../broker/traffic-meter.ts';
import type { ClusterRuntime } from '../cluster/cluster-runtime.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { ControlStore } from '../control/control-store.ts';
import type { KeyContext } from '../keys/key-context.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Logger } from '../log.ts';
import type { TelemetryCodec } from '../messages/codec.ts';
import type { GatewayTracer } from '../observability/tracing.ts';
import type { IssuedRecord } from '../pki/issuance-registry.ts';
import type { PolicyOverrides } from '../privacy/policy-overrides.ts';
import type { ReloadablePrivacyEngine } from '../privacy/privacy-engine.ts';
import type { PrivateModeRegistry } from '../privacy/private-mode.ts';
import type { RetentionService } from '../retention/retention-service.ts';
import type { StorageRouter } from '../sinks/sink-router.ts';

/** What the admin API is built from. */
export interface AdminSources {
  readonly config: GatewayConfig;
  readonly currentConfig: GatewayConfig;
  readonly baseDir: string;
  readonly log: Logger;
  readonly control: ControlStore;
  readonly tenantOverrides: TenantOverrides;
  readonly policyOverrides: PolicyOverrides;
  readonly privacy: ReloadablePrivacyEngine;
  readonly privateMode: PrivateModeRegistry;
  readonly retention: RetentionService;
  readonly storage: StorageRouter;
  readonly keys: KeyContext;
  readonly codec: TelemetryCodec;
  readonly retained: RetainedLedger;
  readonly stats: GatewayStats;
  readonly mqttPort: number;
  readonly tracer: GatewayTracer | undefined;
  /** Cluster mode's runtime; undefined without the `cluster` section. */
  readonly cluster: ClusterRuntime | undefined;
  path(p: string): string;
  changeTenants(next: TenantOverridesState, change: TenantChange): Promise<void>;
  putPolicy(tenantId: string, policy: unknown, actor: string): Promise<{ policyId: string; policyVersion: number }>;
}

/** What the state metrics read at scrape time. */
export interface MetricSources {
  readonly stats: GatewayStats;
  readonly storage: StorageRouter;
  readonly keys: KeyContext;
  readonly traffic: TrafficMeter;
  readonly limits: AbuseLimits | undefined;
  readonly tlsExpiry: { readonly ca: number; readonly externalCa: number | undefined; readonly server: number } | undefined;
  issuedCertificates(): readonly IssuedRecord[];
}
