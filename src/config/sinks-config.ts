/**
 * Storage and retention configuration.
 *
 * `storage` (gateway-wide): named sinks, which one is the default, which
 * tenants are pinned to which sink (data residency), batching and the sweeper.
 * `tenants.<id>.retention`: that tenant's retention rules and legal holds.
 * Operator changes made through the CLI are persisted in the tenant's sink and
 * override these (see docs/storage.md).
 */
import { z } from 'zod';

const SinkName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'sink names match ^[a-z][a-z0-9-]{0,31}$');
const Id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must match ^[a-z0-9][a-z0-9-]{0,62}$');
const StreamName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'stream names match ^[a-z][a-z0-9-]{0,31}$');

/** fsync: a committed batch survives power loss. process: it survives a crash of the gateway process only. */
export const DurabilitySchema = z.enum(['fsync', 'process']);
export type Durability = z.infer<typeof DurabilitySchema>;

export const SqliteSinkSettingsSchema = z.object({
  type: z.literal('sqlite'),
  /** Database file; relative paths are resolved against dataDir. */
  path: z.string().min(1).default('thingiq.db'),
  durability: DurabilitySchema.default('fsync'),
}).strict();

export const PostgresSinkSettingsSchema = z.object({
  type: z.literal('postgres'),
  connectionString: z.string().min(1),
  durability: DurabilitySchema.default('fsync'),
  poolSize: z.number().int().min(1).max(100).default(10),
}).strict();

export const SinkSettingsSchema = z.discriminatedUnion('type', [SqliteSinkSettingsSchema, PostgresSinkSettingsSchema]);
export type SinkSettings = z.infer<typeof SinkSettingsSchema>;
export type SqliteSinkSettings = z.infer<typeof SqliteSinkSettingsSchema>;
export type PostgresSinkSettings = z.infer<typeof PostgresSinkSettingsSchema>;

export const RetentionRuleSchema = z.object({
  /** Retention class name stored with each record, e.g. location-30d. */
  class: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'class names match ^[a-z0-9][a-z0-9-]{0,62}$'),
  days: z.number().int().min(1).max(36_500),
}).strict();
export type RetentionRule = z.infer<typeof RetentionRuleSchema>;

export const BatchingConfigSchema = z.object({
  /** Group commit: a batch is written when it holds this many records... */
  maxBatchRecords: z.number().int().min(1).max(10_000).default(256),
  /** ...or when its first record has waited this long; 0 (default): at the end of the event-loop turn, batches grow with load while a commit is in flight. */
  maxBatchDelayMs: z.number().int().min(0).max(1000).default(0),
  /** Records accepted but not yet committed; beyond this new writes wait (backpressure). */
  maxPendingRecords: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Backoff between retries of a failed batch. */
  retryInitialMs: z.number().int().min(1).default(50),
  retryMaxMs: z.number().int().min(1).default(5000),
}).strict();
export type BatchingConfig = z.infer<typeof BatchingConfigSchema>;

export const SweeperConfigSchema = z.object({
  intervalMs: z.number().int().min(1000).default(15 * 60 * 1000),
  /** Rows deleted or re-tagged per statement, so no sweep holds a long lock. */
  batchSize: z.number().int().min(1).max(100_000).default(5000),
}).strict();

const DEFAULT_SINKS = { default: { type: 'sqlite', path: 'thingiq.db', durability: 'fsync' } } as const;

export const StorageConfigSchema = z.object({
  sinks: z.record(SinkName, SinkSettingsSchema).default(DEFAULT_SINKS as never),
  /** The sink of every tenant not pinned below. */
  defaultSink: SinkName.default('default'),
  /** Data residency: tenant id → sink name. */
  tenantSinks: z.record(Id, SinkName).default({}),
  batching: BatchingConfigSchema.prefault({}),
  sweeper: SweeperConfigSchema.prefault({}),
  /** Retention of records whose tenant has no rule for their stream. */
  defaultRetention: RetentionRuleSchema.default({ class: 'default-365d', days: 365 }),
}).strict().superRefine((storage, ctx) => {
  if (!(storage.defaultSink in storage.sinks)) {
    ctx.addIssue({ code: 'custom', path: ['defaultSink'], message: `no sink named "${storage.defaultSink}"` });
  }
  for (const [tenant, sink] of Object.entries(storage.tenantSinks)) {
    if (!(sink in storage.sinks)) ctx.addIssue({ code: 'custom', path: ['tenantSinks', tenant], message: `no sink named "${sink}"` });
  }
});
export type StorageConfig = z.infer<typeof StorageConfigSchema>;

export const LegalHoldConfigSchema = z.object({
  /** Every record of the tenant is held. */
  tenant: z.boolean().default(false),
  /** Records of these devices are held. */
  devices: z.array(Id).default([]),
}).strict();

export const TenantRetentionConfigSchema = z.object({
  /** The tenant's fallback rule; else storage.defaultRetention. */
  default: RetentionRuleSchema.optional(),
  /** Rule per stream. */
  streams: z.record(StreamName, RetentionRuleSchema).default({}),
  /** Rule per device group (tenants.<id>.deviceGroups) and stream; wins over the stream rule. */
  deviceGroups: z.record(Id, z.record(StreamName, RetentionRuleSchema)).default({}),
  legalHold: LegalHoldConfigSchema.prefault({}),
}).strict();
export type TenantRetentionConfig = z.infer<typeof TenantRetentionConfigSchema>;

/** Parses the `storage` section, filling every default (used when the section is absent). */
export function resolveStorageConfig(raw: StorageConfig | undefined): StorageConfig {
  return raw ?? StorageConfigSchema.parse({});
}
