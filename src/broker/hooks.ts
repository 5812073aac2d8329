/**
 * aedes hooks: preConnect (keepalive bounds, well-formed client id),
 * authenticate (identity from the certificate, never from the username, or
 * on the WebSocket token listener from a bearer token: token-session.ts;
 * flapping and connection limits), authorizeSubscribe (tenant namespaces;
 * `$share` filters join their group: shared-subscriptions.ts),
 * authorizePublish (publish-hook.ts: limits, then the ingest pipeline) and
 * authorizeForward (grants, per delivered message). `attach` follows the
 * broker's events: group membership, device lifecycle events.
 */
import type { Aedes, AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { TiqError, toTiqError, type ErrorCode } from '../errors.ts';
import { describeIdentity, type Identity } from '../identity/identity.ts';
import { closeExpiredSession, expiryCode, isExpired, watchExpiry } from './cert-expiry.ts';
import { attachClient, attachPeer, peerOf, stateOf, type PeerInfo } from './client-state.ts';
import { createConnectGuards } from './connect-guards.ts';
import { isWellFormedMqttString, topicLevels } from './mqtt-strings.ts';
import type { HookDeps } from './hook-deps.ts';
import { createPublishHook, DROPPED_PAYLOAD } from './publish-hook.ts';
import { watchLifecycle, noteTakeover } from './lifecycle-events.ts';
import { SharedSubscriptions } from './shared-subscriptions.ts';
import { appMaySee, appMaySeeEvents } from './tenant-directory.ts';
import { parseEventTopic, parseSharedFilter, parseTelemetryTopic, subscriptionAllowed } from './topics.ts';
import { POLICY_ID_PROPERTY, POLICY_VERSION_PROPERTY, redirectError, unexpired } from './mqtt5.ts';
import { willRefusal } from './wills.ts';
import { isTokenConnection, tokenPeer, tokenReturnCode } from './token-session.ts';

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

  function authenticate(client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>, done: AuthDone): void {
    const peer = peerOf(client.conn);
    // A redirect (MQTT 5 Server Reference) sends every identified client elsewhere, before any other check.
    if (deps.redirect && (peer || isTokenConnection(client.conn))) return done(redirectError(deps.redirect), false);
    if (peer) return admit(client, peer, done);
    if (!deps.tokens || !isTokenConnection(client.conn)) return refuseConnect(client, 'unknown', 'TIQ_ERR_IDENTITY', 5, done);
    // The WebSocket token listener: the identity is the token's, settled here (token-session.ts).
    tokenPeer(deps.tokens, client.conn, username, password).then((tokenPeerInfo) => {
      // Gone while its token was checked (a JWKS fetch may take a while): nothing to admit.
      if (client.closed || client.conn.destroyed) return done(connackError('TIQ_ERR_UNAUTHENTICATED', 4), false);
      attachPeer(client.conn, tokenPeerInfo);
      admit(client, tokenPeerInfo, done);
    }, (err: unknown) => {
      const e = toTiqError(err, 'TIQ_ERR_TOKEN_INVALID');
      refuseConnect(client, 'token', e.code, tokenReturnCode(e.code), done, e.detail ? { ...e.detail } : undefined);
    });
  }

  function admit(client: Client, peer: PeerInfo, done: AuthDone): void {
    const id = peer.identity;
    // Refused with 3, "server unavailable": the device may come back later [MQTT-3.2.2-3].
    const flapping = guards.checkFlapping(id, client.id);
    if (flapping) return done(connackError(flapping, 3), false);
    // The certificate may have expired since the handshake (a slow CONNECT, a resumed session).
    if (isExpired(peer, deps.pipeline.now())) {
      // A token within the verifier's clock tolerance past its exp is still expired here: its session would end at once.
      const token = peer.credential === 'token';
      return refuseConnect(client, describeIdentity(id), expiryCode(peer), token ? 4 : 5, done, token ? { reason: 'ERR_JWT_EXPIRED' } : undefined);
    }
    if (deps.accepts && !deps.accepts(client.conn, id)) return refuseConnect(client, describeIdentity(id), 'TIQ_ERR_NOT_AUTHORIZED', 5, done, { reason: `${id.kind} may not connect on this listener` });
    const refusal = identityRefusal(client, id);
    if (refusal) return refuseConnect(client, describeIdentity(id), refusal[0], refusal[1], done, refusal[2]);
    const full = guards.acquireTenantPlace(client, id);
    if (full) return done(connackError(full, 3), false);
    (client as { id: string }).id = sessionId(id, client.id);
    noteTakeover(client);
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
    const granted = sub.qos > 1 ? { ...sub, qos: 1 as const } : sub;
    const shared = parseSharedFilter(sub.topic);
    if (shared && !client.closed) sharedSubscriptions.join(client, shared.group, shared.filter, granted.qos);
    callback(null, granted);
  }

  /** Whether the app behind this client may receive the message now, by its tenant, grants and connection. */
  function mayReceive(client: Client, packet: AedesPublishPacket): boolean {
    const id = stateOf(client)?.peer.identity;
    if (id?.kind !== 'app' || client.closed || !client.connected) return false;
    return appMayReceive(id.tenantId, id.appId, packet.topic);
  }

  function appMayReceive(tenantId: string, appId: string, topic: string): boolean {
    const access = deps.directory().get(tenantId)?.apps.get(appId);
    if (!access) return false;
    const parts = parseTelemetryTopic(topic);
    if (parts) return parts.tenantId === tenantId && appMaySee(access, parts.deviceId, parts.stream);
    const event = parseEventTopic(topic);
    return event !== undefined && event.tenantId === tenantId && appMaySeeEvents(access, event.deviceId);
  }

  /** While a resumed session is being connected, aedes hands over what it queued for it while it was away. */
  function fromQueue(client: Client): boolean {
    return !client.connected && (client as { connecting?: boolean }).connecting === true;
  }

  /**
   * A queued telemetry message was made under the state of its time: like a
   * retained one, it goes out only if its policy stamp (the user properties
   * every forwarded message carries, mqtt5.ts) is still in force and the
   * device is neither restricted nor objecting, nor erased since.
   */
  function queuedStillCurrent(packet: AedesPublishPacket): boolean {
    const parts = parseTelemetryTopic(packet.topic);
    if (!parts || !deps.retained) return true;
    const user = packet.properties?.userProperties ?? {};
    const stamp = {
      tenantId: parts.tenantId, deviceId: parts.deviceId,
      policyId: String(user[POLICY_ID_PROPERTY] ?? 'none'), policyVersion: Number(user[POLICY_VERSION_PROPERTY] ?? 0),
    };
    const numbered = packet as { brokerId?: string; brokerCounter?: number };
    return deps.retained.isCurrent(stamp) && !deps.retained.madeBeforeErasure(parts.tenantId, parts.deviceId, numbered.brokerId, numbered.brokerCounter);
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
    // A retained message (sent on SUBSCRIBE with retain set) must still be what today's rules would forward.
    if (packet.retain && deps.retained && !deps.retained.mayDeliver(packet.topic)) return null;
    if (!appMayReceive(id.tenantId, id.appId, packet.topic)) return null;
    if (fromQueue(client) && !queuedStillCurrent(packet)) return null;
    // aedes would fail the write to a connection already closing: count it as given up, not delivered.
    // While a resumed session's queue is sent, aedes is still connecting: that delivery is wanted.
    if (client.closed || (!client.connected && !fromQueue(client))) {
      stats.deliveryDropped(id.tenantId, 'disconnected');
      return null;
    }
    stats.delivered(id.tenantId);
    return live;
  }

  const sharedSubscriptions = new SharedSubscriptions(mayReceive);
  const authorizePublish = createPublishHook(deps);
  /** Wires what follows the broker's own events: shared-subscription membership, lifecycle events. */
  function attach(broker: Aedes): void {
    sharedSubscriptions.attach(broker);
    watchLifecycle(broker, { log, stats, now: deps.pipeline.now, restriction: deps.restriction, closing: deps.closing ?? (() => false) });
  }
  return { preConnect: guards.preConnect, authenticate, authorizeSubscribe, authorizeForward, authorizePublish, attach, sharedSubscriptions };
}
