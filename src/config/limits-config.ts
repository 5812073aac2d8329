/**
 * Abuse limits (issue 7): the `limits` section of the gateway configuration
 * and the per-tenant `quotas`. Every limit has a default sized as a backstop
 * that a well-behaved fleet never meets; docs/SECURITY.md lists them.
 */
import { z } from 'zod';

const Positive = z.number().positive();

/** Per-tenant quotas; anything left out comes from limits.tenantDefaults. */
export const TenantQuotasSchema = z.object({
  /** Messages per second accepted from all the tenant's devices together, and the burst above it. */
  messagesPerSecond: Positive.optional(),
  messageBurst: Positive.optional(),
  /** Payload bytes per second from all the tenant's devices together, and the burst above it. */
  bytesPerSecond: Positive.optional(),
  byteBurst: Positive.optional(),
  /** Live MQTT connections of the tenant's identities. */
  maxConnections: z.number().int().min(1).optional(),
  /** Publishes per second of one device, and its burst. */
  devicePublishesPerSecond: Positive.optional(),
  devicePublishBurst: Positive.optional(),
}).strict();

export const LimitsConfigSchema = z.object({
  /**
   * Largest MQTT packet, by the remaining length its fixed header announces;
   * checked on the raw bytes before the packet is parsed or buffered.
   */
  maxPacketBytes: z.number().int().min(1024).max(268_435_455).default(256 * 1024),
  /** Longest PUBLISH topic or SUBSCRIBE filter, in characters. */
  maxTopicLength: z.number().int().min(16).max(65_535).default(256),
  /** Most levels in a topic or filter (aedes maxTopicLevels; devices use 5). */
  maxTopicLevels: z.number().int().min(5).max(1000).default(16),
  /** Publishes of one client running through the pipeline at once; more wait their turn (reading stops). */
  maxPendingPublishes: z.number().int().min(1).max(65_535).default(64),
  /** Publishes of one client waiting for a pipeline slot; beyond it the client is disconnected. */
  maxQueuedPublishes: z.number().int().min(1).max(1_000_000).default(4096),
  /**
   * Bytes of one connection read ahead while its publishes wait (for storage,
   * a rate limit): PINGREQs among them are still answered; beyond it reading stops.
   */
  maxReadAheadBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(64 * 1024),
  /**
   * A client (typically a subscribing app) that leaves more than this many
   * bytes unread in its send buffer is disconnected (TIQ_ERR_SLOW_CONSUMER):
   * a client that stops reading never slows publishers or other subscribers.
   */
  maxOutboundBufferBytes: z.number().int().min(64 * 1024).max(1024 * 1024 * 1024).default(4 * 1024 * 1024),
  /** ...and so is one whose full send buffer does not drain within this time. */
  drainTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
  /** A TCP connection must complete the TLS handshake within this time. */
  tlsHandshakeTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Smallest keepalive a client may ask for, seconds (the largest is mqtt.keepaliveLimitS). */
  minKeepaliveS: z.number().int().min(0).max(65_535).default(5),
  /** Over a rate or quota: `slow` delays the device's messages (reading stops), `disconnect` closes it. */
  overLimit: z.enum(['slow', 'disconnect']).default('slow'),
  /** With `slow`, a message that would wait longer than this disconnects the device instead. */
  maxSlowDelayMs: z.number().int().min(0).max(600_000).default(30_000),
  /** Quotas of every tenant unless its own `quotas` say otherwise. */
  tenantDefaults: z.object({
    messagesPerSecond: Positive.default(100_000),
    messageBurst: Positive.default(200_000),
    bytesPerSecond: Positive.default(64 * 1024 * 1024),
    byteBurst: Positive.default(128 * 1024 * 1024),
    maxConnections: z.number().int().min(1).default(100_000),
    devicePublishesPerSecond: Positive.default(1000),
    devicePublishBurst: Positive.default(2000),
  }).strict().prefault({}),
  connections: z.object({
    /** Open TCP connections from one source address (devices behind NAT share one). */
    perAddress: z.number().int().min(1).default(20_000),
  }).strict().prefault({}),
  /** An identity connecting more than maxConnects times within windowMs is refused for a back-off. */
  flapping: z.object({
    maxConnects: z.number().int().min(1).default(20),
    windowMs: z.number().int().min(1000).default(60_000),
    /** First back-off; doubled on every repeat offence, up to maxBackoffMs. */
    backoffMs: z.number().int().min(100).default(30_000),
    maxBackoffMs: z.number().int().min(100).default(3_600_000),
    /** Identities tracked at once; the least recently seen are forgotten first. */
    maxTracked: z.number().int().min(100).default(100_000),
  }).strict().prefault({}),
}).strict();

export type LimitsConfig = z.infer<typeof LimitsConfigSchema>;
export type TenantQuotas = z.infer<typeof TenantQuotasSchema>;
export type EffectiveQuotas = Required<TenantQuotas>;

export function effectiveQuotas(limits: LimitsConfig, tenant: TenantQuotas | undefined): EffectiveQuotas {
  return { ...limits.tenantDefaults, ...Object.fromEntries(Object.entries(tenant ?? {}).filter(([, v]) => v !== undefined)) };
}
