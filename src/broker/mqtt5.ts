/**
 * MQTT 5 settings and properties (docs/mqtt5.md): what CONNACK announces,
 * which PUBLISH properties reach the tenant's apps, message expiry on
 * fan-out, and the server redirect.
 */
import type { AedesOptions, AedesPublishPacket, AuthenticateError, Client, PublishPacket } from 'aedes';
import type { GatewayConfig } from '../config/schema.ts';
import type { AppliedPolicy } from '../records/message.ts';

/** The fixed header of an MQTT packet is at most 5 bytes: type and flags, and a 4-byte remaining length [MQTT-2.2.3]. */
export const MAX_FIXED_HEADER_BYTES = 5;

/**
 * The MQTT 5 limits aedes announces in CONNACK and enforces.
 * limits.maxPacketBytes bounds a packet's remaining length (what the frame
 * scanner checks for every client); MQTT 5's Maximum Packet Size counts the
 * whole packet (§3.2.2.3.6), so the announced size adds the largest fixed
 * header. A 3.1.1 packet the scanner lets through is never larger than that,
 * so aedes's own check of the announced size changes nothing for 3.1.1.
 * Receive Maximum is the queue the publish gate holds (publish-gate.ts):
 * a client that keeps within it is never refused TIQ_ERR_TOO_MANY_PENDING.
 */
export function mqtt5BrokerOptions(config: GatewayConfig): Partial<AedesOptions> {
  return {
    maximumPacketSize: config.limits.maxPacketBytes + MAX_FIXED_HEADER_BYTES,
    receiveMaximum: Math.min(65_535, config.limits.maxQueuedPublishes),
    topicAliasMaximum: config.mqtt.topicAliasMaximum,
    sessionExpiryIntervalLimit: config.mqtt.maxSessionExpiryS,
    pendingSessionsLimit: config.mqtt.maxPendingSessions,
  };
}

export interface Redirect {
  readonly serverReference: string;
  readonly moved: boolean;
}

/** The authenticate error that redirects: CONNACK 0x9C or 0x9D with Server Reference (MQTT 5 §4.11), return code 3 for 3.1.1. */
export function redirectError(redirect: Redirect): AuthenticateError {
  const err = new Error('use another server') as Error & { returnCode: number; serverReference: string; reasonCode?: number };
  err.returnCode = 3;
  err.serverReference = redirect.serverReference;
  if (redirect.moved) err.reasonCode = 0x9d;
  return err as unknown as AuthenticateError;
}

/** User property names the gateway sets on forwarded messages; a device's own of these names are dropped. */
export const POLICY_ID_PROPERTY = 'thingiq-policy-id';
export const POLICY_VERSION_PROPERTY = 'thingiq-policy-version';

type Properties = NonNullable<PublishPacket['properties']>;
type UserProperties = NonNullable<Properties['userProperties']>;

/**
 * The properties a device's accepted PUBLISH is forwarded with: only what the
 * gateway vouches for. Message Expiry Interval is kept (and the expiry clock
 * starts at receipt); user properties only by the names the tenant allows;
 * the applied policy is added as user properties. Content type, payload
 * format, response topic and correlation data are dropped: the payload
 * forwarded is the pipeline's re-encoding, not the device's bytes, and apps
 * do not answer devices over MQTT.
 */
/**
 * The properties of a message that carries none of its own (every MQTT
 * 3.1.1 message, most MQTT 5 ones): the same for every message under one
 * policy version, so made once and shared, frozen (aedes copies before it
 * adds a subscription identifier).
 */
const policyOnly = new Map<string, Map<number, Properties>>();

function policyOnlyProperties(policyId: string, policyVersion: number): Properties {
  let versions = policyOnly.get(policyId);
  if (!versions) {
    // Bounded by the tenants' policies; a runaway of ids would only cost memory, so start over past a limit.
    if (policyOnly.size >= 10_000) policyOnly.clear();
    policyOnly.set(policyId, versions = new Map());
  }
  let props = versions.get(policyVersion);
  if (!props) {
    props = Object.freeze({ userProperties: Object.freeze({ [POLICY_ID_PROPERTY]: policyId, [POLICY_VERSION_PROPERTY]: String(policyVersion) }) }) as Properties;
    if (versions.size >= 64) versions.clear();
    versions.set(policyVersion, props);
  }
  return props;
}

export function forwardedProperties(packet: PublishPacket, allowed: ReadonlySet<string>, applied: AppliedPolicy | undefined, receivedAtMs: number): void {
  const source = packet.properties;
  if (source === undefined || (source.userProperties === undefined && !(source.messageExpiryInterval! > 0))) {
    packet.properties = policyOnlyProperties(applied?.policyId ?? 'none', applied?.policyVersion ?? 0);
    return;
  }
  const user: UserProperties = {};
  if (source?.userProperties && allowed.size > 0) {
    for (const [name, value] of Object.entries(source.userProperties)) {
      if (allowed.has(name) && name !== POLICY_ID_PROPERTY && name !== POLICY_VERSION_PROPERTY) user[name] = value;
    }
  }
  user[POLICY_ID_PROPERTY] = applied?.policyId ?? 'none';
  user[POLICY_VERSION_PROPERTY] = String(applied?.policyVersion ?? 0);
  const properties: Properties = { userProperties: user };
  const expiry = source?.messageExpiryInterval;
  if (expiry !== undefined && expiry > 0) {
    properties.messageExpiryInterval = expiry;
    (packet as { messageExpiry?: number }).messageExpiry = receivedAtMs + expiry * 1000;
  }
  packet.properties = properties;
}

/**
 * Message expiry on fan-out (MQTT 5 §3.3.2.3.3): a message past its expiry
 * is not delivered; one still alive is sent with the remaining lifetime.
 * Returns the packet to send, or null.
 */
export function unexpired(packet: AedesPublishPacket, nowMs: number): AedesPublishPacket | null {
  const expiry = (packet as { messageExpiry?: number }).messageExpiry;
  if (expiry === undefined || !packet.properties?.messageExpiryInterval) return packet;
  const remainingMs = expiry - nowMs;
  if (remainingMs <= 0) return null;
  const remaining = Math.ceil(remainingMs / 1000);
  if (remaining >= packet.properties.messageExpiryInterval) return packet;
  return { ...packet, properties: { ...packet.properties, messageExpiryInterval: remaining } } as AedesPublishPacket;
}

/**
 * aedes 2 registers a topic alias before authorizePublish sees the topic
 * (lib/handlers/publish.js, resolveTopicAlias): an alias for a topic the
 * gateway refuses is forgotten, so it holds no memory and cannot be reused.
 */
export function forgetAlias(client: Client, topic: string): void {
  const aliases = (client as unknown as { _topicAliases?: Map<number, string> })._topicAliases;
  if (!aliases || aliases.size === 0) return;
  for (const [alias, t] of aliases) if (t === topic) aliases.delete(alias);
}
