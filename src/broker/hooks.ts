/**
 * aedes hooks: preConnect (keepalive bounds, well-formed client id),
 * authenticate (identity from the certificate, never from the username;
 * flapping and connection limits), authorizeSubscribe (tenant namespaces),
 * authorizePublish (publish-hook.ts: limits, then the ingest pipeline) and
 * authorizeForward (grants, per delivered message).
 */
import type { AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { TiqError, type ErrorCode } from '../errors.ts';
import { describeIdentity, type Identity } from '../identity/identity.ts';
import { closeExpiredSession, isExpired, watchExpiry } from './cert-expiry.ts';
import { attachClient, peerOf, stateOf } from './client-state.ts';
import { createConnectGuards } from './connect-guards.ts';
import { isWellFormedMqttString, topicLevels } from './mqtt-strings.ts';
import type { HookDeps } from './hook-deps.ts';
import { createPublishHook, DROPPED_PAYLOAD } from './publish-hook.ts';
import { appMaySee } from './tenant-directory.ts';
import { parseTelemetryTopic, subscriptionAllowed } from './topics.ts';
import { redirectError, unexpired } from './mqtt5.ts';
import { willRefusal } from './wills.ts';

export { DROPPED_PAYLOAD } from './publish-hook.ts';
export type { HookDeps } from './hook-deps.ts';

function connackError(code: ErrorCode, returnCode: 2 | 3 | 4 | 5): AuthenticateError {
  const err = new TiqError(code) as TiqError & { returnCode: number };
  err.returnCode = returnCode;
  return err as unknown as AuthenticateError;
}

/** Session ids qualified by identity: no certificate can take over another identity's session. */
function sessionId(id: Identity, clientId: string): string {
  switch (id.kind) {
    case 'device': return `${id.tenantId}/${id.deviceId}`;
    case 'app': return `${id.tenantId}/app/${id.appId}/${clientId}`;
    case 'operator': return `$operator/${id.operatorName}/${clientId}`;
  }
}

type AuthDone = (e: AuthenticateError | null, ok: boolean | null) => void;

export function createHooks(deps: HookDeps) {
  const { log, stats, limits } = deps;
  const guards = createConnectGuards({ limits, keepaliveLimitS: deps.keepaliveLimitS, log, stats, now: deps.pipeline.now });

  function refuseConnect(client: Client, peerDesc: string, code: ErrorCode, rc: 2 | 4 | 5, done: AuthDone, detail?: Record<string, unknown>) {
    log.warn({ event: 'connect_refused', code, identity: peerDesc, clientId: client.id.slice(0, 64), detail }, 'connection refused');
    stats.refused(code);
    done(connackError(code, rc), false);
  }

  /** The identity's own checks, then its will's; undefined when it may connect. */
  function identityRefusal(client: Client, id: Identity): [ErrorCode, 2 | 4 | 5, Record<string, unknown>?] | undefined {
    const refusal = accessRefusal(client, id);
    if (refusal) return refusal;
    // A will is checked like a publish of that device, payload included (wills.ts).
    const will = (client as unknown as { _will?: PublishPacket | null })._will;
    if (!will) return undefined;
    const tenant = id.kind === 'operator' ? undefined : deps.directory().get(id.tenantId);
    const reason = willRefusal(id, tenant, will, deps.pipeline);
    return reason ? ['TIQ_ERR_WILL_DENIED', 5, reason] : undefined;
  }

  function accessRefusal(client: Client, id: Identity): [ErrorCode, 2 | 4 | 5] | undefined {
    if (id.kind === 'operator') return undefined;
    const tenant = deps.directory().get(id.tenantId);
    if (!tenant || !tenant.active) return ['TIQ_ERR_TENANT_UNKNOWN', 5];
    if (id.kind === 'app' && !tenant.apps.has(id.appId)) return ['TIQ_ERR_NOT_AUTHORIZED', 5];
    if (id.kind === 'app') return undefined;
    // A device's client id must equal its device id (docs/architecture.md, Identities).
    if (client.id !== id.deviceId) return ['TIQ_ERR_CLIENT_ID', 2];
    if (deps.restriction(id.tenantId, id.deviceId) === 'refuse') return ['TIQ_ERR_RESTRICTED', 5];
    return undefined;
  }

  function authenticate(client: Client, _u: Readonly<string | undefined>, _p: Readonly<Buffer | undefined>, done: AuthDone): void {
    const peer = peerOf(client.conn);
    if (!peer) return refuseConnect(client, 'unknown', 'TIQ_ERR_IDENTITY', 5, done);
    if (deps.redirect) return done(redirectError(deps.redirect), false);
    const id = peer.identity;
    // Refused with 3, "server unavailable": the device may come back later [MQTT-3.2.2-3].
    const flapping = guards.checkFlapping(id, client.id);
    if (flapping) return done(connackError(flapping, 3), false);
    // The certificate may have expired since the handshake (a slow CONNECT, a resumed session).
    if (isExpired(peer, deps.pipeline.now())) return refuseConnect(client, describeIdentity(id), 'TIQ_ERR_CERT_EXPIRED', 5, done);
    const refusal = identityRefusal(client, id);
    if (refusal) return refuseConnect(client, describeIdentity(id), refusal[0], refusal[1], done, refusal[2]);
    const full = guards.acquireTenantPlace(client, id);
    if (full) return done(connackError(full, 3), false);
    (client as { id: string }).id = sessionId(id, client.id);
    const now = deps.pipeline.now();
    const state = attachClient(client, peer, {
      maxPendingPublishes: limits.config.maxPendingPublishes,
      maxQueuedPublishes: limits.config.maxQueuedPublishes,
      bucket: id.kind === 'device' ? limits.publishes.deviceBucket(id.tenantId, now) : undefined,
    });
    watchExpiry(client.conn, peer.notAfterMs, deps.pipeline.now, () => closeExpiredSession(client, state, deps));
    stats.connected(id);
    done(null, true);
  }

  function filterRefusal(id: Identity | undefined, filter: string): { code: ErrorCode; reason: string } | undefined {
    if (!id) return { code: 'TIQ_ERR_SUBSCRIBE_DENIED', reason: 'no identity' };
    if (!isWellFormedMqttString(filter)) return { code: 'TIQ_ERR_MALFORMED_PACKET', reason: 'filter with NUL or invalid UTF-8' };
    if (filter.length > limits.config.maxTopicLength || topicLevels(filter) > limits.config.maxTopicLevels) {
      return { code: 'TIQ_ERR_TOPIC_TOO_LONG', reason: 'filter too long or too deep' };
    }
    const verdict = subscriptionAllowed(id, filter);
    return verdict.ok ? undefined : { code: 'TIQ_ERR_SUBSCRIBE_DENIED', reason: verdict.reason };
  }

  function authorizeSubscribe(client: Client, sub: Subscription, callback: (e: Error | null, s?: Subscription | null) => void): void {
    const state = stateOf(client);
    const refusal = filterRefusal(state?.peer.identity, sub.topic);
    if (refusal) {
      log.warn({ event: 'subscribe_refused', code: refusal.code, identity: state ? describeIdentity(state.peer.identity) : 'unknown', reason: refusal.reason }, 'subscription refused');
      stats.refused(refusal.code);
      return callback(null, null); // SUBACK 0x80 [MQTT-3.9.3-2]
    }
    // QoS 2 is not offered (docs/SECURITY.md): granted at most 1 [MQTT-3.9.3-1] allows a lower grant.
    callback(null, sub.qos > 1 ? { ...sub, qos: 1 } : sub);
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (packet.payload.length === 0 && packet.payload === DROPPED_PAYLOAD) return null;
    const live = unexpired(packet, deps.pipeline.now());
    if (!live) return null;
    const state = stateOf(client);
    if (!state) return null;
    const id = state.peer.identity;
    if (packet.topic.startsWith('$SYS/')) return id.kind === 'operator' ? packet : null;
    if (id.kind !== 'app') return null;
    const parts = parseTelemetryTopic(packet.topic);
    if (!parts || parts.tenantId !== id.tenantId) return null;
    // A retained message (sent on SUBSCRIBE with retain set) must still be what today's rules would forward.
    if (packet.retain && deps.retained && !deps.retained.mayDeliver(packet.topic)) return null;
    const access = deps.directory().get(id.tenantId)?.apps.get(id.appId);
    if (!access || !appMaySee(access, parts.deviceId, parts.stream)) return null;
    // aedes would fail the write to a connection already closing: count it as given up, not delivered.
    // While a resumed session's queue is sent, aedes is still connecting: that delivery is wanted.
    if (client.closed || (!client.connected && !(client as { connecting?: boolean }).connecting)) {
      stats.deliveryDropped(id.tenantId, 'disconnected');
      return null;
    }
    stats.delivered(id.tenantId);
    return live;
  }

  const authorizePublish = createPublishHook(deps);
  return { preConnect: guards.preConnect, authenticate, authorizeSubscribe, authorizeForward, authorizePublish };
}
