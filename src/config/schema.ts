/**
 * The gateway's configuration schema. Parsed and validated once, at start;
 * unknown keys are rejected and every problem is reported at once. Each
 * component receives only its own slice.
 */
import { z } from 'zod';
import { CidrSchema } from './cidr.ts';
import { AdminConfigSchema } from './admin-config.ts';
import { BackupConfigSchema } from './backup-config.ts';
import { ID_PATTERN } from '../identity/identity.ts';
import { ControlStoreConfigSchema } from './control-config.ts';
import { ClusterConfigSchema } from './cluster-config.ts';
import { isCheckedIdList } from './device-groups.ts';
import { KeysConfigSchema, TenantKeysConfigSchema } from './keys-config.ts';
import { LimitsConfigSchema, TenantQuotasSchema } from './limits-config.ts';
import { MetricsConfigSchema, TracingConfigSchema } from './observability-config.ts';
import { AuditConfigSchema } from './audit-config.ts';
import { PrivacyConfigSchema } from './policy-config.ts';
import { StorageConfigSchema, TenantRetentionConfigSchema } from './sinks-config.ts';
import { WebSocketConfigSchema } from './websocket-config.ts';

const Id = z.string().regex(ID_PATTERN, `must match ${ID_PATTERN.source}`);
const StreamName = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'stream names match ^[a-z][a-z0-9-]{0,31}$');
const Port = z.number().int().min(0).max(65535);

export const StreamConfigSchema = z.object({
  /** Fully qualified protobuf message type, e.g. thingiq.telemetry.v1.SensorReading. */
  messageType: z.string().regex(/^[A-Za-z_][\w.]*$/),
  /** Largest payload accepted on this stream, in bytes. */
  maxPayloadBytes: z.number().int().min(16).max(1024 * 1024).default(16 * 1024),
}).strict();

export const AppGrantSchema = z.object({
  /** Streams the app may read; absent means all of the tenant's streams. */
  streams: z.array(StreamName).min(1).optional(),
  /** Device groups the app may read; absent means every device of the tenant. */
  deviceGroups: z.array(Id).min(1).optional(),
  /** Device lifecycle events (tenants/{t}/events/{device}/connected|disconnected) of the granted devices; off unless set. */
  events: z.boolean().optional(),
}).strict();

const IdList = z.array(Id);

/**
 * A device group's members. A list an earlier parse or the control store
 * already checked passes through unwalked (device-groups.ts); any other is
 * checked id by id, with each problem's path.
 */
