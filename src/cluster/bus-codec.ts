/**
 * The cluster bus's wire form (docs/operations.md, "The cluster bus"):
 * which NATS subject an MQTT topic travels on, and the bytes of one packet.
 *
 * Subjects, under the configured prefix:
 * - `<p>.<tenant>.<device>.<stream>` for `tenants/{t}/devices/{d}/{s}`;
 * - `<p>.<tenant>._ev.<device>.<event>` for `tenants/{t}/events/{d}/{e}`;
 * - `<p>._ctl.<kind>` for broker control messages (a session's takeover).
 * Tenant, device and stream names never contain `_` or `.`, so the three
 * spaces never meet, and one subscription `<p>.<tenant>.>` holds everything
 * of a tenant. Any other topic stays on its node.
 */

/** The `$SYS` message aedes publishes when a client's session starts ([MQTT-3.1.4-2] across nodes). */
const NEW_CLIENTS = /^\$SYS\/[^/]+\/new\/clients$/;
const ID = /^[a-z0-9][a-z0-9-]{0,62}$/;
const STREAM = /^[a-z][a-z0-9-]{0,31}$/;
const EVENTS = new Set(['connected', 'disconnected']);

export const EVENTS_TOKEN = '_ev';
export const CONTROL_TOKEN = '_ctl';

/** The subject a topic travels on, or undefined when it stays on this node. */
export function subjectOf(prefix: string, topic: string): string | undefined {
  if (topic.startsWith('$')) return NEW_CLIENTS.test(topic) ? `${prefix}.${CONTROL_TOKEN}.takeover` : undefined;
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'tenants' || !ID.test(parts[1]!) || !ID.test(parts[3]!)) return undefined;
  if (parts[2] === 'devices' && STREAM.test(parts[4]!)) return `${prefix}.${parts[1]}.${parts[3]}.${parts[4]}`;
  if (parts[2] === 'events' && EVENTS.has(parts[4]!)) return `${prefix}.${parts[1]}.${EVENTS_TOKEN}.${parts[3]}.${parts[4]}`;
  return undefined;
}

/** The subject a remote message's topic must have travelled on; a mismatch is refused (never re-routed). */
export function topicMatchesSubject(prefix: string, subject: string, topic: string): boolean {
  return subjectOf(prefix, topic) === subject;
}

/**
 * The tenant a subscription filter is confined to, when its first two
 * levels are literal (`tenants/{t}/...`, the only filters apps may hold).
 * A node subscribes to a tenant's subjects while it holds at least one.
 */
export function tenantOfFilter(filter: string): string | undefined {
  const parts = filter.split('/', 3);
  return parts.length >= 3 && parts[0] === 'tenants' && ID.test(parts[1]!) ? parts[1] : undefined;
}

/** Whether an MQTT topic matches a filter (`+` one level, `#` the rest, its parent included) [MQTT-4.7.1]. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export function tenantSubject(prefix: string, tenant: string): string {
  return `${prefix}.${tenant}.>`;
}

export function controlSubject(prefix: string): string {
  return `${prefix}.${CONTROL_TOKEN}.>`;
}

/** What crosses the bus of one aedes packet. */
export interface BusPacket {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** aedes de-duplicates deliveries by origin broker and its counter: both travel. */
  readonly brokerId: string;
  readonly brokerCounter: number;
  /** Absolute expiry (ms since the epoch) of a message with an MQTT 5 Message Expiry Interval. */
  readonly messageExpiry?: number | undefined;
  readonly properties?: BusProperties | undefined;
  /** Shared-subscription groups already had it (delivered on its node while NATS was away). */
  readonly sharesDone?: boolean | undefined;
}

/** The MQTT 5 properties the gateway forwards (mqtt5.ts forwardedProperties); no others travel. */
export interface BusProperties {
  messageExpiryInterval?: number;
  userProperties?: Record<string, string | string[]>;
}

const VERSION = 1;
const F_RETAIN = 4;
const F_EXPIRY = 8;
const F_INTERVAL = 16;
const F_USER = 32;
const F_SHARES_DONE = 64;

/** Marks encoded bytes as already given to shared-subscription groups. */
export function markSharesDone(data: Buffer): void {
  data[1] = data[1]! | F_SHARES_DONE;
}

export class BusCodecError extends Error {}

