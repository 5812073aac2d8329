/**
 * authorizePublish: the checks of one PUBLISH in order (topic form, QoS,
 * namespace, restriction, rate and quotas, payload size), then the ingest
 * pipeline; its callback releases the PUBACK and the fan-out. Every message
 * that passes the namespace check takes its place in the client's PUBACK
 * order at once ([MQTT-4.6.0-2]), so delays (rate limits, the pending-publish
 * gate) never reorder acknowledgements.
 */
import type { Client, PublishPacket } from 'aedes';
import { mqtt5Outcome, TiqError, toTiqError } from '../errors.ts';
import { describeIdentity } from '../identity/identity.ts';
import { DUPLICATE, type IngestMessage, type StageResult } from '../records/message.ts';
import { INGEST_STAGES, runPipeline } from '../pipeline/pipeline.ts';

const STAGE_SAMPLE = 16;
import { closeExpiredSession, isExpired } from './cert-expiry.ts';
import type { ClientState } from './client-state.ts';
import { stateOf } from './client-state.ts';
import type { HookDeps } from './hook-deps.ts';
import { isWellFormedMqttString, topicLevels } from './mqtt-strings.ts';
import type { TenantEntry } from './tenant-directory.ts';
import { classifyPublish } from './topics.ts';
import { forgetAlias, forwardedProperties } from './mqtt5.ts';
import { isMqtt5, mqtt5PublishCallback } from './v5-acks.ts';
import { createWillDelivery, isWillOf } from './wills.ts';

/** A published message the gateway acknowledged but will not forward (policy drop, refused payload). */
export const DROPPED_PAYLOAD = Buffer.alloc(0);

type Callback = (e?: Error | null) => void;

