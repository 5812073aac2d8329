/** What the broker hooks are given: the gateway's services they use, nothing more. */
import type { Identity } from '../identity/identity.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Logger } from '../log.ts';
import type { PipelineContext } from '../pipeline/context.ts';
import type { GatewayTracer } from '../observability/tracing.ts';
import type { Redirect } from './mqtt5.ts';
import type { RetainedLedger } from './retained-ledger.ts';
import type { GatewayStats } from './stats.ts';
import type { TenantDirectory } from './tenant-directory.ts';
import type { TokenCheck } from './token-session.ts';

export interface HookDeps {
  /** Stamps retained publishes; checked before a retained message is delivered. */
  readonly retained?: RetainedLedger;
  readonly directory: () => TenantDirectory;
  readonly pipeline: PipelineContext;
  readonly log: Logger;
  readonly stats: GatewayStats;
  readonly maxRefusalsBeforeDisconnect: number;
  readonly limits: AbuseLimits;
  /** Largest keepalive a client may ask for, seconds (mqtt.keepaliveLimitS; 0 = no limit). */
  readonly keepaliveLimitS: number;
  /** Whether a certificate serial is revoked now; consulted when a delayed will comes due. Absent: none is. */
  readonly isRevoked?: (serial: string) => boolean;
  /** Restriction of processing (GDPR Art. 18) set by operators: drop messages, or refuse the device. */
  readonly restriction: (tenantId: string, deviceId: string) => 'none' | 'drop' | 'refuse';
  /**
   * Private-mode control topic; returns (or resolves to) false when the
   * command is not understood, throws or rejects (TIQ_ERR_AUDIT, retryable)
   * when it cannot be audited.
   */
  readonly onPrivateModeCommand: (tenantId: string, deviceId: string, payload: Buffer) => boolean | Promise<boolean>;
  /** Verifies the bearer tokens of the WebSocket token listener; absent: no token sessions. */
  readonly tokens?: TokenCheck;
  /** Whether a listener admits this identity (the WebSocket listeners admit apps only); absent: every one. */
  readonly accepts?: (conn: object, id: Identity) => boolean;
  /** The gateway is closing (no lifecycle events are published then). */
  readonly closing?: () => boolean;
  /** OpenTelemetry tracing of a sampled share of messages; absent when tracing is off. */
  readonly tracer?: GatewayTracer;
  /** MQTT 5 server redirect: every CONNECT is refused naming another server (mqtt.redirect). */
  readonly redirect?: Redirect | undefined;
}
