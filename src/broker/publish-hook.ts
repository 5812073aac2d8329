/**
 * authorizePublish: the checks of one PUBLISH in order (topic form, QoS,
 * namespace, restriction, rate and quotas, payload size), then the ingest
 * pipeline; its callback releases the PUBACK and the fan-out. Every message
 * that passes the namespace check takes its place in the client's PUBACK
 * order at once ([MQTT-4.6.0-2]), so delays (rate limits, the pending-publish
 * gate) never reorder acknowledgements.
 */
import type { Aedes, Client, PublishPacket } from 'aedes';
import { mqtt5Outcome, TiqError, toTiqError } from '../errors.ts';
import { describeIdentity } from '../identity/identity.ts';
import type { IngestMessage } from '../records/message.ts';
import { INGEST_STAGES, runPipeline } from '../pipeline/pipeline.ts';

const STAGE_SAMPLE = 16;
import { closeExpiredSession, isExpired } from './cert-expiry.ts';
import type { ClientState } from './client-state.ts';
import { stateOf } from './client-state.ts';
import type { HookDeps } from './hook-deps.ts';
import { Outcome, PublishTicket, respondClosingAware, type Callback, type PublishHookCore } from './publish-ticket.ts';
import { isWellFormedMqttString, topicLevels } from './mqtt-strings.ts';
import { classifyPublish } from './topics.ts';
import { forgetAlias, forwardedProperties } from './mqtt5.ts';
import { isMqtt5, mqtt5PublishCallback } from './v5-acks.ts';
import { createWillDelivery, isWillOf } from './wills.ts';

/** aedes's publish as its own PUBLISH handler calls it: with the publishing client. */
type PublishFrom = (packet: PublishPacket, client: Client, done: (err?: Error) => void) => void;