export function createPublishHook(deps: HookDeps) {
  const { log, stats, limits } = deps;
  let sampled = 0;
  const deliverWill = createWillDelivery(deps);

  function topicRefusal(packet: PublishPacket): TiqError | undefined {
    const topic = packet.topic;
    if (!isWellFormedMqttString(topic)) return new TiqError('TIQ_ERR_MALFORMED_PACKET', { reason: 'topic with NUL or invalid UTF-8' });
    if (topic.length > limits.config.maxTopicLength || topicLevels(topic) > limits.config.maxTopicLevels) {
      return new TiqError('TIQ_ERR_TOPIC_TOO_LONG', { length: topic.length, limit: limits.config.maxTopicLength });
    }
    // QoS 2 is refused, not bounded (docs/SECURITY.md): the PUBACK-after-commit contract is QoS 1's.
    if (packet.qos === 2) return new TiqError('TIQ_ERR_QOS_UNSUPPORTED');
    return undefined;
  }

  /** Once a refusal or the certificate's expiry closes the connection, nothing after it in PUBACK order is acknowledged. */
  function closingAware(client: Client, state: ClientState, aedesCallback: Callback): Callback {
    return (e) => {
      if (!e && !state.disconnecting && isExpired(state.peer, deps.pipeline.now())) closeExpiredSession(client, state, deps);
      aedesCallback(!e && state.disconnecting ? new TiqError(state.withdrawn ?? 'TIQ_ERR_SHUTTING_DOWN', 'connection is closing') : e);
    };
  }

  return function authorizePublish(client: Client | null, packet: PublishPacket, aedesCallback: Callback): void {
    const state = stateOf(client);
    if (isWillOf(client, packet)) return deliverWill(client, state, packet, aedesCallback);
    if (isMqtt5(client)) aedesCallback = mqtt5PublishCallback(client, packet, aedesCallback);
    if (!state) return aedesCallback(new TiqError('TIQ_ERR_TOPIC_DENIED'));
    if (isExpired(state.peer, deps.pipeline.now())) {
      closeExpiredSession(client!, state, deps);
      return aedesCallback(new TiqError('TIQ_ERR_CERT_EXPIRED'));
    }
    const callback = closingAware(client!, state, aedesCallback);
    // An MQTT 5 refusal is a PUBACK: it takes its place in PUBACK order like any other ([MQTT-4.6.0-2]).
    const inOrder = (run: () => void) => {
      if (!isMqtt5(client)) return run();
      forgetAlias(client, packet.topic);
      state.order.reserve()(run);
    };
    const early = topicRefusal(packet);
    if (early) return inOrder(() => refusePublish(client!, state, packet, early, callback));
    const id = state.peer.identity;
    const tenant = id.kind === 'operator' ? undefined : deps.directory().get(id.tenantId);
    const target = classifyPublish(id, packet.topic, tenant?.streamNames ?? new Set());
    if (target.kind === 'unknown-stream' && tenant) {
      return inOrder(() => refusePublish(client!, state, packet, new TiqError('TIQ_ERR_STREAM_UNKNOWN', { stream: target.stream }), callback));
    }
    if (target.kind === 'denied' || id.kind !== 'device' || !tenant || !state.bucket) {
      return inOrder(() => refusePublish(client!, state, packet, new TiqError('TIQ_ERR_TOPIC_DENIED', { reason: target.kind === 'denied' ? target.reason : 'not a device' }), callback));
    }
    const complete = state.order.reserve();
    const payload = packet.payload as Buffer;
    const admission = limits.publishes.admit(id.tenantId, state.bucket, payload.length, deps.pipeline.now());
    if ('refused' in admission) {
      return complete(() => refusePublish(client!, state, packet, new TiqError(admission.refused, { limit: admission.limit }), callback));
    }
    const proceed = () => {
      if (client!.closed) return complete(() => callback(new TiqError('TIQ_ERR_SHUTTING_DOWN', 'connection closed while held')));
      const entered = state.gate.enter(() => processAdmitted(client!, state, tenant, packet, target, (run) => complete(() => { state.gate.leave(); run(); }), callback));
      if (!entered) complete(() => refusePublish(client!, state, packet, new TiqError('TIQ_ERR_TOO_MANY_PENDING', { limit: limits.config.maxQueuedPublishes }), callback));
    };
    if (admission.delayMs === 0) return proceed();
    stats.throttled(admission.delayMs);
    setTimeout(proceed, admission.delayMs);
  };

  /** One admitted message: private-mode command, restriction, size, then the pipeline. `done` fires in PUBACK order. */
  function processAdmitted(client: Client, state: ClientState, tenant: TenantEntry, packet: PublishPacket, target: ReturnType<typeof classifyPublish>,
    done: (run: () => void) => void, callback: Callback): void {
    const id = state.peer.identity;
    if (id.kind !== 'device' || target.kind === 'denied' || target.kind === 'unknown-stream') return done(() => callback(new TiqError('TIQ_ERR_TOPIC_DENIED')));
    const payload = packet.payload as Buffer;
    if (target.kind === 'private-mode') {
      const refuse = (err: unknown) => done(() => refusePublish(client, state, packet, toTiqError(err), callback));
      const settle = (ok: boolean) => done(() => (ok ? acceptDropped(packet, callback)
        : refusePublish(client, state, packet, new TiqError('TIQ_ERR_DECODE', { reason: 'private-mode command not understood' }), callback)));
      try {
        const ok = deps.onPrivateModeCommand(id.tenantId, id.deviceId, payload);
        // A promise: the audit entry is being group-committed; the PUBACK waits for it, the event loop does not.
        if (typeof ok === 'boolean') return settle(ok);
        ok.then(settle, refuse);
        return;
      } catch (err) {
        return refuse(err);
      }
    }
    if (deps.restriction(id.tenantId, id.deviceId) !== 'none') {
      // Restricted processing: acknowledged so the device does not resend, neither stored nor forwarded.
      stats.refused('TIQ_ERR_RESTRICTED');
      return done(() => acceptDropped(packet, callback));
    }
    const stream = tenant.streams.get(target.stream)!;
    if (payload.length > stream.maxPayloadBytes) {
      return done(() => refusePublish(client, state, packet, new TiqError('TIQ_ERR_PAYLOAD_TOO_LARGE', { limit: stream.maxPayloadBytes, size: payload.length }), callback));
    }
    const msg: IngestMessage = {
      tenantId: id.tenantId, deviceId: id.deviceId, stream: target.stream, messageType: stream.messageType,
      topic: packet.topic, qos: packet.qos, receivedAtMs: deps.pipeline.now(), payload, encoding: 'protobuf',
      body: undefined, deviceTimeMs: 0, sequence: 0, contentDigest: undefined, applied: undefined, sealed: undefined,
    };
    const startedAt = performance.now();
    // undefined unless tracing is configured and this message is in its sample.
    const traced = deps.tracer?.message(msg.tenantId, msg.stream, payload.length);
    const finish = (err: unknown, result: StageResult | undefined) => done(() => {
      if (err) {
        const refusal = toTiqError(err);
        traced?.end({ code: refusal.code });
        return refusePublish(client, state, packet, refusal, callback);
      }
      traced?.end({ dropped: result?.kind === 'drop' });
      stats.pipelineDone(msg.stream, (performance.now() - startedAt) / 1000);
      if (result === DUPLICATE) return acceptDuplicate(msg, packet, callback);
      const dropped = result?.kind === 'drop';
      stats.accepted(msg.stream, dropped ? 'dropped' : 'stored');
      if (dropped) return acceptDropped(packet, callback);
      packet.payload = msg.payload; // subscribers receive the pipeline's output, never the device's bytes
      forwardedProperties(packet, tenant.userProperties, msg.applied, msg.receivedAtMs);
      if (packet.retain) {
        deps.retained?.note(packet.topic, {
          tenantId: msg.tenantId, deviceId: msg.deviceId, policyId: msg.applied?.policyId ?? 'none', policyVersion: msg.applied?.policyVersion ?? 0,
        });
      }
      callback(null);
    });
    try {
      // One message in STAGE_SAMPLE has each stage timed: the histogram stays representative at no cost to the rest.
      const timed = (sampled++ & (STAGE_SAMPLE - 1)) === 0 ? stats.observeStage : undefined;
      const observe = traced ? (stage: string, seconds: number) => { timed?.(stage, seconds); traced.stage(stage, seconds); } : timed;
      const result = runPipeline(msg, deps.pipeline, INGEST_STAGES, 0, observe);
      if (result instanceof Promise) result.then((r) => finish(null, r), (e: unknown) => finish(e, undefined));
      else finish(null, result);
    } catch (err) {
      finish(err, undefined);
    }
  }

  /** A redelivery of a stored message: PUBACK (the device must stop resending), no second copy to subscribers. */
  function acceptDuplicate(msg: IngestMessage, packet: PublishPacket, callback: Callback): void {
    stats.duplicate(msg.tenantId, msg.stream);
    log.debug({ event: 'publish_duplicate', tenantId: msg.tenantId, stream: msg.stream, sequence: msg.sequence }, 'redelivery of a stored message');
    acceptDropped(packet, callback);
  }

  function acceptDropped(packet: PublishPacket, callback: Callback): void {
    packet.payload = DROPPED_PAYLOAD;
    packet.retain = false;
    callback(null);
  }

  /**
   * MQTT 3.1.1 has no negative PUBACK. What a refusal becomes is the error
   * catalogue's `mqtt` outcome, as the README's error table shows it: a
   * poison payload ('acknowledged-refused') is acknowledged and discarded so
   * the device does not resend it forever, until too many refusals close the
   * connection; every other refusal (keys or storage unavailable, limits, a
   * publish outside the device's own topics or streams, QoS 2, a malformed
   * topic) closes the connection without PUBACK, so nothing refused for a
   * reason a resend could fix is acknowledged. An MQTT 5 client gets the
   * catalogue's reason code instead (MQTT5_OUTCOMES, v5-acks.ts): a PUBACK
   * that keeps the connection up to the same refusal limit, or a DISCONNECT.
   */
  function refusePublish(client: Client, state: ClientState, packet: PublishPacket, err: TiqError, callback: Callback): void {
    state.refusals++;
    stats.refused(err.code);
    const v5 = isMqtt5(client);
    // MQTT 5: a PUBACK reason code keeps the connection, up to the same limit of refusals (v5-acks.ts).
    const acknowledged = v5 ? mqtt5Outcome(err.code).packet === 'puback' : err.mqtt === 'acknowledged-refused';
    const disconnect = !acknowledged || state.refusals >= deps.maxRefusalsBeforeDisconnect;
    log.warn({
      event: 'publish_refused', code: err.code, identity: describeIdentity(state.peer.identity),
      topic: packet.topic.slice(0, 256), detail: err.detail, disconnect,
    }, 'publish refused');
    if (!disconnect) return v5 ? callback(err) : acceptDropped(packet, callback);
    state.disconnecting = true;
    state.closedWith ??= err.code;
    // MQTT 5: the DISCONNECT follows the PUBACKs already written, before any later callback of this client.
    if (v5) return callback(err);
    // The PUBACKs released just before this one are written on the next tick; let them out before aedes closes.
    setImmediate(callback, err);
  }
}
