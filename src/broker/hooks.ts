/**
 * aedes hooks: authenticate (identity from the certificate, never from the
 * username), authorizeSubscribe (tenant namespaces), authorizePublish (runs
 * the ingest pipeline; its callback releases the PUBACK and the fan-out) and
 * authorizeForward (grants, per delivered message).
 */
import type { AedesPublishPacket, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import { TiqError, toTiqError, type ErrorCode } from '../errors.ts';
import { describeIdentity, type Identity } from '../identity/identity.ts';
import type { Logger } from '../log.ts';
import type { PipelineContext } from '../pipeline/context.ts';
import type { IngestMessage } from '../pipeline/message.ts';
import { runPipeline } from '../pipeline/pipeline.ts';
import { attachClient, peerOf, stateOf, type ClientState } from './client-state.ts';
import { appMaySee, type TenantDirectory } from './tenant-directory.ts';
import { classifyPublish, parseTelemetryTopic, subscriptionAllowed } from './topics.ts';
import type { GatewayStats } from './stats.ts';

export interface HookDeps {
  readonly directory: () => TenantDirectory;
  readonly pipeline: PipelineContext;
  readonly log: Logger;
  readonly stats: GatewayStats;
  readonly maxRefusalsBeforeDisconnect: number;
  /** Restriction of processing (GDPR Art. 18) set by operators: drop messages, or refuse the device. */
  readonly restriction: (tenantId: string, deviceId: string) => 'none' | 'drop' | 'refuse';
  /** Private-mode control topic; returns false when the command is not understood. */
  readonly onPrivateModeCommand: (tenantId: string, deviceId: string, payload: Buffer) => boolean;
}

/** A published message the gateway acknowledged but will not forward (policy drop, refused payload). */
export const DROPPED_PAYLOAD = Buffer.alloc(0);

function connackError(code: ErrorCode, returnCode: 2 | 4 | 5): AuthenticateError {
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

export function createHooks(deps: HookDeps) {
  const { log, stats } = deps;

  function refuseConnect(client: Client, peerDesc: string, code: ErrorCode, rc: 2 | 4 | 5, done: (e: AuthenticateError | null, ok: boolean | null) => void) {
    log.warn({ event: 'connect_refused', code, identity: peerDesc, clientId: client.id.slice(0, 64) }, 'connection refused');
    stats.refused(code);
    done(connackError(code, rc), false);
  }

  function authenticate(client: Client, _u: Readonly<string | undefined>, _p: Readonly<Buffer | undefined>, done: (e: AuthenticateError | null, ok: boolean | null) => void): void {
    const peer = peerOf(client.conn);
    if (!peer) return refuseConnect(client, 'unknown', 'TIQ_ERR_IDENTITY', 5, done);
    const id = peer.identity;
    const desc = describeIdentity(id);
    if (id.kind !== 'operator') {
      const tenant = deps.directory().get(id.tenantId);
      if (!tenant || !tenant.active) return refuseConnect(client, desc, 'TIQ_ERR_TENANT_UNKNOWN', 5, done);
      if (id.kind === 'app' && !tenant.apps.has(id.appId)) return refuseConnect(client, desc, 'TIQ_ERR_NOT_AUTHORIZED', 5, done);
      // A device's client id must equal its device id (ARCHITECTURE.md, Identities).
      if (id.kind === 'device' && client.id !== id.deviceId) return refuseConnect(client, desc, 'TIQ_ERR_CLIENT_ID', 2, done);
      if (id.kind === 'device' && deps.restriction(id.tenantId, id.deviceId) === 'refuse') return refuseConnect(client, desc, 'TIQ_ERR_RESTRICTED', 5, done);
      // Wills are checked like any publish: only to the device's own stream topics.
      const will = (client as unknown as { _will?: PublishPacket | null })._will;
      if (will && classifyPublish(id, will.topic, tenant.streamNames).kind !== 'stream') {
        return refuseConnect(client, desc, 'TIQ_ERR_WILL_DENIED', 5, done);
      }
    }
    (client as { id: string }).id = sessionId(id, client.id);
    attachClient(client, peer);
    stats.connected(id);
    done(null, true);
  }

  function authorizeSubscribe(client: Client, sub: Subscription, callback: (e: Error | null, s?: Subscription | null) => void): void {
    const state = stateOf(client);
    const verdict = state ? subscriptionAllowed(state.peer.identity, sub.topic) : { ok: false as const, reason: 'no identity' };
    if (!verdict.ok) {
      log.warn({ event: 'subscribe_refused', code: 'TIQ_ERR_SUBSCRIBE_DENIED', identity: state ? describeIdentity(state.peer.identity) : 'unknown', reason: verdict.reason }, 'subscription refused');
      stats.refused('TIQ_ERR_SUBSCRIBE_DENIED');
      return callback(null, null); // SUBACK 0x80 [MQTT-3.9.3-2]
    }
    callback(null, sub);
  }

  function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    if (packet.payload.length === 0 && packet.payload === DROPPED_PAYLOAD) return null;
    const state = stateOf(client);
    if (!state) return null;
    const id = state.peer.identity;
    if (packet.topic.startsWith('$SYS/')) return id.kind === 'operator' ? packet : null;
    if (id.kind !== 'app') return null;
    const parts = parseTelemetryTopic(packet.topic);
    if (!parts || parts.tenantId !== id.tenantId) return null;
    const access = deps.directory().get(id.tenantId)?.apps.get(id.appId);
    return access && appMaySee(access, parts.deviceId, parts.stream) ? packet : null;
  }

  function authorizePublish(client: Client | null, packet: PublishPacket, callback: (e?: Error | null) => void): void {
    const state = stateOf(client);
    if (!state) return callback(new TiqError('TIQ_ERR_TOPIC_DENIED'));
    const id = state.peer.identity;
    const tenant = id.kind === 'operator' ? undefined : deps.directory().get(id.tenantId);
    const target = classifyPublish(id, packet.topic, tenant?.streamNames ?? new Set());
    if (target.kind === 'denied' || id.kind !== 'device' || !tenant) {
      return refusePublish(state, packet, new TiqError('TIQ_ERR_TOPIC_DENIED', { reason: target.kind === 'denied' ? target.reason : 'not a device' }), callback);
    }
    if (target.kind === 'private-mode') {
      const ok = deps.onPrivateModeCommand(id.tenantId, id.deviceId, packet.payload as Buffer);
      if (!ok) return refusePublish(state, packet, new TiqError('TIQ_ERR_DECODE', { reason: 'private-mode command not understood' }), callback);
      return acceptDropped(packet, callback);
    }
    if (deps.restriction(id.tenantId, id.deviceId) !== 'none') {
      // Restricted processing: acknowledged so the device does not resend, neither stored nor forwarded.
      stats.refused('TIQ_ERR_RESTRICTED');
      return acceptDropped(packet, callback);
    }
    const stream = tenant.streams.get(target.stream)!;
    const payload = packet.payload as Buffer;
    if (payload.length > stream.maxPayloadBytes) {
      return refusePublish(state, packet, new TiqError('TIQ_ERR_PAYLOAD_TOO_LARGE', { limit: stream.maxPayloadBytes, size: payload.length }), callback);
    }
    const msg: IngestMessage = {
      tenantId: id.tenantId, deviceId: id.deviceId, stream: target.stream, messageType: stream.messageType,
      topic: packet.topic, qos: packet.qos, receivedAtMs: deps.pipeline.now(), payload, encoding: 'protobuf',
      body: undefined, deviceTimeMs: 0, sequence: 0, applied: undefined, sealed: undefined,
    };
    const complete = state.order.reserve();
    const finish = (err: unknown, dropped: boolean) => complete(() => {
      if (err) return refusePublish(state, packet, toTiqError(err), callback);
      stats.accepted(msg.stream, dropped ? 'dropped' : 'stored');
      if (dropped) return acceptDropped(packet, callback);
      packet.payload = msg.payload; // subscribers receive the pipeline's output, never the device's bytes
      callback(null);
    });
    try {
      const result = runPipeline(msg, deps.pipeline);
      if (result instanceof Promise) result.then((r) => finish(null, r.kind === 'drop'), (e: unknown) => finish(e, false));
      else finish(null, result.kind === 'drop');
    } catch (err) {
      finish(err, false);
    }
  }

  function acceptDropped(packet: PublishPacket, callback: (e?: Error | null) => void): void {
    packet.payload = DROPPED_PAYLOAD;
    packet.retain = false;
    callback(null);
  }

  /**
   * MQTT 3.1.1 has no negative PUBACK. A retryable failure (keys, storage)
   * closes the connection without PUBACK so the device resends; a poison
   * payload is acknowledged and discarded so the device does not resend it
   * forever, until too many refusals close the connection; a publish outside
   * the device's own topics closes the connection at once.
   */
  function refusePublish(state: ClientState, packet: PublishPacket, err: TiqError, callback: (e?: Error | null) => void): void {
    state.refusals++;
    stats.refused(err.code);
    const disconnect = err.retryable || err.code === 'TIQ_ERR_TOPIC_DENIED' || state.refusals >= deps.maxRefusalsBeforeDisconnect;
    log.warn({
      event: 'publish_refused', code: err.code, identity: describeIdentity(state.peer.identity),
      topic: packet.topic.slice(0, 256), detail: err.detail, disconnect,
    }, 'publish refused');
    if (disconnect) return callback(err);
    acceptDropped(packet, callback);
  }

  return { authenticate, authorizeSubscribe, authorizeForward, authorizePublish };
}