/** version, flags (qos in the low two bits), ids, topic, optional properties, then the payload as is. */
export function encodePacket(p: BusPacket): Buffer {
  const user = p.properties?.userProperties ? flatten(p.properties.userProperties) : undefined;
  const interval = p.properties?.messageExpiryInterval;
  const strings = [p.brokerId, p.topic, ...(user ?? [])].map((s) => Buffer.from(s, 'utf8'));
  let size = 2 + 8 + strings.reduce((n, s) => n + 2 + s.length, 0) + (user ? 2 : 0) + p.payload.length;
  if (p.messageExpiry !== undefined) size += 8;
  if (interval !== undefined) size += 4;
  const out = Buffer.allocUnsafe(size);
  let flags = p.qos & 3;
  if (p.retain) flags |= F_RETAIN;
  if (p.messageExpiry !== undefined) flags |= F_EXPIRY;
  if (interval !== undefined) flags |= F_INTERVAL;
  if (user) flags |= F_USER;
  if (p.sharesDone) flags |= F_SHARES_DONE;
  out[0] = VERSION;
  out[1] = flags;
  let at = out.writeDoubleBE(p.brokerCounter, 2);
  if (p.messageExpiry !== undefined) at = out.writeDoubleBE(p.messageExpiry, at);
  if (interval !== undefined) at = out.writeUInt32BE(interval, at);
  if (user) at = out.writeUInt16BE(user.length / 2, at);
  for (const s of strings) {
    if (s.length > 0xffff) throw new BusCodecError('string too long for the bus');
    at = out.writeUInt16BE(s.length, at);
    at += s.copy(out, at);
  }
  p.payload.copy(out, at);
  return out;
}

export function decodePacket(data: Uint8Array): BusPacket {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 10 || buf[0] !== VERSION) throw new BusCodecError('unknown bus packet version');
  const flags = buf[1]!;
  if ((flags & 3) === 3) throw new BusCodecError('bad qos');
  const qos = (flags & 3) as 0 | 1 | 2;
  let at = 2;
  const need = (n: number): number => {
    if (at + n > buf.length) throw new BusCodecError('truncated bus packet');
    const start = at;
    at += n;
    return start;
  };
  const brokerCounter = buf.readDoubleBE(need(8));
  const messageExpiry = flags & F_EXPIRY ? buf.readDoubleBE(need(8)) : undefined;
  const interval = flags & F_INTERVAL ? buf.readUInt32BE(need(4)) : undefined;
  const pairs = flags & F_USER ? buf.readUInt16BE(need(2)) : 0;
  const str = (): string => {
    const len = buf.readUInt16BE(need(2));
    return buf.toString('utf8', need(len), at);
  };
  const brokerId = str();
  const topic = str();
  const flat: string[] = [];
  for (let i = 0; i < pairs * 2; i++) flat.push(str());
  const properties: BusProperties = {};
  if (interval !== undefined) properties.messageExpiryInterval = interval;
  if (flags & F_USER) properties.userProperties = unflatten(flat);
  return {
    topic, qos, retain: (flags & F_RETAIN) !== 0, brokerId, brokerCounter, sharesDone: (flags & F_SHARES_DONE) !== 0,
    payload: Buffer.from(buf.subarray(at)),
    ...(messageExpiry !== undefined ? { messageExpiry } : {}),
    ...(interval !== undefined || flags & F_USER ? { properties } : {}),
  };
}

/** Name/value pairs; a repeated name (MQTT 5 allows it) is several pairs. */
function flatten(user: Record<string, string | string[]>): string[] {
  const out: string[] = [];
  for (const [name, value] of Object.entries(user)) {
    for (const v of Array.isArray(value) ? value : [value]) out.push(name, String(v));
  }
  return out;
}

function unflatten(flat: readonly string[]): Record<string, string | string[]> {
  const user: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    const value = flat[i + 1]!;
    const had = user[name];
    user[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return { ...user };
}

/** What aedes emits: an aedes-packet (topic, payload, qos, retain, brokerId, brokerCounter, ...). */
export interface EmittedPacket {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos?: number;
  readonly retain?: boolean;
  readonly brokerId?: string;
  readonly brokerCounter?: number;
  readonly messageExpiry?: number;
  readonly properties?: object;
  readonly [key: string]: unknown;
}

export function busPacketOf(p: EmittedPacket): BusPacket {
  const props = p.properties as BusProperties | undefined;
  const properties: BusProperties | undefined = props && (props.userProperties || props.messageExpiryInterval !== undefined)
    ? { ...(props.userProperties ? { userProperties: props.userProperties } : {}), ...(props.messageExpiryInterval !== undefined ? { messageExpiryInterval: props.messageExpiryInterval } : {}) }
    : undefined;
  return {
    topic: p.topic, payload: p.payload, qos: (p.qos ?? 0) as 0 | 1 | 2, retain: p.retain ?? false,
    brokerId: p.brokerId ?? '', brokerCounter: p.brokerCounter ?? 0, messageExpiry: p.messageExpiry, properties,
  };
}

/**
 * A packet as aedes emits one. The retain flag is cleared: a retained
 * message is kept (and checked against the privacy ledger) only by the node
 * that received it; other nodes' subscribers get it as a live message.
 */
export function aedesPacketOf(p: BusPacket): EmittedPacket {
  return {
    cmd: 'publish', topic: p.topic, payload: p.payload, qos: p.qos, retain: false, dup: false,
    brokerId: p.brokerId, brokerCounter: p.brokerCounter,
    ...(p.messageExpiry !== undefined ? { messageExpiry: p.messageExpiry } : {}),
    ...(p.properties ? { properties: p.properties } : {}),
  };
}