/** A published message the gateway acknowledged but will not forward (policy drop, refused payload). */
export const DROPPED_PAYLOAD = Buffer.alloc(0);

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

  const core: PublishHookCore = { deps, stats, processAdmitted, fire };

  return function authorizePublish(client: Client | null, packet: PublishPacket, aedesCallback: Callback): void {
    const state = stateOf(client);
    if (isWillOf(client, packet)) return deliverWill(client, state, packet, aedesCallback);
    if (isMqtt5(client)) aedesCallback = mqtt5PublishCallback(client, packet, aedesCallback);
    if (!state) return aedesCallback(new TiqError('TIQ_ERR_TOPIC_DENIED'));
    if (isExpired(state.peer, deps.pipeline.now())) {
      closeExpiredSession(client!, state, deps);
      return aedesCallback(new TiqError('TIQ_ERR_CERT_EXPIRED'));
    }
    const early = topicRefusal(packet);
    if (early) return refuseInOrder(client!, state, packet, early, aedesCallback);
    const id = state.peer.identity;
    const tenant = id.kind === 'operator' ? undefined : deps.directory().get(id.tenantId);
    const target = classifyPublish(id, packet.topic, tenant?.streamNames ?? new Set());
    if (target.kind === 'unknown-stream' && tenant) {
      return refuseInOrder(client!, state, packet, new TiqError('TIQ_ERR_STREAM_UNKNOWN', { stream: target.stream }), aedesCallback);
    }
    if (target.kind === 'denied' || id.kind !== 'device' || !tenant || !state.bucket) {
      return refuseInOrder(client!, state, packet, new TiqError('TIQ_ERR_TOPIC_DENIED', { reason: target.kind === 'denied' ? target.reason : 'not a device' }), aedesCallback);
    }
    const ticket = new PublishTicket(core, client!, state, packet, tenant, target, aedesCallback);
    state.order.enqueue(ticket);
    const payload = packet.payload as Buffer;
    const admission = limits.publishes.admit(id.tenantId, state.bucket, payload.length, deps.pipeline.now());
    if ('refused' in admission) return ticket.settle(Outcome.Refused, new TiqError(admission.refused, { limit: admission.limit }));
    if (admission.delayMs === 0) return proceed(ticket);
    stats.throttled(admission.delayMs);
    setTimeout(proceed, admission.delayMs, ticket);
  };

  /** A refusal before admission. MQTT 5: a PUBACK, so it takes its place in PUBACK order like any other ([MQTT-4.6.0-2]). */
  function refuseInOrder(client: Client, state: ClientState, packet: PublishPacket, err: TiqError, aedesCallback: Callback): void {
    const callback: Callback = (e) => respondClosingAware(deps, client, state, aedesCallback, e);
    if (!isMqtt5(client)) return refusePublish(client, state, packet, err, callback);
    forgetAlias(client, packet.topic);
    state.order.reserve()(() => refusePublish(client, state, packet, err, callback));
  }

  /** Admitted (after any rate-limit delay): into the client's pending-publish gate. */
  function proceed(t: PublishTicket): void {
    if (t.client.closed) return t.settle(Outcome.Failed, new TiqError('TIQ_ERR_SHUTTING_DOWN', 'connection closed while held'));
    if (!t.state.gate.enter(t)) t.settle(Outcome.Refused, new TiqError('TIQ_ERR_TOO_MANY_PENDING', { limit: limits.config.maxQueuedPublishes }));
  }

  /** The ticket's turn in PUBACK order: its outcome reaches aedes. */
  function fire(t: PublishTicket): void {
    if (t.outcome === Outcome.Stored) return forward(t);
    const callback: Callback = (e) => t.respond(e ?? null);
    switch (t.outcome) {
      case Outcome.Refused: return refusePublish(t.client, t.state, t.packet, t.refusal!, callback);
      case Outcome.Failed: return callback(t.refusal);
      case Outcome.Dropped: return acceptDropped(t.packet, callback);
      case Outcome.PolicyDropped:
        stats.accepted(t.msg!.stream, 'dropped');
        return acceptDropped(t.packet, callback);
      case Outcome.Duplicate: return acceptDuplicate(t.msg!, t.packet, callback);
      default: return refusePublish(t.client, t.state, t.packet, new TiqError('TIQ_ERR_INTERNAL', { reason: 'publish fired before its outcome' }), callback);
    }
  }

  /** Stored (or passed without a sink): subscribers receive the pipeline's output, never the device's bytes. */
  function forward(t: PublishTicket): void {
    const { msg, packet } = t;
    stats.accepted(msg!.stream, 'stored');
    packet.payload = msg!.payload;
    forwardedProperties(packet, t.tenant.userProperties, msg!.applied, msg!.receivedAtMs);
    if (packet.retain) {
      deps.retained?.note(packet.topic, {
        tenantId: msg!.tenantId, deviceId: msg!.deviceId, policyId: msg!.applied?.policyId ?? 'none', policyVersion: msg!.applied?.policyVersion ?? 0,
      });
    }
    if (t.respond(null)) deliverUnacknowledged(t);
  }

  /**
   * Stored while its connection closes: no PUBACK, and aedes forwards nothing
   * it does not acknowledge. Subscribers still receive it, once: the device's
   * resend is then a duplicate, acknowledged and never forwarded.
   */
  function deliverUnacknowledged(t: PublishTicket): void {
    // aedes keeps its instance on every client (lib/client.js), and its publish takes the publishing client
    // (for MQTT 5 no-local and the published hook) as aedes's own PUBLISH handler passes it; the typings show neither.
    const broker = (t.client as Client & { readonly broker: Aedes }).broker;
    (broker.publish as unknown as PublishFrom).call(broker, t.packet, t.client, (err?: Error) => {
      if (err) log.warn({ event: 'forward_failed', tenantId: t.msg!.tenantId, stream: t.msg!.stream, reason: err.message }, 'stored message not forwarded');
    });
  }

  /** One admitted message: private-mode command, restriction, size, then the pipeline. Its outcome fires in PUBACK order. */
  function processAdmitted(t: PublishTicket): void {
    const { state, packet, target } = t;
    const id = state.peer.identity;
    if (id.kind !== 'device' || target.kind === 'denied' || target.kind === 'unknown-stream') return t.settle(Outcome.Failed, new TiqError('TIQ_ERR_TOPIC_DENIED'));
    const payload = packet.payload as Buffer;
    if (target.kind === 'private-mode') return privateModeCommand(t, id.tenantId, id.deviceId, payload);
    if (deps.restriction(id.tenantId, id.deviceId) !== 'none') {
      // Restricted processing: acknowledged so the device does not resend, neither stored nor forwarded.
      stats.refused('TIQ_ERR_RESTRICTED');
      return t.settle(Outcome.Dropped);
    }
    const stream = t.tenant.streams.get(target.stream)!;
    if (payload.length > stream.maxPayloadBytes) {
      return t.settle(Outcome.Refused, new TiqError('TIQ_ERR_PAYLOAD_TOO_LARGE', { limit: stream.maxPayloadBytes, size: payload.length }));
    }
    const msg: IngestMessage = {
      tenantId: id.tenantId, deviceId: id.deviceId, stream: target.stream, messageType: stream.messageType,
      topic: packet.topic, qos: packet.qos, receivedAtMs: deps.pipeline.now(), payload, encoding: 'protobuf',
      body: undefined, deviceTimeMs: 0, sequence: 0, contentDigest: undefined, applied: undefined, sealed: undefined,
    };
    t.msg = msg;
    t.startedAt = performance.now();
    // undefined unless tracing is configured and this message is in its sample.
    const traced = deps.tracer?.message(msg.tenantId, msg.stream, payload.length);
    t.traced = traced;
    try {
      // One message in STAGE_SAMPLE has each stage timed: the histogram stays representative at no cost to the rest.
      const timed = (sampled++ & (STAGE_SAMPLE - 1)) === 0 ? stats.observeStage : undefined;
      const observe = traced ? (stage: string, seconds: number) => { timed?.(stage, seconds); traced.stage(stage, seconds); } : timed;
      const result = runPipeline(msg, deps.pipeline, INGEST_STAGES, 0, observe);
      if (result instanceof Promise) result.then((r) => t.finished(null, r), (e: unknown) => t.finished(e, undefined));
      else t.finished(null, result);
    } catch (err) {
      t.finished(err, undefined);
    }
  }

  /** The private-mode control topic: the PUBACK waits for the audit entry's group commit, the event loop does not. */
  function privateModeCommand(t: PublishTicket, tenantId: string, deviceId: string, payload: Buffer): void {
    const refuse = (err: unknown) => t.settle(Outcome.Refused, toTiqError(err));
    const settle = (ok: boolean) => (ok ? t.settle(Outcome.Dropped)
      : t.settle(Outcome.Refused, new TiqError('TIQ_ERR_DECODE', { reason: 'private-mode command not understood' })));
    try {
      const ok = deps.onPrivateModeCommand(tenantId, deviceId, payload);
      if (typeof ok === 'boolean') return settle(ok);
      ok.then(settle, refuse);
    } catch (err) {
      refuse(err);
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