const DeviceIdList = z.custom<readonly string[]>((v) => Array.isArray(v), 'expected an array of device ids').superRefine((list, ctx) => {
  if (isCheckedIdList(list)) return;
  const result = IdList.safeParse(list);
  if (!result.success) for (const issue of result.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
});

export const TenantConfigSchema = z.object({
  /** An inactive tenant's identities cannot connect. */
  active: z.boolean().default(true),
  /** Streams added to (or overriding) the gateway-wide ones for this tenant. */
  streams: z.record(StreamName, StreamConfigSchema).default({}),
  /** Named groups of device ids, used by grants and policies. */
  deviceGroups: z.record(Id, DeviceIdList).default({}),
  /** Applications allowed to subscribe, with their grants. An app not listed here is refused. */
  apps: z.record(Id, AppGrantSchema).default({}),
  privacy: PrivacyConfigSchema.optional(),
  keys: TenantKeysConfigSchema.optional(),
  retention: TenantRetentionConfigSchema.optional(),
  /** This tenant's message, byte and connection quotas (the rest from limits.tenantDefaults). */
  quotas: TenantQuotasSchema.optional(),
  /**
   * MQTT 5 user properties of a device's PUBLISH forwarded to the tenant's
   * apps, by name; all others are dropped (they can carry personal data).
   * They are never stored.
   */
  forwardUserProperties: z.array(z.string().min(1).max(128)).max(64).default([]),
}).strict();

export const ExternalCaSchema = z.object({
  /** PEM file of the external CA whose client certificates are trusted too. */
  caFile: z.string().min(1),
  /**
   * Identity mapping for its certificates: subject fields whose values become
   * the tenant and the device (e.g. O → tenant, CN → device).
   */
  tenantFrom: z.enum(['O', 'OU', 'CN']).default('O'),
  deviceFrom: z.enum(['O', 'OU', 'CN']).default('CN'),
}).strict();

export const GatewayConfigSchema = z.object({
  mqtt: z.object({
    host: z.string().default('0.0.0.0'),
    port: Port.default(8883),
    /** Hostnames and addresses put in the development server certificate. */
    serverHosts: z.array(z.string().min(1)).min(1).default(['localhost', '127.0.0.1']),
    /** Close connections that do not send CONNECT this long after the TLS handshake. */
    connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    /** Largest keepalive a client may ask for, seconds (0 = no limit). */
    keepaliveLimitS: z.number().int().min(0).max(65535).default(1200),
    /** A device's clock may be this far from the gateway's. */
    maxClockSkewMs: z.number().int().min(1000).default(7 * 24 * 3600 * 1000),
    /** Refused publishes by one client before it is disconnected. */
    maxRefusalsBeforeDisconnect: z.number().int().min(1).default(3),
    /** MQTT 5: longest Session Expiry Interval granted, seconds; a longer request is cut to it (docs/mqtt5.md). */
    maxSessionExpiryS: z.number().int().min(1).max(0xfffffffe).default(3600),
    /** MQTT 5: most disconnected sessions (and delayed wills) held at once; past it a session ends with its connection. */
    maxPendingSessions: z.number().int().min(1).max(10_000_000).default(10_000),
    /** MQTT 5: Topic Alias Maximum announced in CONNACK and enforced (0: no aliases). */
    topicAliasMaximum: z.number().int().min(0).max(65_535).default(8),
    /**
     * MQTT 5 server redirect (§4.11): every CONNECT is refused, an MQTT 5
     * client with CONNACK 0x9C "use another server" (0x9D with `moved`) naming
     * `serverReference`, an MQTT 3.1.1 client with return code 3.
     */
    redirect: z.object({ serverReference: z.string().min(1).max(1024), moved: z.boolean().default(false) }).strict().optional(),
    /**
     * PROXY protocol v2 header expected first on every MQTT connection (from
     * HAProxy's `send-proxy-v2`): per-address limits and logs then see the
     * device's address. On, a connection without a valid header is closed.
     */
    proxyProtocol: z.boolean().default(false),
    /**
     * With `proxyProtocol`: the load balancers' addresses (CIDR blocks such
     * as `10.0.0.0/24`, or single addresses) allowed to connect; others are
     * closed before their header is read. Absent: any source.
     */
    proxyProtocolFrom: z.array(CidrSchema).min(1).optional(),
    /**
     * TCP_NODELAY on every MQTT connection (TLS, its PROXY front, WebSocket):
     * a PUBACK or a delivery leaves at once instead of waiting, under Nagle's
     * algorithm, for the peer to acknowledge the previous segment. Off trades
     * latency for fewer, fuller segments on a costly link.
     */
    tcpNoDelay: z.boolean().default(true),
  }).strict().prefault({}),
  /** MQTT over WebSocket (TLS) for tenant apps: bearer tokens or client certificates; off by default. */
  websocket: WebSocketConfigSchema.prefault({}),
  /** Packet size, topic, rate, quota, connection and flapping limits (docs/SECURITY.md). */
  limits: LimitsConfigSchema.prefault({}),
  admin: AdminConfigSchema.prefault({}),
  /** Where generated certificates, the issuance registry and the CA live. */
  pkiDir: z.string().min(1).default('certs'),
  /**
   * Key type of what the gateway generates: a new development CA, its server
   * certificate, and key pairs made for clients that send no CSR. `ec` is
   * ECDSA P-256, `rsa` RSA-2048. An existing CA keeps its own type.
   */
  pkiKeyType: z.enum(['ec', 'rsa']).default('ec'),
  /** Where the keyring and the default SQLite database live. */
  dataDir: z.string().min(1).default('data'),
  externalCa: ExternalCaSchema.optional(),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).strict().prefault({}),
  /** Gateway-wide streams; tenants may add their own. */
  streams: z.record(StreamName, StreamConfigSchema).default({
    sensor: { messageType: 'thingiq.telemetry.v1.SensorReading', maxPayloadBytes: 16 * 1024 },
    location: { messageType: 'thingiq.telemetry.v1.VehicleLocation', maxPayloadBytes: 1024 },
  }),
  tenants: z.record(Id, TenantConfigSchema).default({}),
  privacy: PrivacyConfigSchema.optional(),
  keys: KeysConfigSchema.optional(),
  storage: StorageConfigSchema.optional(),
  /** Unauthenticated loopback scrape listener (docs/operations.md). */
  metrics: MetricsConfigSchema.prefault({}),
  /** Copies of the audit checkpoint outside the data directory. */
  audit: AuditConfigSchema.prefault({}),
  /** OpenTelemetry traces over OTLP/HTTP (docs/operations.md). */
  tracing: TracingConfigSchema.prefault({}),
  /** Operator-owned state and its change feed (docs/control-store.md); default: SQLite `control.db` in dataDir. */
  controlStore: ControlStoreConfigSchema.optional(),
  /** Backup keys and scheduled backups (docs/operations.md). */
  backup: BackupConfigSchema.optional(),
  /** Several gateway processes serving one fleet over NATS and PostgreSQL (docs/scaling.md); absent: one self-contained process. */
  cluster: ClusterConfigSchema.optional(),
}).strict();

export type GatewayConfig = z.infer<typeof GatewayConfigSchema>;
export type TenantConfig = z.infer<typeof TenantConfigSchema>;
export type StreamConfig = z.infer<typeof StreamConfigSchema>;
export type AppGrant = z.infer<typeof AppGrantSchema>;
