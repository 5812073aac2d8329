/**
 * Tenant namespaces (docs/architecture.md, Topics). Devices publish to
 * tenants/{tenant}/devices/{device}/{stream}; the gateway publishes device
 * lifecycle events to tenants/{tenant}/events/{device}/{event}; apps
 * subscribe under tenants/{tenant}/ within their grants, alone or in shared
 * groups; operators read $SYS. Everything else is refused.
 */
import type { Identity } from '../identity/identity.ts';

export const PRIVATE_MODE_CONTROL = 'control/private-mode';

export type PublishTarget =
  | { readonly kind: 'stream'; readonly stream: string }
  | { readonly kind: 'private-mode' }
  /** The device's own topic, one level, but no stream of that name is configured for the tenant. */
  | { readonly kind: 'unknown-stream'; readonly stream: string }
  | { readonly kind: 'denied'; readonly reason: string };

/** The form of a stream name (config schema): a level that could name a stream. */
const STREAM_LEVEL = /^[a-z][a-z0-9-]{0,31}$/;

/** Where a device may publish: its own stream topics and its private-mode control topic. */
export function classifyPublish(id: Identity, topic: string, streams: ReadonlySet<string>): PublishTarget {
  if (id.kind !== 'device') return { kind: 'denied', reason: `${id.kind} may not publish` };
  const prefix = `tenants/${id.tenantId}/devices/${id.deviceId}/`;
  if (!topic.startsWith(prefix)) return { kind: 'denied', reason: 'outside the device\'s own topics' };
  const rest = topic.slice(prefix.length);
  if (rest === PRIVATE_MODE_CONTROL) return { kind: 'private-mode' };
  if (!streams.has(rest)) {
    return STREAM_LEVEL.test(rest) ? { kind: 'unknown-stream', stream: rest } : { kind: 'denied', reason: 'not a stream topic' };
  }
  return { kind: 'stream', stream: rest };
}

export interface TopicParts {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream: string;
}

/** Parses a delivered telemetry topic (already validated at publish). */
export function parseTelemetryTopic(topic: string): TopicParts | undefined {
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'tenants' || parts[2] !== 'devices') return undefined;
  return { tenantId: parts[1]!, deviceId: parts[3]!, stream: parts[4]! };
}

/** Device lifecycle events: tenants/{tenant}/events/{device}/{connected|disconnected}. */
export const LIFECYCLE_EVENTS = ['connected', 'disconnected'] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

export function eventTopic(tenantId: string, deviceId: string, event: LifecycleEvent): string {
  return `tenants/${tenantId}/events/${deviceId}/${event}`;
}

export interface EventTopicParts {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly event: LifecycleEvent;
}

/** Parses a delivered lifecycle-event topic (only the gateway publishes these). */
export function parseEventTopic(topic: string): EventTopicParts | undefined {
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'tenants' || parts[2] !== 'events') return undefined;
  const event = parts[4] as LifecycleEvent;
  return LIFECYCLE_EVENTS.includes(event) ? { tenantId: parts[1]!, deviceId: parts[3]!, event } : undefined;
}

/**
 * A shared subscription `$share/{group}/{filter}` (the MQTT 5 form, §4.8.2,
 * offered to MQTT 3.1.1 clients as well). Group names are short and plain.
 */
export interface SharedFilter {
  readonly group: string;
  readonly filter: string;
}

const SHARE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The name an MQTT 5 client's `$share/...` filter is kept under inside the
 * broker: aedes 2 answers a v5 SUBSCRIBE to `$share/...` with 0x9E (shared
 * subscriptions not supported) before any hook runs, so subscribe-qos.ts
 * renames it as the packet leaves the parser (docs/mqtt5.md). Like
 * `$share/...`, no published topic matches it.
 */
export const V5_SHARE_PREFIX = '$tiq-share/';

/** undefined: not a `$share` filter; null: one that is malformed. */
export function parseSharedFilter(filter: string): SharedFilter | null | undefined {
  const prefix = filter.startsWith('$share/') ? '$share/' : filter.startsWith(V5_SHARE_PREFIX) ? V5_SHARE_PREFIX : undefined;
  if (!prefix) return undefined;
  const rest = filter.slice(prefix.length);
  const slash = rest.indexOf('/');
  if (slash < 0) return null;
  const group = rest.slice(0, slash);
  const inner = rest.slice(slash + 1);
  return SHARE_NAME.test(group) && inner.length > 0 ? { group, filter: inner } : null;
}

/**
 * Whether a subscription filter is acceptable for the identity. An app's
 * filter must be confined to its tenant's prefix: the first two levels are
 * literal, so no wildcard can reach another tenant. Grants (streams, device
 * groups, events) are enforced per delivered message, so a broad filter
 * inside the tenant only ever yields what the app may see. A `$share` filter
 * is judged by the filter it shares, exactly like that filter alone.
 */
export function subscriptionAllowed(id: Identity, filter: string): { ok: true } | { ok: false; reason: string } {
  const shared = parseSharedFilter(filter);
  if (shared === null) return { ok: false, reason: 'malformed $share filter' };
  if (shared) {
    if (id.kind !== 'app' || shared.filter.startsWith('$')) return { ok: false, reason: 'shared subscriptions are for apps, under their tenant' };
    return subscriptionAllowed(id, shared.filter);
  }
  if (filter.startsWith('$')) {
    return id.kind === 'operator' && (filter === '$SYS/#' || filter.startsWith('$SYS/'))
      ? { ok: true } : { ok: false, reason: '$SYS is for operators' };
  }
  if (id.kind !== 'app') return { ok: false, reason: `${id.kind} may not subscribe` };
  const levels = filter.split('/');
  if (levels[0] !== 'tenants' || levels[1] !== id.tenantId || levels.length < 3) {
    return { ok: false, reason: 'outside the tenant\'s namespace' };
  }
  if (levels[2] !== 'devices' && levels[2] !== 'events' && levels[2] !== '+' && levels[2] !== '#') {
    return { ok: false, reason: 'no such topics' };
  }
  return { ok: true };
}
